from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtWidgets import QMessageBox

from image_finder.ui import app as app_module


def test_unexpected_errors_are_logged_and_shown_and_the_app_goes_on(qtbot, monkeypatch):
    from image_finder.core.common.logsetup import setup_logging

    setup_logging()
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()) or 0)
    try:
        raise ValueError("something odd")
    except ValueError as exc:
        app_module.excepthook(type(exc), exc, exc.__traceback__)
    assert shown and "something odd" in shown[0]
    with open(os.path.join(os.environ["IMAGE_FINDER_LOG_DIR"], "image-finder.log")) as f:
        log = f.read()
    assert "ValueError: something odd" in log and "Traceback" in log


@pytest.mark.load  # a second process starting the window and its model: CI keeps its time
def test_screenshot_option_saves_the_settled_window(tmp_path, photos):
    """The real entry point, as a user or a script runs it."""
    from image_finder.core.config.settings import Settings
    from image_finder.core.stores.library import Library

    Settings(model="efficientnet_lite0", device="cpu", top_k=4, thumbnail_size=96).save()
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "image_finder",
            str(photos),
            "--query",
            str(photos / "coffee.jpg"),
            "--data-dir",
            str(tmp_path / "lib"),
            "--screenshot",
            str(shot),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Library(tmp_path / "lib") as library:
        assert library.count() == len(list(photos.iterdir()))


def test_the_restore_question_gives_both_sides(tmp_path, photos, monkeypatch):
    """A damaged library: the window's question shows the backup's date and image count
    beside what the current database is, before anything is replaced."""
    from image_finder.cli import main
    from image_finder.core.stores.library import DB_NAME

    lib_dir = tmp_path / "lib"
    assert main(["--data-dir", str(lib_dir), "index", str(photos), "--model",
                 "efficientnet_lite0"]) == 0  # fmt: skip
    (lib_dir / DB_NAME).write_bytes(b"\x13garbage!" * 4000)
    for extra in ("-wal", "-shm"):
        (lib_dir / (DB_NAME + extra)).unlink(missing_ok=True)
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.informativeText()) or 0)
    assert app_module.offer_restore(lib_dir, "The library database is damaged.") is False
    n = len(list(photos.iterdir()))
    assert "Current library: damaged" in shown[0]
    assert f"Backup: {n} images in 1 folder, saved " in shown[0]
    assert (lib_dir / DB_NAME).read_bytes().startswith(b"\x13garbage!")  # nothing replaced
