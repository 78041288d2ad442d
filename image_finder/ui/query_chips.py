"""The parts of a query as chips above the results: its examples (thumbnail and name), the
pictures left out, its words and its conditions; each chip's ✕ takes that part away."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from image_finder.core.search.query import Query, QueryKind
from image_finder.ui.thumbnails import make_thumbnail

ICON = 28


def _icon(query: Query) -> QIcon | None:
    try:
        image = (
            QImage.fromData(query.data)
            if query.kind is QueryKind.IMAGE
            else make_thumbnail(query.path, ICON * 2)
        )
    except Exception:
        return None
    return QIcon(QPixmap.fromImage(image)) if image is not None and not image.isNull() else None


class QueryChips(QWidget):
    """Shown for a query of several parts (examples, left out, words with an image,
    conditions); hidden for a plain one, which the drop zone shows."""

    query_edited = Signal(object)  # the Query less the part removed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queryChips")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.chips: list[QToolButton] = []
        self.hide()

    def show_query(self, query: Query | None) -> None:
        for chip in self.chips:
            chip.deleteLater()
        self.chips = []
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        several = query is not None and (
            query.compound or query.conditions or (query.text and query.kind is not QueryKind.TEXT)
        )
        self.setVisible(bool(several))
        if not several or query is None:
            return
        self._layout.addWidget(QLabel("Searching with:"))
        removable = len(query.examples) > 1
        for n, part in enumerate(query.examples):
            edit = partial(query.without_example, n) if removable else None
            self._add(part.label, _icon(part), edit)
        for n, part in enumerate(query.unlike):
            self._add(f"not {part.label}", _icon(part), partial(query.without_unlike, n))
        if query.text and query.kind is not QueryKind.TEXT:
            self._add(f"“{query.text}”", None, query.without_words)
        for field, words in query.conditions.parts():
            self._add(words, None, partial(query.where, query.conditions.without(field)))
        self._layout.addStretch()

    def _add(self, text: str, icon: QIcon | None, remove: Callable[[], Query] | None) -> None:
        chip = QToolButton()
        chip.setObjectName("queryChip")
        chip.setText(f"{text}  ✕" if remove else text)
        chip.setAccessibleName(f"Remove {text} from the search" if remove else text)
        chip.setToolTip("Remove from the search" if remove else "")
        if icon is not None:
            chip.setIcon(icon)
            chip.setIconSize(QSize(ICON, ICON))
            chip.setToolButtonStyle(chip.toolButtonStyle().ToolButtonTextBesideIcon)
        if remove is not None:
            chip.clicked.connect(lambda: self.query_edited.emit(remove()))
        else:
            chip.setEnabled(False)
        self._layout.addWidget(chip)
        self.chips.append(chip)
