"""The *Matches* view: the pictures found in watched hash banks as they were indexed, newest
first, to review: each confirmed or dismissed, the decision kept in the library with who made
it (this window's user). The pictures themselves are never moved or changed here."""

from __future__ import annotations

import datetime
import getpass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from image_finder.core.app.banks import closeness, decide, recorded_matches
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import Part, display_name
from image_finder.core.stores.library import Library

COLUMNS = ("Found", "Picture", "Bank", "Label", "Signal", "Decision")
SHOWN = 500  # the newest matches listed


def who() -> str:
    """How a decision made in the window is signed: the window and the system user."""
    try:
        return f"window:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name to be had (a container)
        return "window"


class MatchesView(QDialog):
    """The recorded matches, with *Confirm* and *Dismiss* for the selected ones."""

    decided = Signal(int, str)  # match id, decision

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.setWindowTitle("Matches in watched banks")
        self.resize(900, 480)
        self.summary = QLabel()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # the picture's path
        self.table.verticalHeader().hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.confirm = buttons.addButton("Confirm", QDialogButtonBox.ButtonRole.ActionRole)
        self.dismiss = buttons.addButton("Dismiss", QDialogButtonBox.ButtonRole.ActionRole)
        self.confirm.setToolTip("These are the known pictures: keep the decision")
        self.dismiss.setToolTip("These are not: a false match")
        self.confirm.clicked.connect(lambda: self.decide("confirmed"))
        self.dismiss.clicked.connect(lambda: self.decide("dismissed"))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.matches: list[dict[str, Any]] = []
        self.reload()

    def reload(self) -> None:
        self.matches = recorded_matches(self.library, 0, SHOWN)
        self.table.setRowCount(len(self.matches))
        for row, match in enumerate(self.matches):
            part = match.get("part")
            where = f" {Part(part['kind'], part[Part.KINDS[part['kind']]]).label}" if part else ""
            found = datetime.datetime.fromtimestamp(match["found_at"]).strftime("%Y-%m-%d %H:%M")
            decision = match["decision"] or "to review"
            if match["decided_by"]:
                decision += f" ({match['decided_by']})"
            cells = (found, display_name(match["path"]) + where, match["bank"], match["label"],
                     closeness(match), decision)  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, match["id"])
                self.table.setItem(row, column, item)
        waiting = sum(1 for m in self.matches if not m["decision"])
        self.summary.setText(
            f"{len(self.matches):,} matches, {waiting:,} to review. The pictures are never moved "
            "or changed here."
            if self.matches
            else "No matches yet: pictures are checked against the banks marked watch as they "
            "are indexed (image-finder-cli bank create NAME --watch)."
        )
        self.confirm.setEnabled(bool(self.matches))
        self.dismiss.setEnabled(bool(self.matches))

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [int(self.matches[r]["id"]) for r in rows]

    def decide(self, decision: str) -> None:
        """Record ``decision`` for the selected matches, signed by this window's user."""
        for match_id in self.selected_ids():
            try:
                decide(self.library, match_id, decision, who())
            except ImageFinderError as exc:  # a library busy with another writer, say
                self.summary.setText(str(exc))
                return
            self.decided.emit(match_id, decision)
        self.reload()
