"""Text in pictures in the window: with reading on, a search by the words written in a
picture finds it, and its tooltip says them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.core.pictures.test_text_reading import receipt
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
    tip = window.search_panel.results_model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Says: Hotel <b>Adler</b>" in tip
