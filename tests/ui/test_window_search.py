"""The window: dropping, pasting and typing a query, and the results it shows."""

from __future__ import annotations

import os

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QGuiApplication, QImage

from image_finder.core.config.settings import Settings
from image_finder.core.indexing.indexer import IndexPhase
from image_finder.ui.controller import ModelState
from image_finder.ui.results import (
    GreyMatchRole,
    PathRole,
    ThumbnailState,
    ThumbnailStateRole,
)
from image_finder.ui.search_panel import NO_QUERY_TEXT
from tests.ui.window_helpers import drop_files, index_and_wait, results, wait_results


def test_dropped_files_search_with_the_first_and_show_sorted_results(qtbot, make_window, photos):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    drop_files(window, photos / "coffee.jpg", photos / "rocket.jpg")
    wait_results(qtbot, window)
    found = results(window)
    assert len(found) == window.search_panel.top_k.value() == 5
    assert found[0][0] == "coffee.jpg" and found[0][1] >= 0.99
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    assert window.search_panel.stack.currentIndex() == 1
    assert "coffee.jpg" in window.search_panel.drop_zone.title.text()
    assert "Search:" in window.status_search.text()
    # thumbnails fill in
    qtbot.waitUntil(
        lambda: window.search_panel.results_model.thumbnails_pending() == 0, timeout=30_000
    )
    assert (
        window.search_panel.results_model.index(0).data(ThumbnailStateRole) is ThumbnailState.READY
    )
    tooltip = window.search_panel.results_model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert str(photos / "coffee.jpg") in tooltip and "px" in tooltip


def test_top_k_and_min_score_change_the_results(qtbot, make_window, photos):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    window.search_panel.top_k.setValue(3)
    qtbot.waitUntil(lambda: window.search_panel.results_model.rowCount() == 3, timeout=30_000)
    window.search_panel.min_score_value.setValue(0.99)
    qtbot.waitUntil(lambda: window.search_panel.results_model.rowCount() == 1, timeout=30_000)
    assert results(window)[0][0] == "coffee.jpg"


def test_paste_from_clipboard(qtbot, make_window, photos):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    QGuiApplication.clipboard().setImage(QImage(str(photos / "rocket.jpg")))
    window.paste_action.trigger()
    wait_results(qtbot, window)
    assert results(window)[0][0] == "rocket.jpg"
    assert "Pasted image" in window.search_panel.drop_zone.title.text()


def test_non_image_drop_shows_a_message_and_nothing_breaks(qtbot, make_window, photos, tmp_path):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    note = tmp_path / "notes.jpg"
    note.write_text("shopping list")
    drop_files(window, note)
    qtbot.waitUntil(lambda: window.search_panel.drop_zone.message.isVisible(), timeout=30_000)
    assert "not an image" in window.search_panel.drop_zone.message.text()
    mime = QMimeData()
    mime.setText("hello")
    assert not window.search_panel.drop_zone.accept_mime(mime)
    assert "not an image" in window.search_panel.drop_zone.message.text()
    # a good query afterwards still works
    drop_files(window, photos / "rocket.jpg")
    wait_results(qtbot, window)
    assert not window.search_panel.drop_zone.message.isVisible()


def test_find_similar_then_back_and_forward(qtbot, make_window, photos):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    first = results(window)
    row = 2
    chosen = first[row][0]
    window.search_panel.search_row(row)
    qtbot.waitUntil(lambda: results(window) and results(window)[0][0] == chosen, timeout=30_000)
    assert window.back_action.isEnabled() and not window.forward_action.isEnabled()
    window.back_action.trigger()
    qtbot.waitUntil(lambda: results(window) == first, timeout=30_000)
    assert window.forward_action.isEnabled()
    window.forward_action.trigger()
    qtbot.waitUntil(lambda: results(window)[0][0] == chosen, timeout=30_000)


