"""What the window tests do again and again: index a folder, drop files, read the grid."""

from __future__ import annotations

import os
import urllib.parse

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from image_finder.ui.results import (
    PathRole,
    ScoreRole,
)


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
