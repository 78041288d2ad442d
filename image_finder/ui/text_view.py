"""The text read in a result, to read, select and copy: *Text in it…* in the results' menu
opens it (the text kept in the library when the picture was indexed)."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from image_finder.core.app.text import PartText, stored_text
from image_finder.core.search.results import SearchResult
from image_finder.core.stores.store import Store

SOURCES = {
    "layer": "The document's own text (its text layer).",
    "read": "Read in the picture; a word or two may be misread.",
}


class TextDialog(QDialog):
    """A result's text, selectable, with *Copy all*."""

    def __init__(self, label: str, text: PartText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Text in {label}")
        self.resize(560, 420)
        about = SOURCES.get(text.source, "")
        if text.cut:
            about += " Reading it took too long: some of it was left unread."
        self.about = QLabel(about)
        self.about.setWordWrap(True)
        self.view = QPlainTextEdit(text.text)
        self.view.setReadOnly(True)  # still selectable and copyable
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy all", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy_all)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.view.toPlainText())


def add_text_entry(menu: QMenu, parent: QWidget, store: Store, result: SearchResult) -> None:
    """*Text in it…*, where the result's picture says something."""
    found = stored_text(store, result.item.id)
    if found is None or not found.text.strip():
        return
    menu.addAction("Text in it…", lambda: TextDialog(result.item.label, found, parent).open())
