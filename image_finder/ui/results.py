"""The results grid: a list model over search results, a delegate that draws each tile, and an
icon-mode list view that drags files out to other applications."""

from __future__ import annotations

import enum
import html
import os
import re
from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPalette,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from image_finder.core.common.records import display_name
from image_finder.core.pictures.images import image_size
from image_finder.core.search.searcher import MatchKind, SearchResult
from image_finder.text import byte_size
from image_finder.ui.thumbnails import ThumbnailLoader

ScoreRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ItemIdRole = Qt.ItemDataRole.UserRole + 3
ThumbnailStateRole = Qt.ItemDataRole.UserRole + 4  # ThumbnailState
GreyMatchRole = Qt.ItemDataRole.UserRole + 5  # the colour original of a black-and-white query
MatchRole = Qt.ItemDataRole.UserRole + 6  # MatchKind: this image, identical, same picture
# where in its file a result is ("▶ 01:23", "p. 3"), or what a medical image is ("CT · +2
# slices"), drawn on its thumbnail; None for a photo
MomentRole = Qt.ItemDataRole.UserRole + 7
# the words written in a result that a words query found, those searched for in [brackets]
SnippetRole = Qt.ItemDataRole.UserRole + 8
SAME_PICTURE = MatchKind.SAME_PICTURE.label
MATCH_TIPS = {
    MatchKind.QUERY: "the image searched with",
    MatchKind.IDENTICAL: "a byte-for-byte copy of the image searched with",
    MatchKind.SAME_PICTURE: "the same picture, resized, re-encoded, mirrored or edited",
}

_Index = QModelIndex | QPersistentModelIndex


def badge(result: SearchResult) -> str | None:
    """What a result's thumbnail says of it beyond the picture: a video's moment ("▶ 01:23"),
    a page ("p. 3"), a medical image's modality, frame and other matching slices."""
    part, scan = result.item.part, result.scan
    words = [f"▶ {part.label}" if part.kind == "time" else part.label] if part else []
    if scan is not None:
        words.insert(0, scan.modality or "DICOM")
    if result.slices:
        words.append(f"+{len(result.slices)} slice{'s' if len(result.slices) > 1 else ''}")
    return " · ".join(words) or None


