"""Thin Qt workers around the core. They run in their own QThreads, emit signals and never
touch widgets: each slot is one core call and one emit.

* :class:`SearchWorker` loads the model, then answers queries through the core's one search
  route (:meth:`Searcher.search`). It is a reader, so searches keep working while the other
  worker indexes (each indexing batch commits in milliseconds, and training a new index
  happens outside every lock searches take).
* :class:`JobBridge` holds the window's job runner, the only writer: indexing, removing
  folders, duplicates, clean-up and learning, each holding the library's writer lock only
  while it runs, so the command line can write in between. Indexing embeds with its own
  :class:`Extractor` (``for_thread``) over the same weights.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot

from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.core.config.settings import Settings
from image_finder.core.search import examples

if TYPE_CHECKING:
    from image_finder.core.app.jobs import Job, JobKind, JobState, Work
    from image_finder.core.embedding.clip import ClipExtractor
    from image_finder.core.indexing.watch import WatchBatch
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # at most ~10 progress signals a second


class SearchWorker(QObject):
    model_loaded = Signal(object)  # Extractor
    model_failed = Signal(str)
    results_ready = Signal(int, object)  # generation, SearchOutcome
    search_failed = Signal(int, str, object)  # generation, message, the error's type

    def __init__(self, library: Library) -> None:
        super().__init__()
        self.library = library
        self.searcher: Searcher | None = None
        self.clip: ClipExtractor | None = None  # set before model_loaded is emitted
        self._latest = 0

    def supersede(self, generation: int) -> None:
        """Called from the GUI thread: requests older than ``generation`` are skipped."""
        self._latest = generation

    @Slot(object, bool)
    def load_model(self, settings: Settings, replace_library_model: bool = False) -> None:
        """Load the models the application layer picks for the library and settings; a CLIP
        model that cannot be had is said in the model's notice (words search ImageNet's
        classes)."""
        from image_finder.core.app.models import ModelRequest, load_models
        from image_finder.core.search.searcher import Searcher

        request = ModelRequest(replace_library_model=replace_library_model)
        try:
            models = load_models(self.library, settings, request)
        except ImageFinderError as exc:
            self.model_failed.emit(str(exc))
            return
        extractor = models.extractor
        extractor.notice = " ".join(models.notices) or None
        self.clip = models.clip
        self.searcher = Searcher(self.library, extractor, self.clip)
        self.model_loaded.emit(extractor)
        threading.Thread(target=examples.warm_up, name="warm-up", daemon=True).start()

    @Slot(int, object, object)
    def search(self, generation: int, query: Query, options: SearchOptions) -> None:
        if generation < self._latest:
            return  # the user has already asked for something newer
        if self.searcher is None:
            self.search_failed.emit(generation, "The model is not loaded yet.", ImageFinderError)
            return
        try:
            outcome = self.searcher.search(query, options)
        except ImageLoadError as exc:
            self.search_failed.emit(generation, f"{query.label}: {exc.reason}", type(exc))
        except ImageFinderError as exc:
            self.search_failed.emit(generation, str(exc), type(exc))
        except Exception as exc:
            log.exception("search failed")
            self.search_failed.emit(generation, f"The search failed: {exc}", type(exc))
        else:
            self.results_ready.emit(generation, outcome)


class JobBridge(QObject):
    """The window's job runner (core/app/jobs.py): indexing, watched folders' batches,
    duplicates, clean-up, learning and removing folders run on it one at a time, as they do for
    the server and the command line. Its events come to the GUI thread, each to the handler
    the job was submitted with; progress at most ~10 times a second."""

    _heard = Signal(object)  # a copy of the job as it was, emitted in the runner's thread

    def __init__(self, parent: QObject | None = None) -> None:
        from image_finder.core.app.jobs import JobRunner

        super().__init__(parent)
        self._handlers: dict[str, Callable[[Job], None]] = {}
        self._last: dict[str, tuple[float, str, JobState]] = {}  # when, phase, state said last
        self._closed = False
        # queued even when emitted in the GUI thread (by submit): the handler is known by then
        self._heard.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.runner = JobRunner(self._listen, name="window-jobs")

    def submit(self, kind: JobKind, work: Work, handler: Callable[[Job], None],
               folders: Sequence[str] = (), *, first: bool = False) -> Job:  # fmt: skip
        job = self.runner.submit(kind, work, folders, first=first)
        self._handlers[job.id] = handler
        return job

    def submit_watch(self, batch: WatchBatch, work: Callable[[WatchBatch], Work],
                     handler: Callable[[Job], None]) -> Job:  # fmt: skip
        """A watched folder's changes, merged into a watch job still waiting."""
        job = self.runner.submit_watch(batch, work)
        self._handlers[job.id] = handler
        return job

    def cancel(self, kinds: Sequence[JobKind], *, queued_only: bool = False) -> None:
        """Cancel the jobs of ``kinds`` (``queued_only``: not the one running)."""
        from image_finder.core.app.jobs import JobState

        for job in self.runner.jobs():
            if job.kind in kinds and (not queued_only or job.state is JobState.QUEUED):
                self.runner.cancel(job.id)

    def close(self) -> None:
        """Cancel every job and wait for the one running to stop; no event is handled after."""
        self._closed = True
        self.runner.close()

    def _listen(self, job: Job) -> None:
        from image_finder.core.app.jobs import JobState

        now = time.monotonic()
        last = self._last.get(job.id)
        progress_only = (
            last is not None and job.state is JobState.RUNNING and last[2] is JobState.RUNNING
            and last[1] == job.phase and not (job.total and job.done >= job.total)
        )  # fmt: skip
        if progress_only and last is not None and now - last[0] < PROGRESS_INTERVAL:
            return
        self._last[job.id] = (now, job.phase, job.state)
        if job.state.finished:
            self._last.pop(job.id, None)
        self._heard.emit(copy.copy(job))

    @Slot(object)
    def _deliver(self, job: Job) -> None:
        if self._closed:
            return
        handler = self._handlers.get(job.id)
        if job.state.finished:
            self._handlers.pop(job.id, None)
        if handler is not None:
            handler(job)
