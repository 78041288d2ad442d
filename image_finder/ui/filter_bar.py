"""A compact bar of conditions that narrow the search (date taken, minimum size, format,
orientation, photos or videos, a video's length, folder), folded away until *Filters* is
pressed, with the number of images that match."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from PySide6.QtCore import QDate, QDateTime, QTime, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from image_finder.core.common.records import display_name
from image_finder.core.search.conditions import Conditions, FactCache, Orientation
from image_finder.core.stores.library import Library
from image_finder.text import home_path

ANY_DATE = QDate(1900, 1, 1)
FORMATS = [("Any format", ""), ("JPEG", "jpeg"), ("PNG", "png"), ("HEIC", "heic"),
           ("WebP", "webp"), ("RAW", "raw"), ("TIFF", "tiff"), ("GIF", "gif")]  # fmt: skip
KINDS = [("Everything", ""), ("Photos only", "photo"), ("Videos only", "video"),
         ("Pages only", "page"), ("Medical images only", "medical")]  # fmt: skip
ORIENTATIONS = [("Any orientation", None), ("Landscape", Orientation.LANDSCAPE),
                ("Portrait", Orientation.PORTRAIT), ("Square", Orientation.SQUARE)]  # fmt: skip


def _combo(name: str, choices: list[tuple[str, str]]) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for label, value in choices:
        combo.addItem(label, value)
    return combo


def _modality_edit() -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName("modality")
    edit.setPlaceholderText("modality: CT, MR")
    edit.setAccessibleName("Medical images of these modalities (CT, MR…)")
    edit.setMaximumWidth(130)
    return edit


def _date_edit(name: str) -> QDateEdit:
    edit = QDateEdit()
    edit.setObjectName(name)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(ANY_DATE)
    edit.setSpecialValueText("any")  # shown at the minimum date: no condition
    edit.setDate(ANY_DATE)
    return edit


def _size_box(name: str, what: str) -> QSpinBox:
    box = QSpinBox()
    box.setObjectName(name)
    box.setRange(0, 100_000)
    box.setSingleStep(100)
    box.setSuffix(" px")
    box.setSpecialValueText(f"any {what}")
    box.setAccessibleName(f"Minimum {what} in pixels")
    return box


class FilterBar(QWidget):
    changed = Signal(object, object)  # Conditions, folder (str or None)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self._facts = FactCache()
        self._quiet = False
        self.toggle = QToolButton()
        self.toggle.setText("Filters")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Narrow the search by date, size, format, orientation, folder")
        self.after, self.before = _date_edit("takenAfter"), _date_edit("takenBefore")
        self.after.setAccessibleName("Taken on or after")
        self.before.setAccessibleName("Taken on or before")
        self.min_width, self.min_height = (
            _size_box("minWidth", "width"),
            _size_box("minHeight", "height"),
        )
        self.format = QComboBox()
        for label, fmt in FORMATS:
            self.format.addItem(label, fmt)
        self.orientation = QComboBox()
        for label, orientation in ORIENTATIONS:
            self.orientation.addItem(label, orientation)
        self.kind = _combo("kind", KINDS)
        self.min_length = QSpinBox()
        self.min_length.setObjectName("minLength")
        self.min_length.setRange(0, 24 * 3600)
        self.min_length.setSingleStep(10)
        self.min_length.setSuffix(" s")
        self.min_length.setSpecialValueText("any length")
        self.min_length.setAccessibleName("Videos at least this long, in seconds")
        self.min_length.setToolTip("Only videos at least this long")
        self.modality = _modality_edit()
        self.folder = QComboBox()
        self.clear = QPushButton("Clear")
        self.count = QLabel()
        self.count.setObjectName("filterCount")

        self.bar = QWidget()
        row = QHBoxLayout(self.bar)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("Taken"), self.after, QLabel("to"), self.before, self.min_width,
                       self.min_height, self.format, self.orientation, self.kind,
                       self.min_length, self.modality, self.folder):  # fmt: skip
            row.addWidget(widget)
        row.addWidget(self.clear)
        row.addStretch()
        row.addWidget(self.count)
        self.bar.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)

        self.toggle.toggled.connect(self.bar.setVisible)
        self.toggle.toggled.connect(self._on_toggle_toggled)
        for edit in (self.after, self.before):
            edit.dateChanged.connect(self._emit)
        for box in (self.min_width, self.min_height, self.min_length):
            box.valueChanged.connect(self._emit)
        for combo in (self.format, self.orientation, self.kind, self.folder):
            combo.currentIndexChanged.connect(self._emit)
        self.modality.editingFinished.connect(self._emit)
        self.clear.clicked.connect(self.reset)
        self.refresh_folders()

    def _on_toggle_toggled(self, shown: bool) -> None:
        if shown:
            self.refresh_folders()

    # -- what is set -----------------------------------------------------------------------------

    def conditions(self) -> Conditions:
        def day(edit: QDateEdit, end: bool) -> float | None:
            if edit.date() == ANY_DATE:
                return None
            time = QTime(23, 59, 59) if end else QTime(0, 0)
            return float(QDateTime(edit.date(), time).toSecsSinceEpoch())

        fmt = self.format.currentData()
        return Conditions(
            taken_after=day(self.after, False),
            taken_before=day(self.before, True),
            min_width=self.min_width.value() or None,
            min_height=self.min_height.value() or None,
            formats=frozenset({fmt}) if fmt else frozenset(),
            orientation=self.orientation.currentData(),
            kind=self.kind.currentData() or "",
            min_duration=float(self.min_length.value()) or None,
            modalities=frozenset(
                m.strip().upper() for m in self.modality.text().split(",") if m.strip()
            ),
        )

    def folder_path(self) -> str | None:
        return self.folder.currentData() or None

    def show_conditions(self, conditions: Conditions, folder: str | None) -> None:
        """Follow the query shown (Back/Forward, a chip removed) without searching again."""
        self._quiet = True
        try:
            for edit, value in ((self.after, conditions.taken_after),
                                (self.before, conditions.taken_before)):  # fmt: skip
                day = datetime.fromtimestamp(value) if value else None
                edit.setDate(QDate(day.year, day.month, day.day) if day else ANY_DATE)
            self.min_width.setValue(conditions.min_width or 0)
            self.min_height.setValue(conditions.min_height or 0)
            fmt = next(iter(conditions.formats), "")
            self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
            self.orientation.setCurrentIndex(
                max(0, self.orientation.findData(conditions.orientation))
            )
            self.kind.setCurrentIndex(max(0, self.kind.findData(conditions.kind)))
            self.min_length.setValue(round(conditions.min_duration or 0))
            self.modality.setText(", ".join(sorted(conditions.modalities)))
            self.folder.setCurrentIndex(max(0, self.folder.findData(folder or "")))
        finally:
            self._quiet = False
        self._update_count()

    def reset(self) -> None:
        self.show_conditions(Conditions(), None)
        self._emit()

    def refresh_folders(self) -> None:
        current = self.folder_path()
        self._quiet = True
        try:
            self.folder.clear()
            self.folder.addItem("All folders", "")
            for info in self.library.folders():
                self.folder.addItem(home_path(display_name(info.path)), info.path)
            self.folder.setCurrentIndex(max(0, self.folder.findData(current or "")))
        finally:
            self._quiet = False
        self._update_count()

    # -- reacting --------------------------------------------------------------------------------

    def _emit(self, *args: object) -> None:
        if self._quiet:
            return
        self._update_count()
        self.changed.emit(self.conditions(), self.folder_path())

    def _update_count(self) -> None:
        conditions, folder = self.conditions(), self.folder_path()
        total = self.library.count()
        if not conditions and not folder:
            self.count.setText(f"{total:,} images")
            return
        matching = self._facts.matching(self.library, conditions)
        if folder:
            under = self.library.ids_under(folder)
            matching = np.intersect1d(matching, under)
        self.count.setText(f"{len(matching):,} of {total:,} images match")