class ThumbnailState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ResultsModel(QAbstractListModel):
    """Search results, best first. Thumbnails load in the background and arrive through
    ``dataChanged``; results of an older search are ignored (generation token)."""

    def __init__(self, loader: ThumbnailLoader, thumbnail_size: int = 160, parent=None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._results: list[SearchResult] = []
        self._thumbs: dict[str, QPixmap] = {}
        self._failed: dict[str, str] = {}
        self._dims: dict[str, str] = {}
        self._generation = 0
        self.thumbnail_size = thumbnail_size
        self._placeholder = self._make_placeholder()
        loader.ready.connect(self._on_loader_ready)
        loader.failed.connect(self._on_loader_failed)

    def _make_placeholder(self) -> QPixmap:
        pixmap = QPixmap(self.thumbnail_size, self.thumbnail_size)
        pixmap.fill(QColor(128, 128, 128, 40))
        return pixmap

    # -- contents -----------------------------------------------------------------------------

    def set_results(self, results: Sequence[SearchResult]) -> None:
        self._generation += 1
        self._loader.clear()
        self.beginResetModel()
        self._results = list(results)
        self.snippets = any(r.text is not None for r in self._results)  # tiles take a line more
        self._thumbs.clear()
        self._failed.clear()
        self.endResetModel()
        for result in self._results:
            self._loader.request(
                self._generation, result.path, self.thumbnail_size, result.item.part
            )

    def set_thumbnail_size(self, size: int) -> None:
        if size != self.thumbnail_size:
            self.thumbnail_size = size
            self._placeholder = self._make_placeholder()
            self.set_results(self._results)

    def result(self, row: int) -> SearchResult:
        return self._results[row]

    def results(self) -> list[SearchResult]:
        return list(self._results)

    def thumbnails_pending(self) -> int:
        return sum(
            1 for r in self._results if r.path not in self._thumbs and r.path not in self._failed
        )

    def _on_loader_ready(self, generation: int, path: str, image: QImage) -> None:
        if generation != self._generation:
            return  # a thumbnail for an earlier search
        self._thumbs[path] = QPixmap.fromImage(image)
        self._emit_changed(path)

    def _on_loader_failed(self, generation: int, path: str, reason: str) -> None:
        if generation != self._generation:
            return
        self._failed[path] = reason
        self._emit_changed(path)

    def _emit_changed(self, path: str) -> None:
        for row, result in enumerate(self._results):
            if result.path == path:
                index = self.index(row)
                self.dataChanged.emit(
                    index, index, [Qt.ItemDataRole.DecorationRole, ThumbnailStateRole]
                )

    # -- Qt model API -------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._results)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._results):
            return None
        result = self._results[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(result.path, self._placeholder)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(result)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            match = f", {result.match.value}" if result.match is not MatchKind.NONE else ""
            return f"{result.item.label}, similarity {result.score:.2f}{match}"
        if role == ThumbnailStateRole:
            if result.path in self._thumbs:
                return ThumbnailState.READY
            return ThumbnailState.FAILED if result.path in self._failed else ThumbnailState.LOADING
        plain = {
            Qt.ItemDataRole.DisplayRole: result.item.filename,
            ScoreRole: result.score,
            GreyMatchRole: result.grey_match,
            MatchRole: result.match,
            PathRole: result.path,
            ItemIdRole: result.item.id,
            MomentRole: badge(result),
            SnippetRole: " ".join(result.text.snippet.split()) if result.text else None,
        }
        return plain.get(role)

    def _tooltip(self, result: SearchResult) -> str:
        path = result.path
        if path not in self._dims:
            item = result.item
            dims = (item.width, item.height) if item.width and item.height else image_size(path)
            self._dims[path] = f"{dims[0]} × {dims[1]} px" if dims else "size unknown"
        lines = [
            f"<b>{html.escape(result.item.label)}</b>",  # a name is text, never markup
            html.escape(display_name(path)),
            f"Similarity {result.score:.3f} · rank {result.rank}",
            f"{self._dims[path]} · {byte_size(result.item.size)}",
        ]
        if result.scan is not None:  # what a medical image shows of itself: never its patient
            facts = result.scan.to_json()
            shown = [facts["modality"], facts["body_part"], facts["study_date"], facts["series"]]
            lines.insert(2, " · ".join(html.escape(w) for w in shown if w))
        if result.text is not None:  # the words written in it, those searched for in bold
            said = html.escape(" ".join(result.text.snippet.split()))
            lines.insert(2, "Says: " + said.replace("[", "<b>").replace("]", "</b>"))
        if result.grey_match:
            lines.insert(
                2,
                f"<b>{SAME_PICTURE}</b>: its light and shade match the black-and-white query, "
                "so it is listed first",
            )
        elif result.match is not MatchKind.NONE:
            lines.insert(2, f"<b>{result.match.label}</b>: {MATCH_TIPS[result.match]}")
        if path in self._failed:
            lines.append(f"<i>Preview unavailable: {self._failed[path]}</i>")
        elif not os.path.exists(path):
            lines.append("<i>File is offline or was moved</i>")
        return "<br>".join(lines)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setUrls([QUrl.fromLocalFile(self._results[r].path) for r in rows])
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction


class ResultDelegate(QStyledItemDelegate):
    """Draws a tile: the thumbnail centred, the file name below it, the score on a badge."""

    PADDING = 6
    TEXT_LINES = 1

    EXCLUDE = 20  # the side of the hover button that leaves a result out

    def __init__(self, thumbnail_size: int, parent=None) -> None:
        super().__init__(parent)
        self.thumbnail_size = thumbnail_size
        self.excludes = True  # the ✕ is offered (not for a words query)

    def exclude_rect(self, rect: QRect) -> QRect:
        """Where a tile at ``rect`` shows its ✕ (*Not like this*): the thumbnail's lower right
        corner."""
        side = self.EXCLUDE
        right = rect.x() + self.PADDING + self.thumbnail_size - 4
        bottom = rect.y() + self.PADDING + self.thumbnail_size - 4
        return QRect(right - side, bottom - side, side, side)

    def _paint_exclude(self, painter: QPainter, rect: QRect) -> None:
        button = self.exclude_rect(rect)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawEllipse(button)
        painter.setPen(QColor("white"))
        painter.drawText(button, Qt.AlignmentFlag.AlignCenter, "✕")

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        lines = self.TEXT_LINES + (1 if getattr(index.model(), "snippets", False) else 0)
        text_height = option.fontMetrics.height() * lines + 4
        side = self.thumbnail_size + 2 * self.PADDING
        return QSize(side, side + text_height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        rect: QRect = option.rect
        palette: QPalette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            colour = palette.color(QPalette.ColorRole.Highlight)
            if not selected:
                colour.setAlpha(60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)

        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        target = area = QRect(
            rect.x() + self.PADDING,
            rect.y() + self.PADDING,
            self.thumbnail_size,
            self.thumbnail_size,
        )
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            scaled = pixmap.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            # standing on the caption, so that the name sits right under its picture
            target.moveCenter(area.center())
            target.moveBottom(area.bottom())
            painter.drawPixmap(target, pixmap)
        if index.data(ThumbnailStateRole) is ThumbnailState.FAILED:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, "No preview"
            )

        score = index.data(ScoreRole)
        if score is not None:
            self._paint_badges(painter, option, target, score, index.data(MatchRole))
        moment = index.data(MomentRole)
        if moment:
            self._paint_moment(painter, option, target, moment)
        if hovered and self.excludes:
            self._paint_exclude(painter, rect)

        painter.setFont(option.font)
        text_rect = QRect(
            rect.x() + 2, area.bottom() + 4, rect.width() - 4, option.fontMetrics.height()
        )
        name = option.fontMetrics.elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
            Qt.TextElideMode.ElideMiddle,
            text_rect.width(),
        )
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(palette.color(role))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        snippet = index.data(SnippetRole)
        if snippet:
            text_rect.translate(0, option.fontMetrics.height())
            self._paint_snippet(painter, option, text_rect, snippet)
        painter.restore()

    @staticmethod
    def _paint_snippet(
        painter: QPainter, option: QStyleOptionViewItem, rect: QRect, snippet: str
    ) -> None:
        """The words written in the picture, under its name: the searched ones bold, the
        line centred, cut with an ellipsis where the tile ends."""
        plain = QFont(option.font)
        plain.setPointSizeF(plain.pointSizeF() * 0.9)
        bold = QFont(plain)
        bold.setBold(True)
        pieces = [(p[1:-1], bold) if p.startswith("[") and p.endswith("]") else (p, plain)
                  for p in re.split(r"(\[[^\]]*\])", snippet) if p]  # fmt: skip
        widths = [QFontMetrics(font).horizontalAdvance(text) for text, font in pieces]
        if sum(widths) > rect.width() and len(pieces) > 1 and pieces[0][1] is plain:
            lead = "…"  # the words searched for first
            pieces[0] = (lead, plain)
            widths[0] = QFontMetrics(plain).horizontalAdvance(lead)
        x = rect.x() + max(0, (rect.width() - sum(widths)) // 2)
        painter.setPen(option.palette.color(QPalette.ColorRole.PlaceholderText))
        for (text, font), width in zip(pieces, widths, strict=True):
            painter.setFont(font)
            room = rect.right() - x
            if width > room:  # the last that fits, cut
                text = painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room)
                width = room
            place = QRect(x, rect.y(), width, rect.height())
            painter.drawText(place, Qt.AlignmentFlag.AlignLeft, text)
            x += width
            if x >= rect.right():
                break

    @staticmethod
    def _dark_badge(painter: QPainter, option: QStyleOptionViewItem, text: str) -> QRect:
        """A bold white label on a dark rounded badge, sized for ``text``; the caller places
        the returned rectangle (moveTo…) and then calls :meth:`_draw_dark`."""
        font = QFont(option.font)
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        return QRect(0, 0, metrics.horizontalAdvance(text) + 10, metrics.height() + 2)

    @staticmethod
    def _draw_dark(painter: QPainter, badge: QRect, text: str) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 165))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_moment(
        self, painter: QPainter, option: QStyleOptionViewItem, target: QRect, moment: str
    ) -> None:
        """Where the result is in its file ("▶ 01:23"), in the thumbnail's lower left corner."""
        text = moment
        badge = self._dark_badge(painter, option, text)
        badge.moveBottomLeft(target.bottomLeft())
        badge.translate(3, -3)
        self._draw_dark(painter, badge, text)

    def _paint_badges(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        target: QRect,
        score: float,
        match: MatchKind | None,
    ) -> None:
        """The score in the thumbnail's top right corner; "Same picture" beside it, or under it
        on a narrow picture (at the top either way, where the eye looks first)."""
        palette: QPalette = option.palette
        text = f"{score:.2f}"
        badge = self._dark_badge(painter, option, text)
        badge.moveTopRight(target.topRight())
        badge.translate(-3, 3)
        self._draw_dark(painter, badge, text)
        metrics = painter.fontMetrics()
        if match is not None and match is not MatchKind.NONE:
            label = match.label
            same = QRect(0, 0, metrics.horizontalAdvance(label) + 10, badge.height())
            same.moveTopLeft(target.topLeft())
            same.translate(3, 3)
            if same.right() > badge.left() - 2:  # a narrow picture: under the score, at the top
                same.moveTopRight(badge.bottomRight())
                same.translate(0, 2)
                if same.left() < target.left() + 3:
                    same.moveLeft(target.left() + 3)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(same, 4, 4)
            painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
            painter.drawText(same, Qt.AlignmentFlag.AlignCenter, label)


