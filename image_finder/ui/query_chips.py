"""The parts of a query as chips above the results: its examples (thumbnail and name), the
pictures left out, its words and its conditions; each chip's ✕ takes that part away."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QLayout, QLayoutItem, QSizePolicy, QToolButton, QWidget

from image_finder.core.search.query import Query, QueryKind
from image_finder.ui.thumbnails import make_thumbnail

ICON = 28
LABEL_CHARS = 32  # a longer name is cut short (the tooltip has it whole)


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


class FlowLayout(QLayout):
    """Lays its widgets out in rows that wrap at the available width (Qt's flow layout
    example): however many parts a query has, the chips never widen the window."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:  # the widest single chip, never their sum
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _arrange(self, rect: QRect, move: bool) -> int:
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        x, y, row_height = area.x(), area.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            width = min(hint.width(), area.width())
            if x > area.x() and x + width > area.right() + 1:  # wrap to the next row
                x, y = area.x(), y + row_height + self.spacing()
                row_height = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), QSize(width, hint.height())))
            x += width + self.spacing()
            row_height = max(row_height, hint.height())
        return y + row_height - rect.y() + margins.bottom()


class QueryChips(QWidget):
    """Shown for a query of several parts (examples, left out, words with an image,
    conditions); hidden for a plain one, which the drop zone shows."""

    query_edited = Signal(object)  # the Query less the part removed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queryChips")
        self._layout = FlowLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
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

    def _add(self, text: str, icon: QIcon | None, remove: Callable[[], Query] | None) -> None:
        chip = QToolButton()
        chip.setObjectName("queryChip")
        shown = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
        chip.setText(f"{shown}  ✕" if remove else shown)
        chip.setAccessibleName(f"Remove {text} from the search" if remove else text)
        chip.setToolTip(f"{text}: remove from the search" if remove else text)
        if icon is not None:
            chip.setIcon(icon)
            chip.setIconSize(QSize(ICON, ICON))
            chip.setToolButtonStyle(chip.toolButtonStyle().ToolButtonTextBesideIcon)
        if remove is not None:
            chip.clicked.connect(lambda: self.query_edited.emit(remove()))
        else:  # the query's only example: shown as it is, not greyed out as if unavailable
            chip.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._layout.addWidget(chip)
        self.chips.append(chip)