def test_results_model_passes_the_model_tester(qtbot, qtmodeltester, make_window, photos):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    qtmodeltester.check(window.search_panel.results_model, force_py=True)
    mime = window.search_panel.results_model.mimeData([window.search_panel.results_model.index(0)])
    assert mime.urls()[0].toLocalFile() == str(photos / "coffee.jpg")


def test_a_missing_query_file_says_so(qtbot, make_window, photos, tmp_path):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(tmp_path / "gone.jpg"))
    assert window.search_panel.drop_zone.message.isVisible()
    assert "gone.jpg" in window.search_panel.drop_zone.message.text()
    assert window.search_panel.results_model.rowCount() == 0


def test_the_grid_can_repaint_for_a_long_session(qtbot, make_window, photos):
    """Painting a tile must not leak references (a binding bug that once crashed the app after a
    few minutes of scrolling)."""
    import sys

    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    qtbot.waitUntil(
        lambda: window.search_panel.results_model.thumbnails_pending() == 0, timeout=30_000
    )
    viewport = window.search_panel.results_view.viewport()
    viewport.grab()
    before = sys.getrefcount(None)
    for _ in range(200):
        viewport.grab()
    assert sys.getrefcount(None) >= before - 100


def test_each_awkward_file_dropped_gives_results_or_a_readable_message(
    qtbot, make_window, tmp_path
):
    from tests import corpus

    expected = corpus.build(tmp_path / "mess")
    window = make_window()
    index_and_wait(qtbot, window, tmp_path / "mess")
    for name, verdict in sorted(expected.items()):
        window.search_panel.results_model.set_results([])
        drop_files(window, tmp_path / "mess" / name)
        qtbot.waitUntil(lambda: not window.controller.searching, timeout=30_000)
        if verdict == "ok":
            assert window.search_panel.results_model.rowCount() > 0, name
            assert not window.search_panel.drop_zone.message.isVisible(), name
        else:
            message = window.search_panel.drop_zone.message.text()
            assert window.search_panel.drop_zone.message.isVisible() and message, name
            assert "Traceback" not in message and "Error" not in message.split(":")[0]


def test_a_file_name_that_is_not_utf8_gets_its_thumbnail(qtbot, make_window, tmp_path):
    from tests import corpus

    folder = tmp_path / "old-disk"
    folder.mkdir()
    name = os.fsdecode(corpus.NON_UTF8_NAME)
    Image.new("RGB", (50, 40), (200, 100, 0)).save(folder / name, "JPEG")
    window = make_window()
    index_and_wait(qtbot, window, folder)
    drop_files(window, folder / name)
    wait_results(qtbot, window)
    assert window.search_panel.results_model.result(0).path == str(folder / name)
    qtbot.waitUntil(
        lambda: window.search_panel.results_model.thumbnails_pending() == 0, timeout=30_000
    )
    assert (
        window.search_panel.results_model.index(0).data(ThumbnailStateRole) is ThumbnailState.READY
    )


def test_a_black_and_white_copy_shows_its_colour_original_first(
    qtbot, make_window, photos, tmp_path
):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    grey = tmp_path / "old print.png"
    Image.open(photos / "chelsea.jpg").convert("L").save(grey)
    window.search_file(str(grey))
    wait_results(qtbot, window)
    first = window.search_panel.results_model.index(0)
    assert first.data(PathRole) == str(photos / "chelsea.jpg")
    assert first.data(GreyMatchRole) is True
    assert window.search_panel.results_model.index(1).data(GreyMatchRole) is False
    assert "Same picture" in first.data(Qt.ItemDataRole.ToolTipRole)
    assert "same picture" in first.data(Qt.ItemDataRole.AccessibleTextRole)


