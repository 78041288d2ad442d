"""The Duplicates window: groups of duplicate pictures side by side, a suggested copy to keep,
and moving the others to the trash or a folder (with undo)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from image_finder import text
from image_finder.core.common.records import Item, display_name
from image_finder.core.indexing.cleanup import CleanupReport, restore_from_trash
from image_finder.core.search.duplicates import (
    DEFAULT_RULES,
    DEFAULT_THRESHOLD,
    SIMILAR_FLOOR,
    DuplicateGroup,
    KeepRule,
    Pairs,
    Tier,
    group_pairs,
)
from image_finder.ui.controller import Controller
from image_finder.ui.desktop import DesktopActions
from image_finder.ui.thumbnails import ThumbnailLoader

FLOOR = SIMILAR_FLOOR  # the lowest "similar" threshold the slider offers: pairs are found to it
THUMB = 72  # beside the name; the selected copy is shown large too
PREVIEW = 280  # px: the selected copy, large enough to compare copies by eye
PREVIEW_TOKEN = -1  # thumbnails asked for the preview, not for a group's rows
COLUMNS = ("", "Picture and folder", "Match", "Size and format", "Taken or modified")
PICTURE_COLUMN = 1
TIERS = (
    ("Identical files only", Tier.IDENTICAL),
    ("The same picture or video (resized, re-saved, re-encoded…)", Tier.SAME),
    ("Similar pictures too (bursts, edits)", Tier.SIMILAR),
)


def taken_or_modified(item: Item) -> str:
    """The EXIF date a camera wrote, else the file's modification time."""
    from PIL import Image

    try:
        with Image.open(item.path) as im:
            exif = im.getexif()
            taken = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
        if taken:
            return str(taken).replace(":", "-", 2)[:16]
    except Exception:
        pass  # unreadable or offline: the stored time says enough
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(item.mtime_ns / 1e9))


