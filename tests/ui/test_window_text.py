"""Text in pictures in the window: with reading on, a search by the words written in a
picture finds it, and its tooltip says them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QStyleOptionViewItem

from image_finder.ui.results import SnippetRole
from image_finder.ui.text_view import TextDialog
from tests.core.pictures.test_text_reading import LINES, receipt
from tests.ui.window_helpers import index_and_wait, results, wait_results
from tests.videos import photo

pytest.importorskip("rapidocr")


def test_words_written_in_a_picture_find_it(qtbot, make_window, settings, tmp_path):
    settings.read_text = True
    media = tmp_path / "Pictures"
    media.mkdir()
    receipt().save(media / "receipt.png")
    photo("coffee").save(media / "coffee.jpg")
    window = make_window()
    index_and_wait(qtbot, window, media)
    qtbot.waitUntil(lambda: not window.controller.indexing, timeout=60_000)
    window.search_panel.words.setText("adler")
    window.search_panel.words.returnPressed.emit()
    wait_results(qtbot, window)
    assert results(window)[0][0] == "receipt.png"
    model = window.search_panel.results_model
    tip = model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Says: Hotel <b>Adler</b>" in tip
    assert "Hotel [Adler]" in model.index(0).data(SnippetRole)  # drawn under the thumbnail
    view, delegate = window.search_panel.results_view, window.search_panel.delegate
    option = QStyleOptionViewItem()
    option.initFrom(view)
    taller = delegate.sizeHint(option, model.index(0)).height()

    menu = window.search_panel.context_menu(0)  # the detail: its text, to select and copy
    entry = next(a for a in menu.actions() if a.text() == "Text in it…")
    entry.trigger()
    dialog = window.search_panel.findChild(TextDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.view.toPlainText().splitlines() == list(LINES)
    assert dialog.view.isReadOnly() and "Read in the picture" in dialog.about.text()
    dialog.copy_all()
    assert QGuiApplication.clipboard().text().splitlines() == list(LINES)
    dialog.reject()

    window.search_panel.search_file(str(media / "coffee.jpg"))  # a search by a picture
    wait_results(qtbot, window)
    assert all(model.index(r).data(SnippetRole) is None for r in range(model.rowCount()))
    assert delegate.sizeHint(option, model.index(0)).height() < taller  # no line for words
    coffee = [name for name, _ in results(window)].index("coffee.jpg")
    entries = [a.text() for a in window.search_panel.context_menu(coffee).actions()]
    assert "Text in it…" not in entries  # a photo that says nothing
