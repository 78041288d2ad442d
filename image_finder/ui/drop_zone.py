"""The query area: drop image files, paste an image, or click to browse."""

from __future__ import annotations

import logging
import os
import sys
import urllib.parse

from PySide6.QtCore import QMimeData, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QKeyEvent, QMouseEvent, QPixmap
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from image_finder.core.pictures.images import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

EMPTY_TEXT = "Drop an image here, paste one (Ctrl+V), or click to browse"
IMAGE_FILTER = "Images ({})".format(" ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)))


def local_path(url: QUrl) -> str:
    """The file a ``file:`` URL names. File managers percent-encode the name's bytes, which
    need not be UTF-8; decoding them as the file system does keeps such names reachable."""
    if sys.platform == "win32":
        return url.toLocalFile()
    encoded = url.path(QUrl.ComponentFormattingOption.FullyEncoded)
    return os.fsdecode(urllib.parse.unquote_to_bytes(encoded))


class DropZone(QFrame):
    """Emits ``file_chosen(path)`` for a dropped or browsed file and ``image_pasted(QImage)``
    for image data. Shows the query's thumbnail, or an inline message."""

    file_chosen = Signal(object)  # str; not Signal(str): a QString would mangle undecodable names
    image_pasted = Signal(QImage)
    several_dropped = Signal(object, int)  # the file used, how many others were left out

    THUMB = 96
    COMPACT_THUMB = 56

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumHeight(self.THUMB + 20)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(
            "Drop an image file, paste an image with Ctrl+V, or click (or press Enter) to "
            "choose a file"
        )
        self.setAccessibleName("Query image")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable with Tab
        self.last_folder = ""  # where the Open dialog starts (remembered by the window)

        self.thumbnail = QLabel()
        self._side = self.THUMB
        self.thumbnail.setFixedSize(QSize(self.THUMB, self.THUMB))
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.hide()
        self.title = QLabel(EMPTY_TEXT)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.message = QLabel()
        self.message.setObjectName("dropZoneMessage")
        self.message.setWordWrap(True)
        self.message.hide()

        text = QVBoxLayout()
        text.addStretch()
        text.addWidget(self.title)
        text.addWidget(self.message)
        text.addStretch()
        layout = QHBoxLayout(self)
        layout.addWidget(self.thumbnail)
        layout.addLayout(text, 1)
        self._set_highlight(False)

    # -- display ------------------------------------------------------------------------------

    def set_compact(self, compact: bool) -> None:
        """Once a query is shown the zone needs little room: the results get it."""
        side = self.COMPACT_THUMB if compact else self.THUMB
        self.thumbnail.setFixedSize(QSize(side, side))
        self.setMinimumHeight(side + 16)
        self._side = side

    def show_query(self, image: QImage | None, label: str) -> None:
        self.message.hide()
        self.set_compact(bool(label))
        if image is not None and not image.isNull():
            pixmap = QPixmap.fromImage(image).scaled(
                self._side,
                self._side,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.thumbnail.setPixmap(pixmap)
            self.thumbnail.show()
        else:  # words, or a file that cannot be shown
            self.thumbnail.hide()
        another = "an image" if image is None else "another image"  # words: no image yet
        self.title.setText(
            f"<b>{label}</b><br><small>Drop, paste or click for {another}</small>"
            if label
            else EMPTY_TEXT
        )

    def show_message(self, text: str, *, error: bool = True) -> None:
        """A line under the query: an error in red, or a note (why the query waits)."""
        self.message.setStyleSheet("color: #c0392b;" if error else "font-style: italic;")
        self.message.setText(text)
        self.message.show()

    def clear_message(self) -> None:
        self.message.hide()

    def _set_highlight(self, on: bool) -> None:
        border = "palette(highlight)" if on else "palette(mid)"
        self.setStyleSheet(
            f"#dropZone {{ border: 2px dashed {border}; border-radius: 8px; }}"
            " #dropZone:focus { border: 2px solid palette(highlight); }"
        )

    # -- input --------------------------------------------------------------------------------

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose an image to search with", self.last_folder, IMAGE_FILTER
        )
        if path:
            self.last_folder = os.path.dirname(path)
            self.file_chosen.emit(path)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.browse()
        else:
            super().keyPressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.browse()
        super().mouseReleaseEvent(event)

    @staticmethod
    def _usable(mime: QMimeData) -> bool:
        return mime.hasImage() or any(url.isLocalFile() for url in mime.urls())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._usable(event.mimeData()):
            self._set_highlight(True)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._set_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_highlight(False)
        if self.accept_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def accept_mime(self, mime: QMimeData) -> bool:
        """Use dropped or pasted data: the first local file, else image data."""
        files = [local_path(url) for url in mime.urls() if url.isLocalFile()]
        if files:
            self.file_chosen.emit(files[0])
            if len(files) > 1:
                self.several_dropped.emit(files[0], len(files) - 1)
            return True
        if mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.image_pasted.emit(image)
                return True
        if mime.hasText() or mime.urls():
            self.show_message("That is not an image file. Drop or paste an image.")
        else:
            self.show_message("The clipboard holds no image.")
        return False
