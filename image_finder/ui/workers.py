"""Thin Qt workers around the core. They run in their own QThreads, emit signals and never
touch widgets: each slot is one core call and one emit.

* :class:`SearchWorker` loads the model, then answers queries through the core's one search
  route (:meth:`Searcher.search`). It is a reader, so searches keep working while the other
  worker indexes (each indexing batch commits in milliseconds, and training a new index
  happens outside every lock searches take).
* :class:`IndexWorker` is the only writer: it indexes and removes folders, holding the
  library's writer lock only while a job runs, so the command line can write in between. It
  embeds with its own :class:`Extractor` (``for_thread``) over the same weights.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.core.config.settings import Settings
from image_finder.core.indexing.indexer import IndexPhase, IndexProgress
from image_finder.core.search import examples

if TYPE_CHECKING:
    from image_finder.core.common.records import Item
    from image_finder.core.embedding.clip import ClipExtractor
    from image_finder.core.embedding.extractor import Extractor
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


class IndexWorker(QObject):
    progress = Signal(object)  # IndexProgress
    finished = Signal(object)  # IndexReport
    failed = Signal(str, object)  # message, the error's type
    remove_failed = Signal(str)
    library_changed = Signal(object, int)  # list[FolderInfo], image count
    pairs_ready = Signal(object)  # duplicates.Pairs
    pairs_progress = Signal(int, int)  # images compared, images in scope
    cleanup_done = Signal(object)  # cleanup.CleanupReport

    def __init__(self, library: Library) -> None:
        super().__init__()
        self.library = library
        self.extractor: Extractor | None = None
        self.clip: ClipExtractor | None = None  # keeps the library's text vectors up to date
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self._last_phase: IndexPhase | None = None

    def cancel(self) -> None:
        """Thread-safe: the running job stops after its current batch."""
        self._cancel.set()

    def _on_progress(self, progress: IndexProgress) -> None:
        now = time.monotonic()
        final = progress.total and progress.done >= progress.total
        new_phase = progress.phase is not self._last_phase
        if new_phase:  # a folder just added is listed from the start
            self._emit_library()
        if now - self._last_progress >= PROGRESS_INTERVAL or final or new_phase:
            self._last_progress = now
            self.progress.emit(progress)
            if progress.phase is IndexPhase.EMBEDDING:  # the counts follow the embedding
                self._emit_library()
        self._last_phase = progress.phase

    def _emit_library(self) -> None:
        self.library_changed.emit(self.library.folders(), self.library.count())

    @Slot(list, bool, object)
    def index(self, roots: list[str], rebuild: bool, batch: WatchBatch | None = None) -> None:
        """Index ``roots``; for a watched folder's ``batch``, what it saw still being written
        is left for a later batch."""
        from image_finder.core.indexing.indexer import index_folders

        self._cancel.clear()
        self._last_phase = None
        if self.extractor is None:
            self.failed.emit("The model is not loaded.", ImageFinderError)
            return
        try:
            report = index_folders(
                roots,
                self.library,
                self.extractor,
                progress=self._on_progress,
                cancelled=self._cancel.is_set,
                rebuild=rebuild,
                unsettled=batch.unsettled if batch else frozenset(),
                settle=batch.settle if batch else 0.0,
            )
        except ImageFinderError as exc:
            self._emit_library()
            self.failed.emit(str(exc), type(exc))
        except Exception as exc:
            log.exception("indexing failed")
            self._emit_library()
            self.failed.emit(f"Indexing failed: {exc}", type(exc))
        else:
            if self.clip is not None and not report.cancelled:
                self._index_text()
            self._emit_library()  # first, so that the library is current when the job ends
            self.finished.emit(report)

    def _index_text(self) -> None:
        """Bring the CLIP vector set along (resumes where a cancelled run stopped)."""
        from image_finder.core.app.models import index_words

        assert self.clip is not None
        try:
            index_words(
                self.library,
                self.clip,
                lambda done, total: self._on_progress(IndexProgress(IndexPhase.TEXT, done, total)),
                self._cancel.is_set,
            )
        except ImageFinderError as exc:
            log.warning("indexing for words failed: %s", exc)

    @Slot(object, object, float)
    def find_pairs(self, folders: list[str], reference: list[str], threshold: float) -> None:
        from image_finder.core.search.duplicates import Pairs, find_pairs

        self._cancel.clear()
        try:
            pairs = find_pairs(
                self.library,
                folders,
                reference=reference,
                threshold=threshold,
                progress=self.pairs_progress.emit,
                cancelled=self._cancel.is_set,
            )
        except ImageFinderError as exc:
            self.remove_failed.emit(str(exc))
            pairs = Pairs()
        except Exception as exc:
            log.exception("finding duplicates failed")
            self.remove_failed.emit(f"Finding duplicates failed: {exc}")
            pairs = Pairs()
        self.pairs_ready.emit(pairs)

    @Slot(object, str)
    def clean_up(self, items: list[Item], folder: str) -> None:
        """Move ``items`` to the trash (``folder`` empty) or into ``folder``."""
        from image_finder.core.indexing.cleanup import CleanupReport, move_images, trash_images

        try:
            if folder:
                report = move_images(self.library, items, folder)
            else:
                report = trash_images(self.library, items)
        except Exception as exc:
            log.exception("moving duplicates failed")
            self.remove_failed.emit(f"Moving the files failed: {exc}")
            report = CleanupReport()
        self._emit_library()
        self.cleanup_done.emit(report)

    @Slot(str)
    def remove_folder(self, path: str) -> None:
        try:
            self.library.remove_folders([path])
        except ImageFinderError as exc:
            self.remove_failed.emit(str(exc))
        except Exception as exc:
            log.exception("removing %s failed", path)
            self.remove_failed.emit(f"Removing the folder failed: {exc}")
        self._emit_library()
