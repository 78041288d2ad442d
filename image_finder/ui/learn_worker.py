"""The thin worker that teaches the library: concepts learnt from a search session, and the
adapter tuned on labelled folders or concepts (core/learning/concepts.py, core/learning/adapter.py).

It lives on the index thread (see :class:`~image_finder.ui.learning.Learning`), so that its
writes queue behind indexing jobs instead of running beside them; each slot is one core call
under the writer lock, and one emit.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from image_finder.core.common.errors import ImageFinderError

if TYPE_CHECKING:
    from collections.abc import Callable

    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.learning.concepts import Concept
    from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)


class LearnWorker(QObject):
    concept_learnt = Signal(object)  # concepts.Concept
    concept_progress = Signal(int, int)  # pictures from outside the library embedded, of total
    tune_progress = Signal(str, int, int)  # phase, done, total
    tune_done = Signal(object)  # adapter.TuneReport
    adapter_changed = Signal()  # the vectors searched changed: search again
    failed = Signal(str)

    def __init__(self, library: Library) -> None:
        super().__init__()
        self.library = library
        self.extractor: Extractor | None = None  # set once the model is loaded
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Thread-safe: a tuning run stops at its next step, changing nothing."""
        self._cancel.set()

    @Slot(str, object, object, bool)
    def learn_concept(self, name: str, positives: list[int], negatives: list[int],
                      refine: bool) -> None:  # fmt: skip
        from image_finder.core.learning import concepts

        if refine:
            self._learn(name, lambda: concepts.refine(self.library, name, positives, negatives))
        else:
            self._learn(name, lambda: concepts.learn(self.library, name, positives, negatives))

    @Slot(str, object, object, object)
    def learn_from_files(self, name: str, paths: list[str], positives: list[int],
                         negatives: list[int]) -> None:  # fmt: skip
        """A concept from pictures (or folders) outside the library, with library pictures
        ``positives`` and against ``negatives``: the outside ones are embedded for the concept
        alone, never added to the library."""
        from image_finder.core.learning import concepts

        if self.extractor is None:
            self.failed.emit("The model is not loaded yet; try again in a moment.")
            return
        extractor = self.extractor

        def learn() -> Concept:
            outside, skipped = concepts.embed_outside(paths, extractor, self.concept_progress.emit)
            for problem in skipped:
                log.info("left out of the concept %r: %s: %s", name, problem.path, problem.reason)
            if not len(outside):
                raise ImageFinderError("None of those pictures could be read.")
            return concepts.learn(self.library, name, positives, negatives, outside=outside)

        self._learn(name, learn)

    def _learn(self, name: str, learn: Callable[[], Concept]) -> None:
        """Run ``learn`` under the writer lock; emit the concept, or why it failed."""
        try:
            with self.library.writing():
                concept = learn()
        except ImageFinderError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            log.exception("learning the concept %r failed", name)
            self.failed.emit(f"Learning the concept failed: {exc}")
        else:
            self.concept_learnt.emit(concept)

    @Slot(str)
    def tune(self, root: str) -> None:
        """Tune on the sub-folders of ``root`` (empty: on the saved concepts)."""
        from image_finder.core.learning import adapter

        self._cancel.clear()
        try:
            if root:
                labelled = adapter.labels_from_folders(self.library, root)
            else:
                labelled = adapter.labels_from_concepts(self.library, [])
            with self.library.writing():
                report = adapter.tune(self.library, labelled, progress=self.tune_progress.emit,
                                      cancelled=self._cancel.is_set)  # fmt: skip
        except ImageFinderError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:
            log.exception("tuning failed")
            self.failed.emit(f"Adapting the library failed: {exc}")
            return
        self.tune_done.emit(report)
        if report.applied:
            self.adapter_changed.emit()

    @Slot(bool)
    def use_adapter(self, adapted: bool) -> None:
        from image_finder.core.learning import adapter

        try:
            with self.library.writing():
                changed = adapter.use(self.library, adapted)
        except ImageFinderError as exc:
            self.failed.emit(str(exc))
            return
        if changed:
            self.adapter_changed.emit()
