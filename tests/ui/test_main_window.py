from __future__ import annotations

import os
import urllib.parse

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage

from image_finder.core.config.settings import Settings
from image_finder.core.indexing.indexer import IndexPhase
from image_finder.ui.controller import ModelState
from image_finder.ui.results import (
    GreyMatchRole,
    PathRole,
    ScoreRole,
    ThumbnailState,
    ThumbnailStateRole,
)
from image_finder.ui.search_panel import NO_LIBRARY_TEXT, NO_QUERY_TEXT


def index_and_wait(qtbot, window, folder):
    with qtbot.waitSignal(window.controller.index_finished, timeout=120_000):
        window.add_folders([str(folder)])
    qtbot.waitUntil(lambda: not window.controller.indexing)


def file_url(path) -> QUrl:
    """As a file manager sends it: the name's bytes, percent-encoded."""
    return QUrl.fromEncoded(b"file://" + urllib.parse.quote(os.fsencode(path)).encode())


def drop_files(window, *paths):
    mime = QMimeData()
    mime.setUrls([file_url(p) for p in paths])
    event = QDropEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.search_panel.drop_zone.dropEvent(event)


def results(window):
    model = window.search_panel.results_model
    return [
        (os.path.basename(model.index(r).data(PathRole)), model.index(r).data(ScoreRole))
        for r in range(model.rowCount())
    ]


def wait_results(qtbot, window):
    qtbot.waitUntil(
        lambda: (
            not window.controller.searching and window.search_panel.results_model.rowCount() > 0
        ),
        timeout=30_000,
    )


def test_empty_library_teaches_what_to_do(make_window):
    window = make_window()
    assert window.search_panel.stack.currentIndex() == 0
    assert window.search_panel.empty_title.text() == NO_LIBRARY_TEXT
    assert window.search_panel.empty_button.isVisible()
    assert "0 images" in window.status_library.text()
    assert "EfficientNet" in window.status_model.text()


def test_add_folder_indexes_and_shows_the_count(qtbot, make_window, photos):
    from image_finder.core.indexing.indexer import IndexPhase

    window = make_window()
    listed_when_embedding_started = []

    def seen(progress):
        if progress.phase is IndexPhase.EMBEDDING and not listed_when_embedding_started:
            listed_when_embedding_started.append(window.library_panel.folder_list.count())

    window.controller.index_progress.connect(seen)
    index_and_wait(qtbot, window, photos)
    assert listed_when_embedding_started == [1]  # the new folder is listed from the start
    n = len(list(photos.iterdir()))
    assert window.library_panel.folder_list.count() == 1
    assert f"{n:,} images" in window.library_panel.folder_list.item(0).text()
    assert f"{n:,} images" in window.status_library.text()
    assert window.search_panel.empty_title.text() == NO_QUERY_TEXT
    assert not window.library_panel.progress_box.isVisible()
    assert window.library_panel.rescan_button.isEnabled()


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


def test_cancel_indexing_keeps_what_was_committed(qtbot, make_window, photos):
    for i in range(4):
        for src in list(photos.glob("*.jpg")):
            (photos / f"copy{i}-{src.name}").write_bytes(src.read_bytes() + bytes([i]))
    total = len(list(photos.iterdir()))
    window = make_window()
    with qtbot.waitSignal(
        window.controller.index_progress,
        timeout=60_000,
        check_params_cb=lambda p: p.phase is IndexPhase.EMBEDDING and p.done > 0,
    ):
        window.add_folders([str(photos)])
    with qtbot.waitSignal(window.controller.index_finished, timeout=60_000) as blocker:
        window.library_panel.cancel_button.click()
    report = blocker.args[0]
    assert report.cancelled
    qtbot.waitUntil(lambda: not window.controller.indexing)
    assert 0 < window.library.count() < total
    assert window.library.vector_index.info()["vectors"] == window.library.count()


