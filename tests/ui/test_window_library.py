"""The window: the library panel, indexing, watched folders and what the window follows."""

from __future__ import annotations

import pytest
from PIL import Image

from image_finder.core.config.settings import Settings
from image_finder.core.indexing.indexer import IndexPhase
from image_finder.ui.controller import ModelState
from image_finder.ui.search_panel import NO_LIBRARY_TEXT, NO_QUERY_TEXT
from tests.ui.window_helpers import drop_files, index_and_wait, results, wait_results


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
    assert not window.controller.jobs.runner.alive
    assert not window.controller.search_thread.isRunning()
    assert window.library.vector_index.info()["vectors"] == window.library.count()


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


def test_folders_under_home_read_as_tilde(qtbot, make_window, photos, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(photos.parent))
    window = make_window()
    index_and_wait(qtbot, window, photos)
    item = window.library_panel.folder_list.item(0)
    assert item.text().startswith(f"~/{photos.name}\n")
    assert str(photos) in item.toolTip()  # the whole path, where there is room


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
