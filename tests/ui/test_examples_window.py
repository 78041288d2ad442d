"""The window: several results as one query, Not like this, the query's chips, the filter bar,
and Back/Forward keeping the whole query."""

from __future__ import annotations

import os
import shutil

from PIL import Image
from PySide6.QtCore import QDate, QItemSelectionModel, Qt

from tests.ui.window_helpers import index_and_wait, results, wait_results


def names(window) -> list[str]:
    return [name for name, _ in results(window)]


def select_rows(window, rows) -> None:
    view = window.search_panel.results_view
    model = window.search_panel.results_model
    view.clearSelection()
    for row in rows:
        view.selectionModel().select(model.index(row), QItemSelectionModel.SelectionFlag.Select)


def action(menu, text_start: str):
    return next(a for a in menu.actions() if a.text().startswith(text_start))


def test_search_with_these_not_like_this_chips_and_back(qtbot, make_window, photos):
    shutil.copy(photos / "coffee.jpg", photos / "coffee again.jpg")
    Image.open(photos / "coffee.jpg").resize((300, 200)).save(photos / "coffee small.png")
    window = make_window()
    index_and_wait(qtbot, window, photos)
    window.search_file(str(photos / "chelsea.jpg"))
    wait_results(qtbot, window)
    panel = window.search_panel
    assert not panel.chips.isVisible()  # one example: the drop zone shows it

    # select three results (as Ctrl+click does) -> Search with these
    first = names(window)
    select_rows(window, [0, 1, 2])
    menu = panel.context_menu(1)
    action(menu, "Search with these 3").trigger()
    qtbot.waitUntil(lambda: panel.chips.isVisible() and not window.controller.searching)
    query = window.controller.shown_query
    assert [p.label for p in query.examples] == first[:3]
    assert [c.text() for c in panel.chips.chips] == [f"{n}  ✕" for n in first[:3]]

    # Not like this, from the context menu: coffee and its copies leave the results
    wait_results(qtbot, window)
    window.search_file(str(photos / "coffee.jpg"))
    qtbot.waitUntil(lambda: names(window)[:1] == ["coffee.jpg"] and not window.controller.searching)
    row = names(window).index("coffee again.jpg")
    action(panel.context_menu(row), "Not like this").trigger()
    qtbot.waitUntil(lambda: "not coffee again.jpg  ✕" in [c.text() for c in panel.chips.chips])
    qtbot.waitUntil(lambda: not window.controller.searching)
    after = names(window)
    assert not {"coffee again.jpg", "coffee small.png"} & set(after)

    # the ✕ on a tile's thumbnail does the same, at once
    view = panel.results_view
    target = view.visualRect(panel.results_model.index(0))
    button = panel.delegate.exclude_rect(target).center()
    excluded = names(window)[0]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=button)
    qtbot.waitUntil(lambda: f"not {excluded}  ✕" in [c.text() for c in panel.chips.chips])
    qtbot.waitUntil(lambda: not window.controller.searching)
    assert excluded not in names(window)
    assert len(window.controller.shown_query.unlike) == 2

    # a chip's ✕ takes its part away; Back brings the whole query again
    chip = next(c for c in panel.chips.chips if c.text().startswith(f"not {excluded}"))
    chip.click()
    qtbot.waitUntil(lambda: len(window.controller.shown_query.unlike) == 1)
    qtbot.waitUntil(lambda: not window.controller.searching)
    window.back_action.trigger()
    qtbot.waitUntil(lambda: len(window.controller.shown_query.unlike) == 2)
    qtbot.waitUntil(lambda: not window.controller.searching)
    assert excluded not in names(window)


def test_the_filter_bar_narrows_the_search_and_counts_the_matches(qtbot, make_window, photos):
    Image.open(photos / "coffee.jpg").resize((300, 200)).save(photos / "coffee small.png")
    old = QDate(2019, 5, 1).startOfDay().toSecsSinceEpoch()
    os.utime(photos / "moon.jpg", (old, old))
    window = make_window()
    index_and_wait(qtbot, window, photos)
    panel = window.search_panel
    bar = panel.filters
    assert bar.bar.isHidden()
    bar.toggle.click()  # the compact bar unfolds
    assert bar.bar.isVisible()
    assert bar.count.text() == "19 images"
    window.search_file(str(photos / "coffee.jpg"))
    wait_results(qtbot, window)

    bar.format.setCurrentIndex(bar.format.findData("png"))
    qtbot.waitUntil(
        lambda: names(window) == ["coffee small.png"] and not window.controller.searching
    )
    assert bar.count.text() == "1 of 19 images match"
    assert [c.text() for c in panel.chips.chips][-1] == "PNG  ✕"

    bar.format.setCurrentIndex(0)
    bar.before.setDate(QDate(2020, 1, 1))
    qtbot.waitUntil(lambda: names(window) == ["moon.jpg"] and not window.controller.searching)
    assert bar.count.text() == "1 of 19 images match"

    bar.before.setDate(bar.before.minimumDate())
    bar.min_width.setValue(500)
    qtbot.waitUntil(
        lambda: not window.controller.searching and "coffee small.png" not in names(window)
    )
    assert all(r.item.width >= 500 for r in panel.results_model.results())

    # Back shows the earlier conditions in the bar again
    window.back_action.trigger()
    qtbot.waitUntil(lambda: names(window) == ["moon.jpg"] and not window.controller.searching)
    assert bar.before.date() == QDate(2020, 1, 1) and bar.min_width.value() == 0
    bar.clear.click()
    qtbot.waitUntil(lambda: len(names(window)) > 1 and not window.controller.searching)
    assert not panel.chips.isVisible()


def test_ten_examples_wrap_their_chips_inside_the_window(qtbot, make_window, photos, tmp_path):
    """However many parts a query has, its chips wrap inside the query area: the window keeps
    its width and the library panel its labels."""
    from image_finder.core.search.query import Query

    many = tmp_path / "many"
    many.mkdir()
    source = Image.open(photos / "coffee.jpg")
    for n in range(10):
        source.rotate(n * 7).save(many / f"a rather long file name for example {n:02}.jpg")
    window = make_window()
    window.resize(1100, 700)
    index_and_wait(qtbot, window, many)
    width = window.width()
    rescan = window.library_panel.rescan_button
    rescan_width = rescan.width()
    query = Query.together([Query.file(p) for p in sorted(many.iterdir())])
    window.controller.search(query)
    panel = window.search_panel
    qtbot.waitUntil(lambda: len(panel.chips.chips) == 10 and not window.controller.searching)
    qtbot.wait(50)  # a layout pass
    assert window.width() == width
    assert rescan.width() >= min(rescan_width, rescan.sizeHint().width())  # its label is whole
    rows = {chip.y() for chip in panel.chips.chips}
    assert len(rows) > 1  # wrapped
    for chip in panel.chips.chips:  # each chip inside the query area, none off to the right
        assert chip.x() + chip.width() <= panel.chips.width()
    assert all(chip.isEnabled() for chip in panel.chips.chips)