def test_match_strength_is_readable(qtbot, make_window, photos, tmp_path):
    import numpy as np

    from image_finder.core.search.searcher import MatchKind
    from image_finder.ui.results import MatchRole

    (photos / "coffee copy.jpg").write_bytes((photos / "coffee.jpg").read_bytes())
    window = make_window()
    index_and_wait(qtbot, window, photos)
    panel = window.search_panel
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    first, second = panel.results_model.index(0), panel.results_model.index(1)
    assert first.data(MatchRole) is MatchKind.QUERY
    assert second.data(MatchRole) is MatchKind.IDENTICAL
    assert "Identical" in second.data(Qt.ItemDataRole.ToolTipRole)
    assert not panel.weak_label.isVisible()
    # "find similar to this" on the copy: the copy is marked as the image itself
    panel.search_row(1)
    qtbot.waitUntil(lambda: panel.results_model.index(0).data(PathRole).endswith("copy.jpg"))
    assert panel.results_model.index(0).data(MatchRole) is MatchKind.QUERY
    # a query like nothing in the library
    noise = tmp_path / "noise.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(noise)
    window.search_file(str(noise))
    qtbot.waitUntil(lambda: panel.weak_label.isVisible(), timeout=30_000)
    assert panel.results_model.rowCount() > 0
    assert panel.weak_label.text() == "No close matches; the closest are:"