def test_closing_during_indexing_stops_every_thread(qtbot, make_window, photos):
    for src in list(photos.glob("*.jpg")):
        (photos / f"copy-{src.name}").write_bytes(src.read_bytes() + b"x")
    window = make_window()
    with qtbot.waitSignal(window.controller.index_progress, timeout=60_000):
        window.add_folders([str(photos)])
    window.close()
    assert not window.controller.index_thread.isRunning()
    assert not window.controller.search_thread.isRunning()
    assert window.library.vector_index.info()["vectors"] == window.library.count()


def test_settings_round_trip(qtbot, make_window, photos):
    from image_finder.ui.settings_dialog import SettingsDialog

    window = make_window()
    dialog = SettingsDialog(window.settings, None, window)
    qtbot.addWidget(dialog)
    dialog.top_k.setValue(7)
    dialog.nprobe.setValue(32)
    dialog.thumbnail_size.setValue(128)
    dialog.rotations.setChecked(True)
    dialog.crops.setChecked(True)
    window.apply_settings(dialog.settings())
    saved = Settings.load()
    assert (saved.top_k, saved.nprobe, saved.thumbnail_size) == (7, 32, 128)
    assert (saved.rotations, saved.crops) == (True, True)
    options = window.controller.options
    assert (options.rotations, options.crops) == (True, True)
    assert saved.model == "efficientnet_lite0"
    assert window.search_panel.top_k.value() == 7
    assert window.search_panel.results_model.thumbnail_size == 128
    reopened = SettingsDialog(saved, "efficientnet_lite0", window)
    qtbot.addWidget(reopened)
    assert reopened.top_k.value() == 7 and reopened.nprobe.value() == 32
    reopened.model.setCurrentIndex(reopened.model.findData("vit_base_patch16_224"))
    assert reopened.model_changed() and not reopened.model_warning.isHidden()


def test_window_geometry_and_recent_folders_are_restored(qtbot, make_window, photos):
    window = make_window()
    window.resize(700, 500)
    index_and_wait(qtbot, window, photos)
    size = window.size()
    assert size.width() != 1100  # the default size
    window.close()
    again = make_window()
    assert again.size() == size
    assert again.library_panel.recent_folders()[0] == str(photos)


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


def test_a_folder_dropped_as_a_query_is_added_to_the_library(qtbot, make_window, photos, tmp_path):
    window = make_window()
    index_and_wait(qtbot, window, photos)
    more = tmp_path / "More pictures"
    more.mkdir()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(more / "green.png")
    with qtbot.waitSignal(window.controller.index_finished, timeout=60_000):
        drop_files(window, more)
    qtbot.waitUntil(lambda: len(window.controller.folders) == 2)
    assert window.library_panel.folder_list.count() == 2
    assert not window.search_panel.drop_zone.message.isVisible()


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


