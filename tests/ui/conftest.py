from __future__ import annotations

import weakref

import pytest
import shiboken6
from PySide6.QtCore import QSettings, QThread


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (every thread it started must be stopped)."""
    started: list[weakref.ref[QThread]] = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append(weakref.ref(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    # A deleted thread is not running: Qt aborts the process when a running one is destroyed.
    alive = [t for ref in started if (t := ref()) is not None and shiboken6.isValid(t)]
    running = [t for t in alive if t.isRunning()]
    assert not running, f"threads left running: {[t.objectName() for t in running]}"


@pytest.fixture
def settings():
    from image_finder.core.config.settings import Settings

    # fp32: each window's first indexing run would otherwise time the precisions first
    # (test_the_precision_check_shows_in_progress_and_settings does that once)
    s = Settings(
        model="efficientnet_lite0", device="cpu", precision="fp32", top_k=5, thumbnail_size=96
    )
    s.save()
    return s


@pytest.fixture
def make_window(qtbot, tmp_path, settings):
    from image_finder.core.stores.library import Library
    from image_finder.ui.controller import ModelState
    from image_finder.ui.main_window import MainWindow

    created = []

    def make(wait_for_model: bool = True):
        library = Library(tmp_path / "library")
        window = MainWindow(
            library, settings, QSettings(str(tmp_path / "qt.ini"), QSettings.Format.IniFormat)
        )
        qtbot.addWidget(window)
        window.show()
        created.append((window, library))
        if wait_for_model:
            qtbot.waitUntil(
                lambda: window.controller.model_state is ModelState.READY, timeout=60_000
            )
        return window

    yield make
    for window, library in created:
        window.shutdown()
        library.close()
