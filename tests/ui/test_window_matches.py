"""Watched hash banks in the window: a picture indexed that a bank knows is announced, and the
Matches view lists it to confirm or dismiss, the decision kept with who made it."""

from __future__ import annotations

import pytest

from image_finder.core.pictures.pdq import pdq_of
from tests.ui.window_helpers import index_and_wait
from tests.videos import photo

pytest.importorskip("pdqhash")


def test_a_known_picture_indexed_is_announced_and_reviewed(qtbot, make_window, tmp_path):
    from image_finder.core.app.banks import import_list
    from image_finder.core.banks.store import BankStore
    from image_finder.ui.matches_view import MatchesView

    media = tmp_path / "Inbox"
    media.mkdir()
    photo("coffee").save(media / "coffee.jpg", quality=70)
    photo("astronaut").save(media / "astronaut.jpg")
    window = make_window()
    known = tmp_path / "known.csv"
    known.write_text(f"{pdq_of(photo('coffee')).hex},coffee leak\n")
    with BankStore(window.library.folder) as banks:
        banks.create("leaks", watch=True)
        import_list(banks, "leaks", str(known))
    before = (media / "coffee.jpg").read_bytes()

    index_and_wait(qtbot, window, media)
    qtbot.waitUntil(lambda: window.notice_bar.isVisible(), timeout=30_000)
    assert "1 picture indexed matches watched hash banks" in window.notice_bar.label.text()

    window.matches_action.trigger()
    view = window.findChild(MatchesView)
    assert view is not None and view.isVisible()
    assert view.table.rowCount() == 1
    row = [view.table.item(0, c).text() for c in range(view.table.columnCount())]
    assert row[1] == str(media / "coffee.jpg")
    assert row[4].startswith("PDQ ") and row[4].endswith(" bits ≤ 31")
    assert row[2:4] == ["leaks", "coffee leak"]
    assert row[5] == "to review" and "1 to review" in view.summary.text()

    view.table.selectRow(0)
    with qtbot.waitSignal(view.decided):
        view.confirm.click()
    decision = view.table.item(0, 5).text()
    assert decision.startswith("confirmed (window")
    kept = window.library.side_data.bank_matches(limit=1)[0]
    assert kept["decision"] == "confirmed" and kept["decided_by"].startswith("window")
    assert (media / "coffee.jpg").read_bytes() == before  # the picture is left as it was
    view.reject()