class DuplicatesWindow(QDialog):
    def __init__(
        self,
        controller: Controller,
        desktop: DesktopActions,
        qsettings: QSettings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Duplicates")
        self.controller = controller
        self.library = controller.library
        self.desktop = desktop
        self.qsettings = qsettings
        self.pairs = Pairs()
        self.groups: list[DuplicateGroup] = []
        self.choices: dict[int, bool] = {}  # copies the user checked (True) or unchecked
        self.last_trashed: list[str] = []
        self.reference: list[str] = []
        self.scope: list[str] = []  # folders to look in; empty: the whole library
        self.thumbnails = ThumbnailLoader(self)
        self.thumbnails.ready.connect(self._on_thumbnails_ready)
        self.thumbnails.failed.connect(self._on_thumbnails_failed)
        self._preview_path: str | None = None
        self._build()
        controller.duplicates_ready.connect(self._on_controller_duplicates_ready)
        controller.duplicates_progress.connect(self._on_controller_duplicates_progress)
        controller.cleanup_done.connect(self._on_controller_cleanup_done)
        self.resize(1300, 640)
        self.search()

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_options())
        layout.addLayout(self._build_rules())
        layout.addWidget(self._build_lists(), 1)
        self.summary = QLabel("Looking for duplicates…")
        layout.addWidget(self.summary)
        layout.addLayout(self._build_buttons())

    def _build_options(self) -> QHBoxLayout:
        self.tier = QComboBox()
        for label, tier in TIERS:
            self.tier.addItem(label, tier)
        self.tier.setCurrentIndex(2)
        self.tier.currentIndexChanged.connect(self.regroup)
        self.tier.currentIndexChanged.connect(self._update_threshold_enabled)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(round(FLOOR * 100), 100)
        self.threshold.setValue(round(DEFAULT_THRESHOLD * 100))
        self.threshold.setAccessibleName("Similar from")
        self.threshold.valueChanged.connect(self.regroup)
        self.threshold_value = QLabel()
        self.reference_button = QToolButton()
        self.reference_button.setText("Reference folders…")
        self.reference_button.setToolTip(
            "Compare the other folders against these; their pictures are always kept"
        )
        self.reference_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.reference_menu = QMenu(self)
        self.reference_menu.aboutToShow.connect(self._fill_reference_menu)
        self.reference_button.setMenu(self.reference_menu)
        self.scope_button = QToolButton()
        self.scope_button.setText("Look in…")
        self.scope_button.setToolTip("The folders to look for duplicates in (all by default)")
        self.scope_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.scope_menu = QMenu(self)
        self.scope_menu.aboutToShow.connect(self._fill_scope_menu)
        self.scope_button.setMenu(self.scope_menu)
        top = QHBoxLayout()
        for widget in (QLabel("Show:"), self.tier, QLabel("Similar from:")):
            top.addWidget(widget)
        top.addWidget(self.threshold, 1)
        top.addWidget(self.threshold_value)
        top.addWidget(self.scope_button)
        top.addWidget(self.reference_button)
        return top

    def _build_rules(self) -> QHBoxLayout:
        """The keeper rules, numbered in the order they apply; the default ones checked."""
        order = [*DEFAULT_RULES, *(r for r in KeepRule if r not in DEFAULT_RULES)]
        self.rules = {
            rule: QCheckBox(f"{n}. {rule.value}") for n, rule in enumerate(order, start=1)
        }
        keep = QHBoxLayout()
        label = QLabel("Keep the copy by, in order:")
        label.setToolTip(
            "The first rule that tells copies apart chooses the one to keep. “Largest file” is "
            "off by default: a re-saved copy (a PNG made from a JPEG) is often larger."
        )
        keep.addWidget(label)
        for rule, box in self.rules.items():
            box.setChecked(rule in DEFAULT_RULES)
            box.toggled.connect(self.regroup)
            keep.addWidget(box)
        keep.addStretch()
        return keep

    def _update_threshold_enabled(self, *args: object) -> None:
        similar = self.tier.currentData() is Tier.SIMILAR
        self.threshold.setEnabled(similar)
        self.threshold_value.setEnabled(similar)

    def _build_lists(self) -> QSplitter:
        self.group_list = QListWidget()
        self.group_list.setAccessibleName("Duplicate groups")
        self.group_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.group_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        # each group a card of its own: a line between groups, room around the text
        self.group_list.setAlternatingRowColors(True)
        self.group_list.setSpacing(2)
        self.group_list.setStyleSheet(
            "QListWidget::item { padding: 6px 4px; border-bottom: 1px solid palette(mid); }"
        )
        self.group_list.currentRowChanged.connect(self._show_group)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Copies in the group")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 8)
        self.table.setWordWrap(False)  # a long folder is elided in its middle, whole in its tip
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):  # the name and its folder take what is left
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PICTURE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.setIconSize(QPixmap(THUMB, THUMB).size())
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.table.itemSelectionChanged.connect(self._show_preview)
        self.preview = QLabel()
        self.preview.setAccessibleName("The selected copy, larger")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setWordWrap(True)
        self.preview.setMinimumWidth(160)
        split = QSplitter()
        split.addWidget(self.group_list)
        split.addWidget(self.table)
        split.addWidget(self.preview)
        split.setSizes([190, 800, PREVIEW])
        return split

    def _build_buttons(self) -> QHBoxLayout:
        self.trash_button = QPushButton("Move checked to trash")
        self.trash_button.clicked.connect(self.trash_checked)
        self.move_button = QPushButton("Move checked to folder…")
        self.move_button.clicked.connect(self.move_checked)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(lambda: self._on_selected(self.desktop.open_file))
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.clicked.connect(lambda: self._on_selected(self.desktop.reveal_file))
        self.undo_button = QPushButton("Undo last trash")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.reveal_button):
            buttons.addWidget(button)
        buttons.addStretch()
        for button in (self.undo_button, self.move_button, self.trash_button):
            buttons.addWidget(button)
        return buttons

    def _fill_reference_menu(self) -> None:
        self.reference_menu.clear()
        for folder in self.controller.folders:
            action = self.reference_menu.addAction(display_name(folder.path))
            action.setCheckable(True)
            action.setChecked(folder.path in self.reference)
            action.toggled.connect(lambda on, p=folder.path: self.set_reference(p, on))

    def _fill_scope_menu(self) -> None:
        self.scope_menu.clear()
        for folder in self.controller.folders:
            action = self.scope_menu.addAction(display_name(folder.path))
            action.setCheckable(True)
            action.setChecked(not self.scope or folder.path in self.scope)
            action.toggled.connect(lambda on, p=folder.path: self.set_scope(p, on))

    # -- finding and grouping -----------------------------------------------------------------

    def search(self) -> None:
        self.summary.setText("Looking for duplicates…")
        chosen = self.scope or [f.path for f in self.controller.folders]
        folders = [f for f in chosen if f not in self.reference]
        everything = not self.scope and not self.reference
        self.controller.housekeeping.find_duplicates(
            [] if everything else folders, self.reference, FLOOR
        )

    def set_scope(self, folder: str, on: bool) -> None:
        """Look in ``folder`` too (``on``) or not; all folders chosen means the whole library."""
        chosen = self.scope or [f.path for f in self.controller.folders]
        chosen = [f for f in chosen if f != folder] + ([folder] if on else [])
        everything = {f.path for f in self.controller.folders} <= set(chosen)
        self.scope = [] if everything else chosen
        self.search()

    def set_reference(self, folder: str, on: bool) -> None:
        self.reference = [f for f in self.reference if f != folder] + ([folder] if on else [])
        self.search()

    def _on_controller_duplicates_progress(self, done: int, total: int) -> None:
        self.summary.setText(f"Looking for duplicates… {done:,} of {total:,} images compared")

    def _on_controller_duplicates_ready(self, pairs: Pairs) -> None:
        self.pairs = pairs
        self.regroup()

    def regroup(self) -> None:
        """Group the pairs found again, for the kind, threshold and rules now chosen."""
        threshold = self.threshold.value() / 100
        self.threshold_value.setText(f"{threshold:.2f}")
        rules = [rule for rule, box in self.rules.items() if box.isChecked()]
        reference_ids = frozenset(
            i for folder in self.reference for i in self.library.ids_under(folder).tolist()
        )
        self.groups = group_pairs(
            self.library,
            self.pairs,
            min_tier=self.tier.currentData(),
            threshold=threshold,
            rules=rules,
            reference_ids=reference_ids,
        )
        row = max(0, self.group_list.currentRow())
        self.group_list.clear()
        for group in self.groups:
            name = display_name(os.path.basename(group.keep.path))
            entry = QListWidgetItem(
                f"{text.count(len(group.items), 'image')} · {group.tier.title}\n"
                f"{text.byte_size(group.reclaimable)} to free\n{name}"
            )
            entry.setToolTip(f"Keep: {display_name(group.keep.path)}")
            self.group_list.addItem(entry)
        self._update_summary()
        if self.groups:
            self.group_list.setCurrentRow(min(row, len(self.groups) - 1))
        else:
            self._show_group(-1)

    def is_checked(self, group: DuplicateGroup, item: Item) -> bool:
        """Checked for removal: the copies of the keeper unless unchecked; a picture only
        *similar* to it (a burst, a crop) only when the user checks it."""
        if item.id == group.keep.id or item.id in group.reference_ids:
            return False
        return self.choices.get(item.id, item in group.removable)

    def checked_items(self) -> list[Item]:
        """Every copy checked for removal, in every group (keepers and references never)."""
        return [i for g in self.groups for i in g.items if self.is_checked(g, i)]

    def _update_summary(self) -> None:
        checked = self.checked_items()
        if not self.groups:
            self.summary.setText("No duplicates found.")
        else:
            freed = sum(i.size for i in checked)
            self.summary.setText(
                f"{text.count(len(self.groups), 'group')} · "
                f"{text.count(len(checked), 'copy', 'copies')} checked · "
                f"{text.byte_size(freed)} to free"
            )
        self.trash_button.setEnabled(bool(checked))
        self.move_button.setEnabled(bool(checked))

    # -- one group ----------------------------------------------------------------------------

    def _show_group(self, row: int) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        if 0 <= row < len(self.groups):
            group = self.groups[row]
            self.table.setRowCount(len(group.items))
            for n, item in enumerate(group.items):
                self._fill_row(n, item, group)
                self.thumbnails.request(row, item.path, THUMB)
        self.table.blockSignals(False)
        self._show_preview()

    def _show_preview(self) -> None:
        """The selected copy (else the group's first) large, beside the table."""
        item = self._selected_item()
        self._preview_path = item.path if item is not None else None
        self.preview.clear()
        self.preview.setToolTip(display_name(item.path) if item is not None else "")
        if item is not None:
            self.preview.setText("Loading…")
            self.thumbnails.request(PREVIEW_TOKEN, item.path, PREVIEW)

    def _fill_row(self, n: int, item: Item, group: DuplicateGroup) -> None:
        check = QTableWidgetItem()
        check.setData(Qt.ItemDataRole.UserRole, item.id)
        keeper = item.id == group.keep.id
        reference = item.id in group.reference_ids
        if keeper or reference:
            check.setFlags(Qt.ItemFlag.ItemIsEnabled)
            check.setText("Keep" if keeper else "Reference")
        else:
            check.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            checked = self.is_checked(group, item)
            check.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        # the name on its first line, whole; the folder below it, elided in its middle
        picture = QTableWidgetItem(
            f"{display_name(os.path.basename(item.path))}\n"
            f"{text.home_path(os.path.dirname(item.path))}"
        )
        picture.setData(Qt.ItemDataRole.UserRole, display_name(os.path.basename(item.path)))
        picture.setToolTip(display_name(item.path))
        size = f"{item.width} × {item.height}" if item.width and item.height else "unknown"
        tier, score = group.relation(item)
        where = group.where(item)
        match = QTableWidgetItem(
            "the copy kept" if keeper else f"{tier.title_for(item)}{where} · {score:.2f}"
        )
        match.setToolTip(
            "The copy suggested to keep"
            if keeper
            else f"{tier.title_for(item).capitalize()} to the copy kept (score {score:.3f})"
        )
        cells = [
            check,
            picture,
            match,
            QTableWidgetItem(  # two short lines: the names need the width
                f"{size}\n{text.byte_size(item.size)} · "
                f"{os.path.splitext(item.path)[1].lstrip('.').upper()}"
            ),
            QTableWidgetItem(taken_or_modified(item)),
        ]
        for column, cell in enumerate(cells):
            if keeper:
                font = QFont(cell.font())
                font.setBold(True)
                cell.setFont(font)
            self.table.setItem(n, column, cell)

    def _on_thumbnails_ready(self, row: int, path: str, image: QImage) -> None:
        if row == PREVIEW_TOKEN:
            if path == self._preview_path:
                self.preview.setPixmap(QPixmap.fromImage(image))
            return
        if row != self.group_list.currentRow() or not 0 <= row < len(self.groups):
            return
        for n, item in enumerate(self.groups[row].items):
            cell = self.table.item(n, 1)
            if item.path == path and cell is not None:
                cell.setIcon(QIcon(QPixmap.fromImage(image)))

    def _on_thumbnails_failed(self, row: int, path: str, reason: str) -> None:
        if row == PREVIEW_TOKEN and path == self._preview_path:
            self.preview.setText(f"{display_name(os.path.basename(path))}: {reason}")

    def _on_table_item_changed(self, cell: QTableWidgetItem) -> None:
        if cell.column() != 0:
            return
        item_id = int(cell.data(Qt.ItemDataRole.UserRole))
        self.choices[item_id] = cell.checkState() == Qt.CheckState.Checked
        self._update_summary()

    def set_checked(self, row: int, checked: bool) -> None:
        """Check or uncheck the copy in ``row`` of the group shown (as a click does)."""
        cell = self.table.item(row, 0)
        if cell is not None and cell.flags() & Qt.ItemFlag.ItemIsUserCheckable:
            cell.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def _selected_item(self) -> Item | None:
        row = self.group_list.currentRow()
        if not 0 <= row < len(self.groups):
            return None
        rows = self.table.selectionModel().selectedRows()
        members = self.groups[row].items
        return members[rows[0].row()] if rows else members[0]

    def _on_selected(self, action: object) -> None:
        item = self._selected_item()
        if item is not None and callable(action):
            action(item.path)

    # -- cleaning up --------------------------------------------------------------------------

    def trash_checked(self) -> None:
        items = self.checked_items()
        if items:
            self._busy(True)
            self.controller.housekeeping.clean_up(items)

    def move_checked(self) -> None:
        items = self.checked_items()
        start = str(self.qsettings.value("duplicates/move_folder", ""))
        folder = QFileDialog.getExistingDirectory(self, "Move the checked copies to", start)
        if items and folder:
            self.qsettings.setValue("duplicates/move_folder", folder)
            self._busy(True)
            self.controller.housekeeping.clean_up(items, folder)

    def _busy(self, busy: bool) -> None:
        for button in (self.trash_button, self.move_button, self.undo_button):
            button.setEnabled(not busy)
        if busy:
            self.summary.setText("Moving the checked copies…")

    def _on_controller_cleanup_done(self, report: CleanupReport) -> None:
        gone = {i.id for i in report.done}
        self.pairs = dataclasses.replace(
            self.pairs,
            found={k: v for k, v in self.pairs.found.items() if not gone & set(k)},
        )
        if not report.target:
            self.last_trashed = [i.path for i in report.done]
        self._busy(False)
        self.regroup()
        where = "to the trash" if not report.target else f"to {display_name(report.target)}"
        message = f"Moved {text.count(len(report.done), 'file')} {where}."
        if report.skipped:
            first = report.skipped[0]
            message += (
                f" {text.count(len(report.skipped), 'file')} not moved: "
                f"{display_name(os.path.basename(first.path))} {first.reason}"
                + ("…" if len(report.skipped) > 1 else "")
            )
        self.summary.setText(message)
        self.undo_button.setEnabled(bool(self.last_trashed))

    def undo(self) -> None:
        """Put the files of the last trash move back and index them again."""
        restored = restore_from_trash(self.last_trashed)
        self.last_trashed = []
        self.undo_button.setEnabled(False)
        if not restored:
            self.summary.setText(
                "Nothing could be restored here: the system's trash can restore the files."
            )
            return
        folders = sorted({self._folder_of(p) for p in restored} - {""})
        self.controller.add_folders(folders)
        self.summary.setText(
            f"Restored {text.count(len(restored), 'file')}; they are indexed again."
        )
        self.controller.index_finished.connect(self._after_reindex)

    def _after_reindex(self, report: object) -> None:
        self.controller.index_finished.disconnect(self._after_reindex)
        self.search()

    def _folder_of(self, path: str) -> str:
        return next(
            (f.path for f in self.controller.folders if path.startswith(os.path.join(f.path, ""))),
            "",
        )

    def closeEvent(self, event: object) -> None:
        self.controller.housekeeping.cancel_duplicates()
        self.thumbnails.clear()
        self.thumbnails.wait(5000)
        super().closeEvent(event)  # type: ignore[arg-type]


def open_duplicates(
    controller: Controller,
    desktop: DesktopActions,
    qsettings: QSettings,
    parent: QWidget | None,
    existing: Sequence[DuplicatesWindow] = (),
) -> DuplicatesWindow:
    """The Duplicates window, raised if already open."""
    for window in existing:
        if window.isVisible():
            window.raise_()
            window.activateWindow()
            return window
    window = DuplicatesWindow(controller, desktop, qsettings, parent)
    window.show()
    return window
