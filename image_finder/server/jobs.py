"""Jobs started through the API: indexing (the same ``index_folders`` the window and the
command line run) and tuning an adapter (``core.adapter.tune``); one at a time, in a thread of
their own."""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from image_finder.core.common.errors import ImageFinderError, LibraryBusyError
from image_finder.core.common.records import display_name
from image_finder.core.indexing.progress import IndexProgress
from image_finder.core.stores.library import Library
from image_finder.server.errors import CATALOGUE_WRITES, ApiError
from image_finder.text import index_summary, progress_line

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor

log = logging.getLogger(__name__)

KEEP_FINISHED = 50  # finished jobs kept for GET /jobs


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.CANCELLED, JobState.FAILED)


@dataclass
class Job:
    id: str
    folders: list[str]
    rebuild: bool = False
    state: JobState = JobState.QUEUED
    phase: str = ""
    done: int = 0
    total: int = 0
    rate: float = 0.0
    eta_seconds: float | None = None
    message: str = ""
    report: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    finished_at: float | None = None
    version: int = 0  # bumped at every change: event streams send what is new
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    kind: str = "index"  # or "tune"
    labels: dict[str, list[int]] | None = None  # a tune job's labelled pictures

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "folders": [display_name(f) for f in self.folders],
            "state": self.state.value,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "rate": round(self.rate, 2),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "message": self.message,
            "report": self.report,
            "url": f"/api/v1/jobs/{self.id}",
            "events": f"/api/v1/jobs/{self.id}/events",
        }


class JobManager:
    """Runs index jobs in order, one at a time; each can be cancelled (what it committed
    stays)."""

    def __init__(self, library: Library | None, extractor: Callable[[], Extractor]) -> None:
        self._library = library  # None: a catalogue, written only by its Ray job
        self._extractor = extractor
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="index-jobs", daemon=True)
        self._thread.start()

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
        with self._lock:
            job = Job(str(next(self._ids)), folders, rebuild)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._lock.notify_all()
        return job

    def start_tune(self, labels: dict[str, list[int]]) -> Job:
        """Queue tuning an adapter on ``labels`` (label -> ids), measured and applied only if
        it helps (core/learning/adapter.py)."""
        _ = self.library  # a catalogue is not tuned here: 409
        with self._lock:
            job = Job(str(next(self._ids)), [], kind="tune", labels=labels)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._lock.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def active(self) -> bool:
        return any(not j.state.finished for j in self._jobs.values())

    def cancel(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.state.finished:
            return job
        job.cancel_requested.set()
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                self._finish(job, JobState.CANCELLED, "Cancelled before it started.")
        return job

    def close(self) -> None:
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                job.cancel_requested.set()
            self._lock.notify_all()
        self._thread.join(timeout=30)

    def _finish(self, job: Job, state: JobState, message: str) -> None:
        job.state, job.message, job.finished_at = state, message, time.time()
        job.eta_seconds = None
        job.version += 1
        finished = [j for j in self._jobs.values() if j.state.finished]
        for old in finished[:-KEEP_FINISHED]:
            del self._jobs[old.id]

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job = self._queue.pop(0)
                job.state = JobState.RUNNING
                job.version += 1
            self._run_job(job)

    def _run_tune(self, job: Job) -> None:
        from image_finder.core.learning import adapter

        def progress(phase: str, done: int, total: int) -> None:
            job.phase, job.done, job.total = phase, done, total
            job.message = f"{phase.capitalize()}: {done:,} of {total:,}"
            job.version += 1

        assert job.labels is not None
        try:
            with self.library.writing():
                report = adapter.tune(self.library, job.labels, progress=progress,
                                      cancelled=job.cancel_requested.is_set)  # fmt: skip
        except ImageFinderError as exc:
            with self._lock:
                self._finish(job, JobState.FAILED, str(exc))
            return
        except Exception as exc:
            log.exception("tune job %s failed", job.id)
            with self._lock:
                self._finish(job, JobState.FAILED, f"Tuning failed: {exc}")
            return
        job.report = report.to_json()
        figures = f"held-out mAP@R {report.map_before:.3f} → {report.map_after:.3f}"
        with self._lock:
            if report.cancelled:
                self._finish(job, JobState.CANCELLED, "Cancelled; nothing changed.")
            elif report.applied:
                self._finish(job, JobState.DONE, f"Applied: {figures}.")
            else:
                self._finish(job, JobState.DONE, f"Not applied: {report.reason}.")

    def _run_job(self, job: Job) -> None:
        from image_finder.core.indexing.indexer import index_folders

        if job.kind == "tune":
            self._run_tune(job)
            return

        def progress(p: IndexProgress) -> None:
            job.phase, job.done, job.total = p.phase.value, p.done, p.total
            job.rate, job.eta_seconds = p.images_per_second, p.eta_seconds
            job.message = progress_line(p)
            job.version += 1

        try:
            report = index_folders(
                job.folders,
                self.library,
                self._extractor(),
                progress=progress,
                cancelled=job.cancel_requested.is_set,
                rebuild=job.rebuild,
            )
        except ImageFinderError as exc:
            with self._lock:
                self._finish(job, JobState.FAILED, str(exc))
            return
        except Exception as exc:
            log.exception("index job %s failed", job.id)
            with self._lock:
                self._finish(job, JobState.FAILED, f"Indexing failed: {exc}")
            return
        job.report = report.to_json()
        with self._lock:
            state = JobState.CANCELLED if report.cancelled else JobState.DONE
            self._finish(job, state, index_summary(report))
