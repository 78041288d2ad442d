"""The window: settings, the model in use and why, and the desktop habits."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QDropEvent, QGuiApplication

from image_finder.core.config.settings import Settings
from image_finder.core.indexing.indexer import IndexPhase
from image_finder.ui.controller import ModelState
from tests.ui.window_helpers import drop_files, file_url, index_and_wait, results, wait_results


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


def test_settings_say_why_the_bundled_model_is_in_use(qtbot, make_window):
    window = make_window()  # the settings choose EfficientNet-Lite0
    dialog = window.settings_dialog()
    qtbot.addWidget(dialog)
    assert dialog.model_note.isVisibleTo(dialog)
    assert "as chosen here" in dialog.model_note.text()
    assert "without a download" in dialog.model_note.text()