def test_the_grid_uses_the_window(qtbot, make_window, photos):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QStyle

    window = make_window()
    window.resize(1100, 720)
    index_and_wait(qtbot, window, photos)
    zone = window.search_panel.drop_zone
    qtbot.waitUntil(lambda: zone.height() > 0)
    before = zone.minimumHeight()
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    assert zone.minimumHeight() < before  # compact once a query is shown

    view = window.search_panel.results_view
    for width in (1100, 900):
        window.resize(width, 720)
        qtbot.waitUntil(lambda: view.gridSize().width() > 0)
        qtbot.wait(50)
        columns = view.viewport().width() // view.gridSize().width()
        spare = view.viewport().width() - columns * view.gridSize().width()
        bar = view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        # no empty strip: what is left is at most the room Qt keeps for a scroll bar
        assert columns >= 3 and spare < bar + columns + 2 * view.spacing() + 1

    window.resize(640, 480)
    qtbot.waitUntil(lambda: not window.library_panel.isVisible())
    assert window.width() == 640 and not window.library_action.isChecked()
    assert window.search_panel.min_score.width() >= 60
    window.resize(1100, 720)
    qtbot.waitUntil(lambda: window.library_panel.isVisible())

    size = window.search_panel.delegate.thumbnail_size
    wheel = QWheelEvent(QPointF(20, 20), QPointF(20, 20), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    view.wheelEvent(wheel)
    assert window.search_panel.delegate.thumbnail_size == size + 16
    assert Settings.load().thumbnail_size == size + 16
    window.smaller_action.trigger()
    assert window.search_panel.results_model.thumbnail_size == size


def test_a_query_pasted_into_an_empty_library_runs_once_a_folder_is_indexed(
    qtbot, make_window, photos
):
    window = make_window()
    panel = window.search_panel
    QGuiApplication.clipboard().setImage(QImage(str(photos / "rocket.jpg")))
    window.paste_action.trigger()
    qtbot.waitUntil(lambda: panel.drop_zone.message.isVisible(), timeout=30_000)
    assert "library is empty" in panel.drop_zone.message.text()
    with qtbot.waitSignal(window.controller.index_finished, timeout=120_000):
        window.add_folders([str(photos)])
        # while the folder is indexed, the query says it waits (not that the library is empty)
        qtbot.waitUntil(lambda: window.controller.indexing)
        assert panel.drop_zone.message.text().startswith("Indexing…")
        assert panel.empty_title.text() == "The search runs when indexing has finished"
    qtbot.waitUntil(lambda: not window.controller.indexing)
    wait_results(qtbot, window)
    assert results(window)[0][0] == "rocket.jpg"
    assert not panel.drop_zone.message.isVisible()
    assert panel.stack.currentIndex() == 1
    assert "Pasted image" in panel.drop_zone.title.text()


def test_a_bad_query_keeps_the_last_good_one_on_screen(qtbot, make_window, photos, tmp_path):
    window = make_window()
    panel = window.search_panel
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    shown = results(window)
    note = tmp_path / "notes.jpg"
    note.write_text("shopping list")
    drop_files(window, note)
    qtbot.waitUntil(lambda: panel.drop_zone.message.isVisible(), timeout=30_000)
    assert "notes.jpg" in panel.drop_zone.message.text()
    assert results(window) == shown
    assert "coffee.jpg" in panel.drop_zone.title.text()
    assert not panel.drop_zone.thumbnail.isHidden()
    window.back_action.trigger()  # the bad query is not a step in the history
    assert not window.back_action.isEnabled()


def test_type_a_word_see_its_pictures_then_back_to_the_image(qtbot, make_window, photos):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    panel = window.search_panel
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    image_results = results(window)

    qtbot.keyClicks(panel.words, "ca")
    completions = panel.words.completer().completionModel()
    shown = {completions.index(r, 0).data() for r in range(completions.rowCount())}
    assert "cat" in shown and "car" in shown  # the words that work are offered
    panel.words.clear()
    qtbot.keyClicks(panel.words, "cat")
    qtbot.keyClick(panel.words, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: results(window) and results(window)[0][0] == "chelsea.jpg")
    assert "cat" in panel.drop_zone.title.text() and not panel.drop_zone.thumbnail.isVisible()
    assert not panel.weak_label.isVisible()

    panel.words.setText("dgo")
    qtbot.keyClick(panel.words, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.drop_zone.message.isVisible(), timeout=30_000)
    assert "not a word this model knows" in panel.drop_zone.message.text()
    assert "dog" in panel.drop_zone.message.text()
    assert results(window)[0][0] == "chelsea.jpg"  # the last good results stay
    assert panel.words.text() == "dgo"  # what was typed stays, to be corrected
    panel.words.setText("dog")
    qtbot.keyClick(panel.words, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not panel.drop_zone.message.isVisible(), timeout=30_000)

    window.back_action.trigger()
    qtbot.waitUntil(lambda: results(window) == image_results, timeout=30_000)
    window.back_action.trigger()
    qtbot.waitUntil(lambda: results(window) == image_results, timeout=30_000)
    assert panel.words.text() == ""  # an image search shows no words
    window.forward_action.trigger()
    qtbot.waitUntil(lambda: results(window)[0][0] == "chelsea.jpg", timeout=30_000)
    assert panel.words.text() == "cat"


def test_an_old_error_goes_when_the_next_search_starts(qtbot, make_window, photos, tmp_path):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    window.search_file(str(broken))
    panel = window.search_panel
    qtbot.waitUntil(lambda: panel.drop_zone.message.isVisible(), timeout=30_000)
    assert "broken.jpg" in panel.drop_zone.message.text()
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    assert not panel.drop_zone.message.isVisible()


def test_with_clip_any_words_and_an_image_changed_by_words(
    qtbot, make_window, photos, settings, tiny_clip
):
    """CLIP chosen in Settings: the window loads it, indexes the pictures for words after the
    folder, and then searches any phrase, or the image shown with words."""
    import dataclasses

    from tests.conftest import TINY_CLIP

    window = make_window()
    chosen = dataclasses.replace(
        settings, text_model=TINY_CLIP.name, text_weights=tiny_clip.weights_source
    )
    window.apply_settings(chosen)
    qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
    phases = []
    window.controller.index_progress.connect(lambda p: phases.append(p.phase))
    index_and_wait(qtbot, window, photos)
    assert IndexPhase.TEXT in phases and window.controller.clip_ready
    n = len(list(photos.iterdir()))
    assert window.library.text_counts() == (n, n)

    panel = window.search_panel
    panel.words.setText("a dog on a beach at sunset")
    qtbot.keyClick(panel.words, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.controller.last_outcome is not None, timeout=30_000)
    wait_results(qtbot, window)
    assert window.controller.last_outcome.model == TINY_CLIP.name
    assert panel.words.completer() is None  # any words work: no list of known ones

    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    qtbot.waitUntil(lambda: panel.with_image.isVisible())
    panel.with_image.setChecked(True)
    panel.words.setText("at night")
    qtbot.keyClick(panel.words, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            window.controller.shown_query is not None
            and window.controller.shown_query.text == "at night"
        ),
        timeout=30_000,
    )
    assert "coffee.jpg + “at night”" in panel.drop_zone.title.text()
    assert window.controller.last_outcome.model == TINY_CLIP.name


