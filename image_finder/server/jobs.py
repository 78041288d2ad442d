"""Jobs started through the API: the application layer's job runner (core/app/jobs.py) over
the served library, with each job's JSON carrying its URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from image_finder.core.app.jobs import Job, JobKind, JobRunner, JobState, Work
from image_finder.core.app.work import index_work, tune_work
from image_finder.core.common.errors import LibraryBusyError
from image_finder.server.errors import CATALOGUE_WRITES, ApiError

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.pictures.video import MomentRule
    from image_finder.core.stores.library import Library


def job_json(job: Job) -> dict[str, Any]:
    return {
        **job.to_json(),
        "url": f"/api/v1/jobs/{job.id}",
        "events": f"/api/v1/jobs/{job.id}/events",
    }


class JobManager:
    """The served library's jobs, one at a time; each can be cancelled (what it committed
    stays). A catalogue has none: its Ray job writes it (409)."""

    def __init__(
        self,
        library: Library | None,
        extractor: Callable[[], Extractor],
        moments: MomentRule | None = None,
        read_text: bool = False,
    ) -> None:
        self._library = library  # None: a catalogue, written only by its Ray job
        self._extractor = extractor
        self._moments = moments  # which frames of a video indexing keeps
        self._read_text = read_text  # then the text written in pictures
        self._runner = JobRunner(name="index-jobs")

    @property
    def library(self) -> Library:
        if self._library is None:
            raise ApiError(409, "catalogue", CATALOGUE_WRITES)
        return self._library

    def start(self, folders: list[str], rebuild: bool = False) -> Job:
        if self.library.writer_elsewhere():
            raise LibraryBusyError(
                "Another process is writing to the library (an indexing run elsewhere); "
                "try again when it is done."
            )
        work = index_work(self.library, self._extractor, folders, rebuild=rebuild,
                          moments=self._moments, read_text=self._read_text)  # fmt: skip
        return self._runner.submit(JobKind.INDEX, work, folders)

    def start_tune(self, labels: dict[str, list[int]]) -> Job:
        """Queue tuning an adapter on ``labels`` (label -> ids), measured and applied only if
        it helps (core/learning/adapter.py)."""
        return self._runner.submit(JobKind.TUNE, tune_work(self.library, labels))

    def run(self, kind: JobKind, work: Work) -> Any:
        """Run ``work`` in its turn among the jobs and wait for it: its result, or its error
        raised (a write the API answers once done: moving files to the trash, a concept)."""
        job = self._runner.run(kind, work)
        if job.error is not None:
            raise job.error
        if job.state is not JobState.DONE:
            raise ApiError(409, "cancelled", job.message)
        return job.result

    def get(self, job_id: str) -> Job | None:
        return self._runner.get(job_id)

    def jobs(self) -> list[Job]:
        return self._runner.jobs()

    @property
    def active(self) -> bool:
        return self._runner.active

    def cancel(self, job_id: str) -> Job | None:
        return self._runner.cancel(job_id)

    def close(self) -> None:
        self._runner.close()
