"""The real window for the UI benchmarks, with its files in a scratch folder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def open_window(root: Path, settings: Any) -> tuple[Any, Any]:
    """A shown MainWindow over ``root/library``; config, cache and log also go under ``root``."""
    from PySide6.QtCore import QSettings

    from image_finder.core.stores.library import Library
    from image_finder.ui.main_window import MainWindow

    for var in ("CONFIG", "CACHE", "LOG"):
        os.environ[f"IMAGE_FINDER_{var}_DIR"] = str(root / var.lower())
    library = Library(root / "library")
    window = MainWindow(
        library, settings, QSettings(str(root / "qt.ini"), QSettings.Format.IniFormat)
    )
    window.resize(1100, 720)
    window.show()
    return window, library


def wait_until(condition: Callable[[], bool], timeout: float = 1800.0, poll: float = 0.001) -> None:
    """Run the event loop until ``condition()`` holds."""
    from PySide6.QtWidgets import QApplication

    deadline = time.perf_counter() + timeout
    while not condition():
        QApplication.processEvents()
        if time.perf_counter() > deadline:
            raise TimeoutError
        time.sleep(poll)
