"""Videos in the window: a moment's badge, its filmstrip, searching with a moment."""

from __future__ import annotations

import pytest

from image_finder.ui.results import MomentRole
from tests.ui.window_helpers import drop_files, index_and_wait, results, wait_results
from tests.videos import photo, slideshow

pytest.importorskip("av")


def test_a_moment_shows_its_time_and_its_video_s_moments_search_again(qtbot, make_window, tmp_path):
    media = tmp_path / "Videos"
    media.mkdir()
    slideshow(media / "harbour.mp4")
    photo("coffee").save(media / "coffee.jpg")
    query = tmp_path / "cat.png"
    photo("chelsea").save(query)
    window = make_window()
    index_and_wait(qtbot, window, media)
    drop_files(window, query)
    wait_results(qtbot, window)
    assert results(window)[0][0] == "harbour.mp4"
    model = window.search_panel.results_model
    first = model.index(0)
    assert first.data(MomentRole) in ("▶ 00:06", "▶ 00:07", "▶ 00:08")  # the cat's scene
    assert model.index(1).data(MomentRole) is None  # coffee.jpg, a photo
    qtbot.waitUntil(lambda: model.thumbnails_pending() == 0, timeout=20_000)

    strip = window.search_panel.filmstrip
    assert not strip.isVisible()
    window.search_panel.results_view.setCurrentIndex(first)
    qtbot.waitUntil(lambda: strip.isVisible() and not strip.pending(), timeout=20_000)
    labels = [strip.item(r).text() for r in range(strip.count())]
    assert labels == ["00:00", "00:03", "00:06", "00:09"]
    assert "▶ " + strip.currentItem().text() == first.data(MomentRole)

    with qtbot.waitSignal(window.controller.results_ready, timeout=30_000):
        strip.moment_chosen.emit(strip.item(1).data(0x0100))  # the coffee scene
    wait_results(qtbot, window)
    assert results(window)[0][0] in ("harbour.mp4", "coffee.jpg")
    assert {name for name, _ in results(window)[:2]} == {"harbour.mp4", "coffee.jpg"}
    assert not strip.isVisible()  # new results: the strip waits for a video to be chosen


def test_a_clip_dropped_on_the_window_finds_the_video_it_was_cut_from(qtbot, make_window, tmp_path):
    from tests.videos import cut, greyed

    media = tmp_path / "Videos"
    media.mkdir()
    slideshow(media / "harbour.mp4")
    slideshow(media / "garden.mp4", ["rocket", "coffee"])
    clip = cut(media / "harbour.mp4", tmp_path / "from a phone.mp4", 3.5, 9.5, change=greyed)
    window = make_window()
    index_and_wait(qtbot, window, media)
    drop_files(window, clip)
    wait_results(qtbot, window)
    model = window.search_panel.results_model
    assert results(window)[0][0] == "harbour.mp4"
    assert model.index(0).data(MomentRole) in ("▶ 00:03", "▶ 00:04")  # where the clip starts
    assert results(window)[0][1] >= 0.6  # the share of the clip matched there
    assert window.search_panel.drop_zone.isVisible()


def test_the_filters_narrow_results_to_videos_of_a_length(qtbot, make_window, tmp_path):
    media = tmp_path / "Videos"
    media.mkdir()
    slideshow(media / "harbour.mp4")  # 12 s
    slideshow(media / "short.mp4", ["chelsea", "rocket"])  # 6 s
    photo("chelsea").save(media / "cat.jpg")
    query = tmp_path / "cat.png"
    photo("chelsea").resize((300, 200)).save(query)
    window = make_window()
    index_and_wait(qtbot, window, media)
    drop_files(window, query)
    wait_results(qtbot, window)
    assert {name for name, _ in results(window)} == {"harbour.mp4", "short.mp4", "cat.jpg"}
    panel = window.search_panel
    bar = panel.filters
    bar.toggle.setChecked(True)

    def names() -> set[str]:
        return {name for name, _ in results(window)}

    bar.kind.setCurrentIndex(bar.kind.findData("video"))
    qtbot.waitUntil(lambda: names() == {"harbour.mp4", "short.mp4"}, timeout=20_000)
    bar.min_length.setValue(10)
    qtbot.waitUntil(lambda: names() == {"harbour.mp4"}, timeout=20_000)
    chips = [c.text() for c in panel.chips.chips]
    assert any("videos only" in c for c in chips) and any("videos from 0:10" in c for c in chips)
    bar.clear.click()
    qtbot.waitUntil(lambda: names() == {"harbour.mp4", "short.mp4", "cat.jpg"}, timeout=20_000)
