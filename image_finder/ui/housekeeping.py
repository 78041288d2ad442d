"""What the window asks of the library's housekeeping: find the pairs of duplicates, move
chosen copies to the trash or into a folder, take a folder out of the library. The panels
call these plain methods; the work runs on the window's job runner (ui/workers.py,
core/app/work.py), queued behind indexing, and its events come back as these signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from image_finder.core.app.jobs import Job, JobKind, JobState

if TYPE_CHECKING:
    from image_finder.core.common.records import Item
    from image_finder.core.stores.library import Library
    from image_finder.ui.workers import JobBridge


class Housekeeping(QObject):
    duplicates_ready = Signal(object)  # duplicates.Pairs (empty when the search failed)
    duplicates_progress = Signal(int, int)  # images compared, images in scope
    cleanup_done = Signal(object)  # cleanup.CleanupReport
    library_touched = Signal()  # files or folders left the library: read it again
    failed = Signal(str)

    def __init__(self, library: Library, jobs: JobBridge, parent: QObject | None = None):
        super().__init__(parent)
        self.library = library
        self._jobs = jobs

    def find_duplicates(
        self, folders: Sequence[str] = (), reference: Sequence[str] = (), threshold: float = 0.8
    ) -> None:
        """Pairs of duplicates at ``threshold`` or more (a reader: indexing jobs wait their
        turn); ``duplicates_ready`` brings them."""
        from image_finder.core.app.work import duplicates_work

        work = duplicates_work(self.library, folders, reference, threshold)
        self._jobs.submit(JobKind.DUPLICATES, work, self._on_duplicates_event)

    def _on_duplicates_event(self, job: Job) -> None:
        from image_finder.core.search.duplicates import Pairs

        if job.state is JobState.RUNNING and job.total:
            self.duplicates_progress.emit(job.done, job.total)
        elif job.state.finished:
            if job.state is JobState.FAILED:
                self.failed.emit(job.message)
            self.duplicates_ready.emit(job.result if job.result is not None else Pairs())

    def cancel_duplicates(self) -> None:
        """Stop a duplicate search after the batch in flight (it reports what it found)."""
        self._jobs.cancel((JobKind.DUPLICATES,))

    def clean_up(self, items: Sequence[Item], folder: str = "") -> None:
        """Move the files of ``items`` to the trash, or into ``folder``; ``cleanup_done``."""
        from image_finder.core.app.work import cleanup_work

        work = cleanup_work(self.library, list(items), folder)
        self._jobs.submit(JobKind.CLEANUP, work, self._on_cleanup_event)

    def _on_cleanup_event(self, job: Job) -> None:
        from image_finder.core.indexing.cleanup import CleanupReport

        if job.state.finished:
            if job.state is JobState.FAILED:
                self.failed.emit(job.message)
            self.library_touched.emit()
            self.cleanup_done.emit(job.result if job.result is not None else CleanupReport())

    def remove_folder(self, folder: str) -> None:
        """Take ``folder`` out of the library (its files stay on disk)."""
        from image_finder.core.app.work import remove_work

        work = remove_work(self.library, [folder])
        self._jobs.submit(JobKind.REMOVE, work, self._on_remove_event, [folder])

    def _on_remove_event(self, job: Job) -> None:
        if job.state.finished:
            if job.state is JobState.FAILED:
                self.failed.emit(job.message)
            self.library_touched.emit()
