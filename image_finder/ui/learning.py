"""What the window asks of the library's learning: save or refine a concept, adapt the
library to its pictures, switch between adapted and original features. The panels call these
plain methods; the work runs on the window's job runner (ui/workers.py, core/app/work.py),
queued behind indexing, and its events come back as these signals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from image_finder.core.app.jobs import Job, JobKind, JobState

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.learning.adapter import Adapter
    from image_finder.core.stores.library import Library
    from image_finder.ui.workers import JobBridge


class Learning(QObject):
    concept_learnt = Signal(object)  # concepts.Concept
    concept_progress = Signal(int, int)  # pictures from outside the library embedded, of total
    tune_progress = Signal(str, int, int)  # phase, done, total
    tune_done = Signal(object)  # adapter.TuneReport
    adapter_changed = Signal()
    failed = Signal(str)

    def __init__(self, library: Library, jobs: JobBridge, parent: QObject | None = None):
        super().__init__(parent)
        self.library = library
        self._jobs = jobs
        self._extractor: Extractor | None = None  # for pictures outside the library

    def concept_names(self) -> list[str]:
        return [c.name for c in self.library.side_data.concepts()]

    @property
    def adapter(self) -> Adapter | None:
        return self.library.adapter

    def save_concept(self, name: str, positives: list[int], negatives: list[int]) -> None:
        from image_finder.core.app.work import learn_work

        work = learn_work(self.library, name, positives, negatives)
        self._jobs.submit(JobKind.LEARN, work, self._on_learn_event)

    def save_concept_from_files(
        self,
        name: str,
        paths: list[str],
        positives: list[int] | None = None,
        negatives: list[int] | None = None,
    ) -> None:
        """A concept from pictures outside the library (files or folders of one's own), with
        library pictures ``positives`` and against ``negatives``."""
        from image_finder.core.app.work import learn_work

        work = learn_work(self.library, name, list(positives or []), list(negatives or []),
                          outside=list(paths), extractor=lambda: self._extractor)  # fmt: skip
        self._jobs.submit(JobKind.LEARN, work, self._on_learn_event)

    def set_extractor(self, extractor: Extractor) -> None:
        """The model, for pictures outside the library (set once it is loaded)."""
        self._extractor = extractor

    def update_concept(self, name: str, positives: list[int], negatives: list[int]) -> None:
        from image_finder.core.app.work import learn_work

        work = learn_work(self.library, name, positives, negatives, refine=True)
        self._jobs.submit(JobKind.LEARN, work, self._on_learn_event)

    def _on_learn_event(self, job: Job) -> None:
        if job.state is JobState.RUNNING and job.total:
            self.concept_progress.emit(job.done, job.total)
        elif job.state is JobState.DONE:
            self.concept_learnt.emit(job.result)
        elif job.state.finished:
            self.failed.emit(job.message)

    def tune(self, root: str = "") -> None:
        """Adapt to the sub-folders of ``root`` as labels (empty: the saved concepts)."""
        from image_finder.core.app.work import tune_work

        self._jobs.submit(JobKind.TUNE, tune_work(self.library, root=root), self._on_tune_event)

    def _on_tune_event(self, job: Job) -> None:
        if job.state is JobState.RUNNING and job.total:
            self.tune_progress.emit(job.phase, job.done, job.total)
        elif job.state.finished and job.result is not None:
            self.tune_done.emit(job.result)
            if job.result.applied:
                self.adapter_changed.emit()
        elif job.state.finished:
            self.failed.emit(job.message)

    def cancel_tuning(self) -> None:
        self._jobs.cancel((JobKind.TUNE,))

    def use_adapter(self, adapted: bool) -> None:
        from image_finder.core.app.work import features_work

        self._jobs.submit(JobKind.TUNE, features_work(self.library, adapted), self._on_use_event)

    def _on_use_event(self, job: Job) -> None:
        if job.state is JobState.FAILED:
            self.failed.emit(job.message)
        elif job.state.finished and job.result:
            self.adapter_changed.emit()
