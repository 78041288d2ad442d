"""Documents in the window: a page's badge, and a page result opened at its page."""

from __future__ import annotations

import os
import stat

import pytest

from image_finder.ui.results import MomentRole
from tests.core.indexing.test_documents import pdf
from tests.ui.window_helpers import drop_files, index_and_wait, results, wait_results
from tests.videos import photo

pytest.importorskip("pypdfium2")


def test_a_page_shows_its_number_and_opens_the_document_there(
    qtbot, make_window, tmp_path, monkeypatch
):
    media = tmp_path / "Documents"
    media.mkdir()
    pdf(media / "statement.pdf", ["astronaut", "coffee", "chelsea"])
    viewer = tmp_path / "bin" / "evince"  # a viewer that takes a page: it notes what it got
    viewer.parent.mkdir()
    told = tmp_path / "evince-args"
    viewer.write_text(f'#!/bin/sh\necho "$@" > "{told}"\n')
    viewer.chmod(viewer.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{viewer.parent}{os.pathsep}{os.environ['PATH']}")
    query = tmp_path / "cat.png"
    photo("chelsea").resize((300, 200)).save(query)
    window = make_window()
    index_and_wait(qtbot, window, media)
    drop_files(window, query)
    wait_results(qtbot, window)
    assert results(window)[0][0] == "statement.pdf"
    model = window.search_panel.results_model
    first = model.index(0)
    assert first.data(MomentRole) == "p. 3"
    window.search_panel.results_view.activated.emit(first)
    qtbot.waitUntil(told.exists, timeout=10_000)
    assert told.read_text().split() == ["-i", "3", str(media / "statement.pdf")]


def test_a_slice_shows_its_scan_and_series_and_never_its_patient(
    qtbot, make_window, tmp_path, medical
):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    from tests import dicoms

    query = medical / "ct" / "slice2.dcm"  # a DICOM file dropped as the query
    window = make_window()
    index_and_wait(qtbot, window, medical)
    drop_files(window, query)
    wait_results(qtbot, window)
    model = window.search_panel.results_model
    first = model.index(0)
    assert results(window)[0][0] == "slice2.dcm"
    assert first.data(MomentRole) == "CT · +2 slices"
    tip = first.data(Qt.ItemDataRole.ToolTipRole)
    assert "CT · CHEST · 2024-03-15 · Axial chest 5mm" in tip
    shown = [window.windowTitle(), window.statusBar().currentMessage()]
    shown += [label.text() for label in window.findChildren(QLabel)]
    for row in range(model.rowCount()):
        index = model.index(row)
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                     Qt.ItemDataRole.AccessibleTextRole, MomentRole):  # fmt: skip
            shown.append(str(index.data(role) or ""))
    text = "\n".join(shown)
    assert not [p for p in dicoms.IDENTIFIERS if p.lower() in text.lower()]