class ResultsView(QListView):
    """Icon-mode grid with uniform tiles, keyboard navigation and drag-out."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(4)
        self.setWrapping(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAccessibleName("Search results")

    zoom_requested = Signal(int)  # +1 larger thumbnails, -1 smaller
    exclude_requested = Signal(int)  # row: its ✕ (Not like this) was clicked

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        delegate = self.itemDelegate()
        if (
            index.isValid()
            and isinstance(delegate, ResultDelegate)
            and delegate.excludes
            and event.button() is Qt.MouseButton.LeftButton
            and delegate.exclude_rect(self.visualRect(index)).contains(event.position().toPoint())
        ):
            self.exclude_requested.emit(index.row())
            event.accept()
            return
        super().mousePressEvent(event)

    def fit_columns(self) -> None:
        """Spread the tiles over the whole width: as many columns as fit, the room left over
        shared between them (no empty strip at the right)."""
        delegate = self.itemDelegate()
        if not isinstance(delegate, ResultDelegate):
            return
        tile = delegate.sizeHint(self.viewOptions(), QModelIndex())
        # Qt lays a left-to-right grid out in the viewport's largest width less a vertical
        # scroll bar (shown or not) and one spacing: what does not fit there wraps
        bar = self.style().pixelMetric(
            QStyle.PixelMetric.PM_ScrollBarExtent, None, self.verticalScrollBar()
        )
        width = self.maximumViewportSize().width() - bar - 2 * self.spacing()
        columns = max(1, width // (tile.width() + 2 * self.spacing()))
        cell = QSize(width // columns, tile.height() + 2 * self.spacing())
        if cell != self.gridSize():
            self.setGridSize(cell)

    def viewOptions(self) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        return option

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.zoom_requested.emit(1 if delta > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)
