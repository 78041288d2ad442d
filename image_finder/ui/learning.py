"""What the window asks of the library's learning: save or refine a concept, adapt the
library to its pictures, switch between adapted and original features. The panels call these
plain methods; the work runs on the index thread (ui/learn_worker.py), queued behind indexing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from image_finder.ui.learn_worker import LearnWorker

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.learning.adapter import Adapter
    from image_finder.core.stores.library import Library


class Learning(QObject):
    _learn_requested = Signal(str, object, object, bool)
    _files_requested = Signal(str, object, object, object)
    _tune_requested = Signal(str)
    _use_requested = Signal(bool)

    concept_learnt = Signal(object)  # concepts.Concept
    concept_progress = Signal(int, int)  # pictures from outside the library embedded, of total
    tune_progress = Signal(str, int, int)  # phase, done, total
    tune_done = Signal(object)  # adapter.TuneReport
    adapter_changed = Signal()
    failed = Signal(str)

    def __init__(self, library: Library, thread: QThread, parent: QObject | None = None):
        super().__init__(parent)
        self.library = library
        self._worker = LearnWorker(library)
        self._worker.moveToThread(thread)
        thread.finished.connect(self._worker.deleteLater)
        self._learn_requested.connect(self._worker.learn_concept)
        self._files_requested.connect(self._worker.learn_from_files)
        self._worker.concept_progress.connect(self.concept_progress)
        self._tune_requested.connect(self._worker.tune)
        self._use_requested.connect(self._worker.use_adapter)
        self._worker.concept_learnt.connect(self.concept_learnt)
        self._worker.tune_progress.connect(self.tune_progress)
        self._worker.tune_done.connect(self.tune_done)
        self._worker.adapter_changed.connect(self.adapter_changed)
        self._worker.failed.connect(self.failed)

    def concept_names(self) -> list[str]:
        return [c.name for c in self.library.side_data.concepts()]

    @property
    def adapter(self) -> Adapter | None:
        return self.library.adapter

    def save_concept(self, name: str, positives: list[int], negatives: list[int]) -> None:
        self._learn_requested.emit(name, positives, negatives, False)

    def save_concept_from_files(
        self,
        name: str,
        paths: list[str],
        positives: list[int] | None = None,
        negatives: list[int] | None = None,
    ) -> None:
        """A concept from pictures outside the library (files or folders of one's own), with
        library pictures ``positives`` and against ``negatives``."""
        self._files_requested.emit(name, list(paths), list(positives or []), list(negatives or []))

    def set_extractor(self, extractor: Extractor) -> None:
        """The model, for pictures outside the library (set once it is loaded)."""
        self._worker.extractor = extractor

    def update_concept(self, name: str, positives: list[int], negatives: list[int]) -> None:
        self._learn_requested.emit(name, positives, negatives, True)

    def tune(self, root: str = "") -> None:
        """Adapt to the sub-folders of ``root`` as labels (empty: the saved concepts)."""
        self._tune_requested.emit(root)

    def cancel_tuning(self) -> None:
        self._worker.cancel()

    def use_adapter(self, adapted: bool) -> None:
        self._use_requested.emit(adapted)
