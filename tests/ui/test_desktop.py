"""What the desktop actions leave behind when the window quits."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT_DIR

COPY_THEN_QUIT = """
from PySide6.QtWidgets import QApplication
app = QApplication([])
from image_finder.ui.desktop import DesktopActions
DesktopActions().copy_paths(["/photos/a.jpg", "/photos/b.jpg"])
print(app.clipboard().text())
"""


def test_quitting_after_copying_paths_exits_cleanly_and_keeps_them_on_the_clipboard():
    """Qt frees the clipboard's data after the interpreter has gone; data a Python object made
    crashed the process there (exit code -11) until the text is handed over first."""
    run = subprocess.run(
        [sys.executable, "-c", COPY_THEN_QUIT],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT_DIR)},
        cwd=ROOT_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["/photos/a.jpg", "/photos/b.jpg"]
