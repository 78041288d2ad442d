"""The Duplicates window: groups shown side by side, a keeper suggested, check boxes, trash
into a temporary freedesktop trash, undo, and a threshold that regroups live."""

from __future__ import annotations

import os
import shutil

from PIL import Image, ImageOps
from PySide6.QtCore import Qt

from image_finder.core.search.duplicates import Tier


def index_and_wait(qtbot, window, folder):
    with qtbot.waitSignal(window.controller.index_finished, timeout=120_000):
        window.add_folders([str(folder)])
    qtbot.waitUntil(lambda: not window.controller.indexing)


def open_duplicates(qtbot, make_window, photos):
    """A window over ``photos``, indexed, with its Duplicates window open on what it found."""
    window = make_window()
    index_and_wait(qtbot, window, photos)
    with qtbot.waitSignal(window.controller.duplicates_ready, timeout=60_000):
        window.duplicates_action.trigger()
    qtbot.addWidget(window.duplicates_window)
    return window, window.duplicates_window


def test_review_trash_and_undo(qtbot, make_window, photos, xdg_trash):
    shutil.copy(photos / "coffee.jpg", photos / "coffee copy.jpg")
    coffee = Image.open(photos / "coffee.jpg")
    coffee.resize((coffee.width // 2, coffee.height // 2)).save(photos / "coffee half.jpg")
    ImageOps.mirror(Image.open(photos / "rocket.jpg")).save(photos / "rocket mirrored.jpg")
    window, view = open_duplicates(qtbot, make_window, photos)
    view.tier.setCurrentIndex(view.tier.findData(Tier.SAME))
    assert view.group_list.count() == 1
    assert "3 images" in view.group_list.item(0).text()
    table = view.table
    assert table.rowCount() == 3
    keep_rows = [r for r in range(3) if table.item(r, 0).text() == "Keep"]
    assert len(keep_rows) == 1 and table.item(keep_rows[0], 3).text().startswith("600 × 400\n")
    assert table.item(keep_rows[0], 1).text().split("\n")[0] == "coffee.jpg"
    assert table.item(keep_rows[0], 1).text().split("\n")[1] == str(photos)  # its folder
    assert {table.item(r, 3).text().split(" · ")[-1] for r in range(3)} == {"JPG"}
    # each copy's relation to the one kept, with its score
    relation = {table.item(r, 1).text().split("\n")[0]: table.item(r, 2).text() for r in range(3)}
    assert relation["coffee copy.jpg"] == "identical · 1.00"
    assert relation["coffee half.jpg"].startswith("same picture · 0.")
    assert relation["coffee.jpg"] == "the copy kept"
    assert [b.text() for b in view.rules.values()][:2] == [
        "1. in a reference folder",
        "2. original format (camera RAW, then JPEG/HEIC, before re-saves)",
    ]
    view.tier.setCurrentIndex(view.tier.findData(Tier.IDENTICAL))
    assert not view.threshold.isEnabled()  # the slider tells nothing there
    view.tier.setCurrentIndex(view.tier.findData(Tier.SAME))
    assert "2 copies checked" in view.summary.text()
    assert "3 images · same picture" in view.group_list.item(0).text()

    # the selected copy is shown large beside the table, to compare by eye
    def preview_of(row):
        table.selectRow(row)
        qtbot.waitUntil(lambda: not view.preview.pixmap().isNull())
        return os.path.basename(view.preview.toolTip()), view.preview.pixmap().size()

    half = next(r for r in range(3) if table.item(r, 1).text().startswith("coffee half.jpg\n"))
    name, size = preview_of(half)
    assert name == "coffee half.jpg" and size.width() == 280  # 300 x 200, fitted to the pane
    assert preview_of(keep_rows[0])[0] == "coffee.jpg"

    # leave one copy unchecked: only the other goes
    other = next(r for r in range(3) if r not in keep_rows)
    kept_too = table.item(other, 1).toolTip()
    view.set_checked(other, False)
    assert "1 copy checked" in view.summary.text()
    with qtbot.waitSignal(window.controller.cleanup_done, timeout=60_000):
        view.trash_button.click()
    trashed = view.last_trashed
    assert len(trashed) == 1 and not os.path.exists(trashed[0]) and os.path.exists(kept_too)
    assert "Moved 1 file to the trash" in view.summary.text()
    assert window.library.item_by_path(trashed[0]) is None
    assert (xdg_trash / "files").is_dir()

    # undo: back on disk and in the library
    with qtbot.waitSignal(window.controller.index_finished, timeout=60_000):
        view.undo_button.click()
    assert os.path.exists(trashed[0])
    qtbot.waitUntil(lambda: window.library.item_by_path(trashed[0]) is not None)

    # the threshold slider regroups without searching again
    view.tier.setCurrentIndex(view.tier.findData(Tier.SIMILAR))
    view.threshold.setValue(80)
    loose = view.group_list.count()
    view.threshold.setValue(100)
    assert view.group_list.count() <= loose
    assert all(g.tier is not Tier.SIMILAR or g.score >= 1.0 for g in view.groups)
    view.close()


def test_a_crop_joins_as_similar_and_is_not_checked(qtbot, make_window, photos, xdg_trash):
    coffee = Image.open(photos / "coffee.jpg")
    w, h = coffee.size
    coffee.crop((0, 0, int(w * 0.8), int(h * 0.8))).save(photos / "coffee crop.jpg")
    _window, view = open_duplicates(qtbot, make_window, photos)
    view.threshold.setValue(80)
    group = next(g for g in view.groups if any("crop" in i.path for i in g.items))
    view.group_list.setCurrentRow(view.groups.index(group))
    crop = next(i for i in group.items if "crop" in i.path)
    assert group.keep.path == str(photos / "coffee.jpg")
    assert group.relation(crop)[0] is Tier.SIMILAR
    assert crop not in view.checked_items()  # bursts and crops are other pictures
    row = group.items.index(crop)
    assert view.table.item(row, 0).checkState() == Qt.CheckState.Unchecked
    view.set_checked(row, True)  # the user may still choose it
    assert crop in view.checked_items()
    view.close()


def test_reference_folders_are_kept(qtbot, make_window, photos, tmp_path):
    archive, incoming = tmp_path / "archive", tmp_path / "incoming"
    archive.mkdir()
    incoming.mkdir()
    shutil.copy(photos / "rocket.jpg", archive / "rocket.jpg")
    shutil.copy(photos / "rocket.jpg", archive / "rocket again.jpg")
    shutil.copy(photos / "rocket.jpg", incoming / "IMG_0001.jpg")
    window = make_window()
    index_and_wait(qtbot, window, archive)
    index_and_wait(qtbot, window, incoming)
    with qtbot.waitSignal(window.controller.duplicates_ready, timeout=60_000):
        window.duplicates_action.trigger()
    view = window.duplicates_window
    qtbot.addWidget(view)
    with qtbot.waitSignal(window.controller.duplicates_ready, timeout=60_000):
        view.set_reference(str(archive), True)
    view.tier.setCurrentIndex(view.tier.findData(Tier.IDENTICAL))
    assert view.group_list.count() == 1
    marks = sorted(view.table.item(r, 0).text() for r in range(view.table.rowCount()))
    assert marks == ["", "Keep", "Reference"]
    assert [os.path.basename(i.path) for i in view.checked_items()] == ["IMG_0001.jpg"]
    unchecked = [r for r in range(3) if view.table.item(r, 0).text() == ""]
    assert view.table.item(unchecked[0], 0).checkState() == Qt.CheckState.Checked
    view.close()


def test_looking_in_chosen_folders_only(qtbot, make_window, photos, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        shutil.copy(photos / "clock.jpg", folder / "clock.jpg")
        shutil.copy(photos / "clock.jpg", folder / "clock copy.jpg")
    window = make_window()
    index_and_wait(qtbot, window, first)
    index_and_wait(qtbot, window, second)
    with qtbot.waitSignal(window.controller.duplicates_ready, timeout=60_000):
        window.duplicates_action.trigger()
    view = window.duplicates_window
    qtbot.addWidget(view)
    view.tier.setCurrentIndex(view.tier.findData(Tier.IDENTICAL))
    assert view.group_list.count() == 1 and "4 images" in view.group_list.item(0).text()
    with qtbot.waitSignal(window.controller.duplicates_ready, timeout=60_000):
        view.set_scope(str(second), False)
    assert view.group_list.count() == 1 and "2 images" in view.group_list.item(0).text()
    assert {os.path.dirname(i.path) for i in view.groups[0].items} == {str(first)}
    view.close()


def test_the_table_fits_the_window_and_names_stay_whole(qtbot, make_window, photos):
    long_name = "n11939491_daisy_from_the_garden_12345.JPEG"  # ImageNet-style
    Image.open(photos / "coffee.jpg").save(photos / long_name, "JPEG")
    _window, view = open_duplicates(qtbot, make_window, photos)
    view.resize(1300, 640)
    view.show()
    qtbot.waitExposed(view)
    view.tier.setCurrentIndex(view.tier.findData(Tier.SAME))
    qtbot.wait(50)
    assert view.table.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways to
    group = next(g for g in view.groups if any(long_name in i.path for i in g.items))
    view.group_list.setCurrentRow(view.groups.index(group))
    qtbot.wait(50)
    assert any(
        view.table.item(r, 1).text().startswith(long_name) for r in range(view.table.rowCount())
    )
    column = view.table.columnWidth(1) - view.table.iconSize().width()
    assert view.table.fontMetrics().horizontalAdvance(long_name) < column  # room for it
    view.close()