def test_five_results_lie_in_one_row_where_five_fit(qtbot, make_window, photos):
    from PySide6.QtWidgets import QStyle

    window = make_window()  # the settings ask for 5 results
    window.resize(1300, 800)
    index_and_wait(qtbot, window, photos)
    view = window.search_panel.results_view
    model = window.search_panel.results_model
    window.controller.set_options(top_k=18)  # a scroll bar first, as after a longer list
    window.search_file(str(photos / "coffee.jpg"))
    qtbot.waitUntil(lambda: model.rowCount() == 18, timeout=30_000)
    window.resize(1300, 500)
    qtbot.waitUntil(lambda: view.verticalScrollBar().isVisible())
    window.resize(1300, 800)
    window.controller.set_options(top_k=5)
    qtbot.waitUntil(lambda: model.rowCount() == 5, timeout=30_000)
    for width in range(1000, 1500, 25):  # wherever the grid's cells say n fit in a row, n do
        window.resize(width, 800)
        qtbot.wait(30)
        per_row = view.viewport().width() // view.gridSize().width()
        rows = len({view.visualRect(model.index(r)).top() for r in range(5)})
        assert rows == -(-5 // per_row), (width, per_row, rows)
        # Qt wraps a left-to-right grid at its largest width less a scroll bar's, shown or
        # not (whether it counts depends on the platform): the cells fit in that
        bar = view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        room = view.maximumViewportSize().width() - bar - view.spacing()
        assert per_row * view.gridSize().width() <= room, (width, per_row)


def test_the_empty_grid_does_what_it_says(qtbot, make_window, photos, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = make_window()
    index_and_wait(qtbot, window, photos)
    panel = window.search_panel
    assert panel.empty_title.text() == NO_QUERY_TEXT and "click to browse" in NO_QUERY_TEXT
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *a, **k: (str(photos / "coffee.jpg"), "")
    )
    qtbot.mouseClick(panel.empty_state, Qt.MouseButton.LeftButton)
    wait_results(qtbot, window)
    assert results(window)[0][0] == "coffee.jpg"


def test_the_window_says_only_what_is_true_of_words_searches_and_an_empty_grid(
    qtbot, make_window, photos
):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    panel = window.search_panel
    hint = panel.empty_hint.text()
    assert "Right-click a result" not in hint and "Drop a photo" in hint  # there is none yet
    panel.words.setText("cat")
    panel.search_words()
    wait_results(qtbot, window)
    assert "for an image" in panel.drop_zone.title.text()  # not "another": none was given
    menu = panel.context_menu(0)
    unlike = next(a for a in menu.actions() if a.text().startswith("Not like this"))
    assert not unlike.isEnabled() and "-word" in unlike.toolTip()  # off, and why
    window.search_file(str(photos / "coffee.jpg"))
    qtbot.waitUntil(lambda: [n for n, _ in results(window)[:1]] == ["coffee.jpg"])
    assert "another image" in panel.drop_zone.title.text()
    menu = panel.context_menu(1)
    assert next(a for a in menu.actions() if a.text() == "Not like this").isEnabled()
