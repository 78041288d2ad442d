"""The moments of the video a result is of, in a strip under the results: each one's frame
and time; a double-click searches with that moment."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from image_finder.core.common.records import Item
from image_finder.ui.thumbnails import ThumbnailLoader

STRIP_THUMBNAIL = 96
CELL = QSize(STRIP_THUMBNAIL + 16, STRIP_THUMBNAIL + 28)  # a moment: its frame, its time


class Filmstrip(QListWidget):
    moment_chosen = Signal(object)  # the moment's Item: search with it

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("filmstrip")
        self.setAccessibleName("Moments of this video")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(STRIP_THUMBNAIL, STRIP_THUMBNAIL))
        self.setGridSize(CELL)
        self.setFixedHeight(STRIP_THUMBNAIL + 48)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setToolTip("Double-click a moment to search with it")
        self._loader = ThumbnailLoader(self)
        self._loader.ready.connect(self._on_loader_ready)
        self._generation = 0
        self._path: str | None = None
        self.itemDoubleClicked.connect(
            lambda entry: self.moment_chosen.emit(entry.data(Qt.ItemDataRole.UserRole))
        )
        self.hide()

    @property
    def video(self) -> str | None:
        """The video whose moments are shown (None: hidden)."""
        return self._path

    def show_video(self, moments: Sequence[Item], current: Item | None = None) -> None:
        """Show ``moments`` (one video's, in time order), ``current`` selected; none: hide."""
        self._generation += 1
        self._loader.clear()
        self.clear()
        self._path = moments[0].path if moments else None
        if not moments:
            self.hide()
            return
        for moment in moments:
            assert moment.part is not None
            entry = QListWidgetItem(moment.part.label)
            entry.setData(Qt.ItemDataRole.UserRole, moment)
            entry.setToolTip(moment.label)
            entry.setSizeHint(CELL)  # before its picture comes
            self.addItem(entry)
            if current is not None and moment.id == current.id:
                self.setCurrentItem(entry)
            self._loader.request(self._generation, moment.path, STRIP_THUMBNAIL, moment.part,
                                 key=moment.id)  # fmt: skip
        self.show()

    def _on_loader_ready(self, generation: int, key: object, image: QImage) -> None:
        if generation != self._generation:
            return
        for row in range(self.count()):
            entry = self.item(row)
            if entry.data(Qt.ItemDataRole.UserRole).id == key:
                entry.setIcon(QPixmap.fromImage(image))

    def pending(self) -> bool:
        return self.isVisible() and any(self.item(r).icon().isNull() for r in range(self.count()))