def test_offline_first_run_says_which_model_it_uses(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from image_finder.core.stores.library import Library
    from image_finder.ui.main_window import MainWindow

    library = Library(tmp_path / "lib")
    window = MainWindow(
        library, Settings(), QSettings(str(tmp_path / "q.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    window.show()
    assert "Loading model" in window.status_model.text()
    qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
    assert window.notice_bar.isVisible()
    assert (
        "EfficientNet-Lite0" in window.notice_bar.label.text()
        and "weights file" in window.notice_bar.label.text()
    )
    assert "EfficientNet-Lite0" in window.status_model.text()
    window.shutdown()
    library.close()


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


def test_about_lists_versions_and_device_and_the_window_has_its_icon(qtbot, make_window):
    window = make_window()
    assert not window.windowIcon().isNull()
    window.about_action.trigger()
    box = window.about_box
    qtbot.addWidget(box)
    text = box.text()
    for name in ("PyTorch", "timm", "FAISS", "Qt", "Device", "CPU"):
        assert name in text, name
    assert "0.1.0" in text
    box.close()


def test_a_model_that_cannot_load_is_explained_and_a_waiting_query_dropped(qtbot, tmp_path, photos):
    from PySide6.QtCore import QSettings

    from image_finder.core.stores.library import Library
    from image_finder.ui.main_window import MainWindow

    library = Library(tmp_path / "lib")
    settings = Settings(model="vit_base_patch16_224", weights=str(tmp_path / "missing.pth"))
    window = MainWindow(
        library, settings, QSettings(str(tmp_path / "q.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    window.show()
    window.search_file(str(photos / "coffee.jpg"))  # asked for while the model loads
    qtbot.waitUntil(lambda: window.controller.model_state is ModelState.FAILED, timeout=60_000)
    assert "weights file not found" in window.notice_bar.label.text()
    assert window.search_panel.drop_zone.message.isVisible()
    with qtbot.waitSignal(window.settled, timeout=10_000):
        window.controller.check_settled()  # nothing is left waiting: --screenshot can finish
    window.shutdown()
    library.close()


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


def test_an_interrupted_folder_says_so_and_resumes_on_start(qtbot, make_window, photos, lite0):
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    n = len(list(photos.iterdir()))
    window = make_window()
    library = window.library
    index_folders([photos], library, lite0, cancelled=lambda: library.count() >= 4, batch_size=4)
    window.close()
    reopened = Library(library.folder)
    info = reopened.folder_info(str(photos))
    assert not info.complete
    reopened.close()

    finished = []
    again = make_window(wait_for_model=False)
    again.controller.index_finished.connect(finished.append)
    assert f"Resume · 4 of {n:,} indexed" in again.library_panel.folder_list.item(0).text()
    assert "resume" in again.library_panel.folder_list.item(0).toolTip()
    qtbot.waitUntil(lambda: bool(finished) and not again.controller.indexing, timeout=120_000)
    assert f"{n:,} images" in again.library_panel.folder_list.item(0).text()
    assert "Resume" not in again.library_panel.folder_list.item(0).text()


def test_settings_tell_the_truth_about_the_model_in_use(qtbot, tmp_path, photos, monkeypatch):
    """Offline first run: ViT-B/16 is asked for, the bundled model stands in. The dialog shows
    the model in use and why; changing something else asks nothing and keeps the settings'
    model; changing the model asks first, Cancel by default, and Cancel changes nothing."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

    from image_finder.core.stores.library import Library
    from image_finder.ui.main_window import MainWindow

    Settings().save()  # the default model: ViT-B/16, unreachable here
    library = Library(tmp_path / "lib")
    window = MainWindow(
        library, Settings.load(), QSettings(str(tmp_path / "q.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
    index_and_wait(qtbot, window, photos)
    asked = []

    def answer(box):
        asked.append((box.text(), box.defaultButton().text()))
        return 0

    monkeypatch.setattr(QMessageBox, "exec", lambda box: answer(box))  # closes: no button

    dialog = window.settings_dialog()
    qtbot.addWidget(dialog)
    assert dialog.model.currentData() == "efficientnet_lite0"
    assert not dialog.model_warning.isVisibleTo(dialog)
    note = dialog.model_note.text()
    assert "In use: EfficientNet-Lite0" in note and "weights file" in note and "--" not in note
    assert not dialog.weights.isEnabled()  # the bundled model needs none
    assert "Comes with Image Finder" in dialog.weights.placeholderText()
    assert "download" not in dialog.weights.placeholderText().replace("nothing to download", "")
    cuda = dialog.device.model().item(dialog.device.findData("cuda"))
    assert not cuda.isEnabled() and "no NVIDIA GPU" in cuda.text()
    assert dialog.device_note.text() == "In use: the CPU."
    int8 = dialog.precision.itemText(dialog.precision.findData("int8"))
    assert "fast on most" not in int8 and "slower on others" in int8
    dialog.top_k.setValue(9)
    assert not dialog.model_changed()
    window.apply_settings(dialog.settings())
    assert asked == []
    saved = Settings.load()
    assert (saved.top_k, saved.model) == (9, "vit_base_patch16_224")
    assert window.controller.model_state is ModelState.READY

    # choosing another model asks, with Cancel as the default; no answer changes nothing
    monkeypatch.setattr(type(dialog), "exec", lambda self: 1)  # OK pressed
    monkeypatch.setattr(window, "settings_dialog", lambda: _with_model(dialog, "vit"))
    window.open_settings()
    assert asked and "again" in asked[0][0] and asked[0][1] == "Cancel"
    assert Settings.load() == saved and window.library.model == "efficientnet_lite0"

    # Restore defaults resets the fields but keeps the model
    dialog.top_k.setValue(3)
    dialog.findChild(QDialogButtonBox).button(
        QDialogButtonBox.StandardButton.RestoreDefaults
    ).click()
    assert dialog.top_k.value() == Settings().top_k
    window.shutdown()
    library.close()


def test_settings_ok_with_another_precision_or_words_model_keeps_searching(
    qtbot, tmp_path, photos, monkeypatch, caplog
):
    """Offline, the bundled model stands in for ViT-B/16. Changing the precision or the words
    model keeps the library's model: nothing is asked, downloaded or indexed again, and
    searching goes on."""
    import logging

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from image_finder.core.stores.library import Library
    from image_finder.ui.main_window import MainWindow

    Settings(precision="fp32").save()  # the default model: ViT-B/16, unreachable here
    library = Library(tmp_path / "lib")
    window = MainWindow(
        library, Settings.load(), QSettings(str(tmp_path / "q.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
    index_and_wait(qtbot, window, photos)
    asked = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: asked.append(box.text()) or 0)
    jobs = []
    window.controller.indexing_changed.connect(jobs.append)
    caplog.set_level(logging.INFO, logger="image_finder.ui.controller")

    changes = (("precision", "auto", "coffee"), ("text_model", "clip", "chelsea"),
               ("text_model", "", "rocket"))  # fmt: skip
    for field, value, photo in changes:
        dialog = window.settings_dialog()
        qtbot.addWidget(dialog)
        combo = getattr(dialog, field)
        combo.setCurrentIndex(next(
            i for i in range(combo.count()) if str(combo.itemData(i)).startswith(value)
        ))  # fmt: skip
        assert not dialog.model_changed()
        window.apply_settings(dialog.settings())
        qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
        assert library.model == "efficientnet_lite0", field
        assert window.library_panel.rescan_button.isEnabled()
        assert "not loaded" not in window.status_model.text().lower()
        window.search_file(str(photos / f"{photo}.jpg"))
        qtbot.waitUntil(
            lambda: (
                not window.controller.searching
                and [name for name, _ in results(window)[:1]] == [f"{photo}.jpg"]  # noqa: B023
            ),
            timeout=30_000,
        )
    assert asked == [] and jobs == []  # nothing asked, nothing indexed again
    assert "keeps its model" in caplog.text
    window.shutdown()
    library.close()


def _with_model(dialog, prefix):
    for row in range(dialog.model.count()):
        if dialog.model.itemData(row).startswith(prefix):
            dialog.model.setCurrentIndex(row)
    return dialog


def test_yes_to_another_model_indexes_everything_again_visibly(
    qtbot, make_window, photos, tmp_path, monkeypatch
):
    import timm
    import torch

    weights = tmp_path / "vit.pth"
    torch.save(timm.create_model("vit_base_patch16_224").state_dict(), weights)
    window = make_window()
    index_and_wait(qtbot, window, photos)
    monkeypatch.setattr(window, "confirm_reindex", lambda: True)
    dialog = window.settings_dialog()
    qtbot.addWidget(dialog)
    _with_model(dialog, "vit")
    assert dialog.model_warning.isVisibleTo(dialog) and dialog.weights.isEnabled()
    dialog.weights.setText(str(weights))
    monkeypatch.setattr(window, "settings_dialog", lambda: dialog)
    monkeypatch.setattr(type(dialog), "exec", lambda self: 1)
    with qtbot.waitSignal(window.controller.indexing_changed, timeout=120_000):
        window.open_settings()
    assert window.library_panel.progress_box.isVisible()
    with qtbot.waitSignal(window.controller.index_finished, timeout=300_000):
        pass
    assert window.library.model == "vit_base_patch16_224"
    assert window.library.count() == len(list(photos.iterdir()))
    assert Settings.load().model == "vit_base_patch16_224"


def test_the_window_follows_changes_it_did_not_make(qtbot, make_window, photos, tmp_path):
    """Another process indexes a folder; a drive goes away and comes back; another writer
    finishes: the panel, the results and the banners follow within a poll."""
    import shutil

    from image_finder.cli import main
    from image_finder.core.stores.library import Library

    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)
    # another process adds a folder with a near copy of the query
    other = tmp_path / "From the CLI"
    other.mkdir()
    Image.open(photos / "coffee.jpg").resize((200, 150)).save(other / "small coffee.jpg")
    assert main(["--data-dir", str(window.library.folder), "index", str(other)]) == 0
    qtbot.waitUntil(lambda: window.library_panel.folder_list.count() == 2, timeout=10_000)
    qtbot.waitUntil(lambda: "small coffee.jpg" in [name for name, _ in results(window)[:3]],
                    timeout=10_000)  # fmt: skip
    assert f"{len(list(photos.iterdir())) + 1} images" in window.status_library.text()

    # the drive goes away, a re-scan says so; it comes back, the banner goes
    away = tmp_path / "unplugged"
    shutil.move(other, away)
    with qtbot.waitSignal(window.controller.index_finished, timeout=60_000):
        window.controller.rescan()
    assert window.notice_bar.isVisible() and "Offline" in window.notice_bar.label.text()
    qtbot.waitUntil(lambda: "offline" in window.library_panel.folder_list.item(0).text())
    shutil.move(away, other)
    qtbot.waitUntil(lambda: not window.notice_bar.isVisible(), timeout=10_000)
    assert "offline" not in window.library_panel.folder_list.item(0).text()

    # another writer holds the library: busy; once it is done, the banner goes
    elsewhere = Library(window.library.folder)
    elsewhere.begin_writing()
    with qtbot.waitSignal(window.controller.notice, timeout=60_000) as shown:
        window.controller.rescan()
    assert "busy" in shown.args[1]
    assert window.notice_bar.isVisible()
    elsewhere.close()
    qtbot.waitUntil(lambda: not window.notice_bar.isVisible(), timeout=10_000)


def test_desktop_habits(qtbot, make_window, photos, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices, QKeySequence
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    window = make_window()
    assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")
    zone = window.search_panel.drop_zone
    assert zone.focusPolicy() & Qt.FocusPolicy.TabFocus

    # a folder dropped on the library panel is added
    mime = QMimeData()
    mime.setUrls([file_url(photos)])
    drop = QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    with qtbot.waitSignal(window.controller.index_finished, timeout=120_000):
        window.library_panel.dropEvent(drop)
    assert window.library_panel.folder_list.count() == 1

    # the Open dialog starts where the last image came from, also after a restart
    starts = []

    def choose(parent, caption, start, filters):
        starts.append(start)
        return str(photos / "coffee.jpg"), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    zone.browse()
    wait_results(qtbot, window)
    zone.browse()
    assert starts == ["", str(photos)]

    # several files dropped: the first is used, and the window says so
    drop_files(window, photos / "rocket.jpg", photos / "coffee.jpg", photos / "clock.jpg")
    assert "rocket.jpg; 2 other files" in window.statusBar().currentMessage()

    # the most used action first; the Remove question says what its buttons do
    wait_results(qtbot, window)
    actions = [a.text() for a in window.search_panel.context_menu(0).actions() if a.text()]
    assert actions[0] == "Find similar to this"
    asked = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: asked.append(
        sorted(b.text().replace("&", "") for b in box.buttons())) or 0)  # fmt: skip
    window.library_panel.folder_list.setCurrentRow(0)
    window.library_panel.remove_button.click()
    assert asked == [["Cancel", "Remove"]] and window.library_panel.folder_list.count() == 1

    # one path copied says so in words; an image no application opens offers its path
    window.search_panel.results_view.setCurrentIndex(window.search_panel.results_model.index(0))
    window.search_panel.copy_paths()
    assert window.statusBar().currentMessage() == "Copied the path"
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)

    def click_copy(box):
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == "Copy path").click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", click_copy)
    QGuiApplication.clipboard().clear()
    first = window.search_panel.results_model.result(0).path
    assert not window.desktop.open_file(first)
    assert "No application" in asked[-1]
    assert QGuiApplication.clipboard().text() == first
    window.close()
    again = make_window()
    assert again.search_panel.drop_zone.last_folder == str(photos)


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


def test_a_photo_copied_into_a_watched_folder_appears_without_rescan(
    qtbot, make_window, photos, tmp_path
):
    import shutil

    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.close()
    again = make_window()  # on start: catch up, then watch
    qtbot.waitUntil(lambda: not again.controller.indexing, timeout=60_000)
    assert "watched" in again.library_panel.folder_list.item(0).text()
    again.search_file(str(photos / "astronaut.jpg"))
    wait_results(qtbot, again)
    shutil.copy(photos / "astronaut.jpg", photos / "astronaut from the camera.jpg")
    qtbot.waitUntil(
        lambda: "astronaut from the camera.jpg" in [n for n, _ in results(again)[:2]],
        timeout=20_000,
    )
    assert not again.library_panel.progress_box.isVisible() or again.controller.indexing
    # watching can be turned off in Settings
    dialog = again.settings_dialog()
    qtbot.addWidget(dialog)
    dialog.watch.setChecked(False)
    again.apply_settings(dialog.settings())
    qtbot.waitUntil(lambda: "watched" not in again.library_panel.folder_list.item(0).text())
    assert Settings.load().watch_folders is False


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


def test_a_folder_added_in_the_first_session_is_watched_at_once(
    qtbot, make_window, photos, tmp_path
):
    import shutil

    window = make_window()  # an empty library: nothing to watch yet
    assert window.controller.watch_mode(str(photos)) is None
    index_and_wait(qtbot, window, photos)
    qtbot.waitUntil(lambda: "watched" in window.library_panel.folder_list.item(0).text())
    shutil.copy(photos / "coffee.jpg", photos / "coffee from the camera.jpg")
    n = len(list(photos.iterdir()))
    qtbot.waitUntil(
        lambda: f"{n:,} images" in window.library_panel.folder_list.item(0).text(),
        timeout=20_000,
    )


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


def test_the_precision_check_shows_in_progress_and_settings(qtbot, make_window, photos, settings):
    """With precision auto (the default), the first indexing run tries the faster precisions
    on the photos, the window says so while it does, and Settings shows the outcome."""
    import dataclasses

    from image_finder.core.embedding import precision

    dataclasses.replace(settings, precision="auto").save()
    window = make_window()
    window.apply_settings(dataclasses.replace(settings, precision="auto"))
    qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
    phases = []
    window.controller.index_progress.connect(lambda p: phases.append(p.phase))
    index_and_wait(qtbot, window, photos)
    extractor = window.controller.extractor
    if precision.candidates("cpu"):
        assert IndexPhase.CHECKING in phases
        assert extractor.precision_reason.startswith("auto:")
        assert precision.recorded(window.library) is not None
    dialog = window.settings_dialog()
    qtbot.addWidget(dialog)
    assert dialog.precision.currentData() == "auto"
    assert dialog.precision_note.text() == (
        f"In use: {extractor.precision} ({extractor.precision_reason})."
    )


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


def test_folders_under_home_read_as_tilde(qtbot, make_window, photos, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(photos.parent))
    window = make_window()
    index_and_wait(qtbot, window, photos)
    item = window.library_panel.folder_list.item(0)
    assert item.text().startswith(f"~/{photos.name}\n")
    assert str(photos) in item.toolTip()  # the whole path, where there is room


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


def test_settings_say_why_the_bundled_model_is_in_use(qtbot, make_window):
    window = make_window()  # the settings choose EfficientNet-Lite0
    dialog = window.settings_dialog()
    qtbot.addWidget(dialog)
    assert dialog.model_note.isVisibleTo(dialog)
    assert "as chosen here" in dialog.model_note.text()
    assert "without a download" in dialog.model_note.text()


def test_a_library_on_a_read_only_medium_opens_for_searching(qtbot, tmp_path, photos, settings):
    import subprocess

    from PySide6.QtCore import QSettings

    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library
    from image_finder.ui.main_window import MainWindow

    source = tmp_path / "library"
    with Library(source) as library:
        from image_finder.core.embedding.extractor import Extractor

        index_folders([photos], library, Extractor.load("efficientnet_lite0", device="cpu"))
    mounted = tmp_path / "ro"
    mounted.mkdir()
    bind = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot mount here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], check=True)
        library = Library(mounted)
        window = MainWindow(
            library, settings, QSettings(str(tmp_path / "q.ini"), QSettings.Format.IniFormat)
        )
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.controller.model_state is ModelState.READY, timeout=60_000)
        qtbot.waitUntil(lambda: "read-only" in window.notice_bar.label.text())
        assert "watched" not in window.library_panel.folder_list.item(0).text()
        window.search_file(str(photos / "coffee.jpg"))
        wait_results(qtbot, window)
        assert results(window)[0][0] == "coffee.jpg"
        window.shutdown()
        library.close()
    finally:
        subprocess.run(["umount", str(mounted)], check=False)


def test_a_watch_batch_refused_as_busy_is_applied_once_the_other_writer_ends(
    qtbot, make_window, photos
):
    import shutil

    from image_finder.core.stores.library import Library

    window = make_window()
    index_and_wait(qtbot, window, photos)
    qtbot.waitUntil(lambda: "watched" in window.library_panel.folder_list.item(0).text())
    other = Library(window.library.folder)
    other.begin_writing()  # another process indexes meanwhile
    try:
        shutil.copy(photos / "coffee.jpg", photos / "coffee while busy.jpg")
        qtbot.waitUntil(lambda: "busy" in window.notice_bar.label.text(), timeout=20_000)
        assert window.library.item_by_path(photos / "coffee while busy.jpg") is None
    finally:
        other.close()
    qtbot.waitUntil(
        lambda: window.library.item_by_path(photos / "coffee while busy.jpg") is not None,
        timeout=20_000,
    )


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


def test_a_concept_from_pictures_outside_the_library(qtbot, make_window, photos, tmp_path):
    """Tools ▸ New concept from pictures…: examples of one's own are embedded for the concept
    alone; the library keeps its pictures, and the concept finds its cat."""
    from image_finder.core.search.query import Query

    window = make_window()
    index_and_wait(qtbot, window, photos)
    count = window.library.count()
    mine = tmp_path / "my cats"
    mine.mkdir()
    cat = Image.open(photos / "chelsea.jpg")
    for n, angle in enumerate((0, 4, -4, 8)):
        cat.rotate(angle).resize((300, 200)).save(mine / f"cat{n}.jpg")
    progress = []
    window.controller.learning.concept_progress.connect(lambda d, t: progress.append((d, t)))
    with qtbot.waitSignal(window.controller.learning.concept_learnt, timeout=60_000) as learnt:
        window.search_panel.concept_from_files([str(mine)], name="my cat")
    concept = learnt.args[0]
    assert concept.outside is not None and len(concept.outside) == 4
    assert progress[-1] == (4, 4)
    assert window.library.count() == count  # nothing added
    window.controller.search(Query.of_concept("my cat"))
    qtbot.waitUntil(lambda: [n for n, _ in results(window)[:1]] == ["chelsea.jpg"],
                    timeout=30_000)  # fmt: skip


def test_save_as_concept_from_dropped_files_outside_the_library(qtbot, make_window, photos,
                                                                tmp_path):  # fmt: skip
    from image_finder.core.search.query import Query

    window = make_window()
    index_and_wait(qtbot, window, photos)
    mine = tmp_path / "dropped"
    mine.mkdir()
    cat = Image.open(photos / "chelsea.jpg")
    for n, angle in enumerate((3, -3)):
        cat.rotate(angle).save(mine / f"cat{n}.jpg")
    window.controller.search(Query.together([Query.file(p) for p in sorted(mine.iterdir())]))
    wait_results(qtbot, window)
    with qtbot.waitSignal(window.controller.learning.concept_learnt, timeout=60_000) as learnt:
        window.search_panel.save_concept([], name="dropped cats")
    assert learnt.args[0].outside is not None and len(learnt.args[0].outside) == 2
    assert window.library.item_by_path(str(mine / "cat0.jpg")) is None  # not in the library
