"""Duplicates among videos: re-encoded and trimmed copies of one video are the same video,
each saying which stretch of the keeper it covers; a video with the same pictures in another
order is not; a photo that is one of its frames is its still."""

from __future__ import annotations

import re

import pytest

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.duplicates import Tier, find_duplicates
from image_finder.core.stores.library import Library
from tests.videos import SCENES, cut, greyed, photo, slideshow

pytest.importorskip("av")


@pytest.fixture(scope="module")
def groups(tmp_path_factory, lite0):
    media = tmp_path_factory.mktemp("video-copies") / "media"
    media.mkdir()
    source = slideshow(media / "holiday.mp4", size=(480, 270))  # 4 scenes of 3 s
    cut(source, media / "holiday small.mkv", 0.0, 12.0, size=(320, 180))
    cut(source, media / "holiday trimmed.mp4", 3.0, 9.0, size=(400, 224), change=greyed)
    slideshow(media / "shuffled.mp4", SCENES[::-1], size=(480, 270))  # same pictures, reversed
    slideshow(media / "elsewhere.mp4", ["page", "brick", "moon"], size=(480, 270))
    photo("chelsea").resize((640, 427)).save(media / "cat.jpg")
    with Library(media.parent / "lib") as library:
        index_folders([media], library, lite0)
        yield find_duplicates(library)


def _names(group) -> dict[str, dict]:
    return {entry["filename"]: entry for entry in group.to_json()["items"]}


def test_re_encoded_and_trimmed_copies_are_the_same_video(groups):
    group = next(g for g in groups if g.keep.filename == "holiday.mp4")
    entries = _names(group)
    assert entries["holiday.mp4"]["match"] == "keep"  # the camera's container, largest
    small, trimmed = entries["holiday small.mkv"], entries["holiday trimmed.mp4"]
    assert small["match"] == trimmed["match"] == "same-video"
    assert small["covers"]["from"] == pytest.approx(0.0, abs=1.0)
    assert small["covers"]["to"] == pytest.approx(12.0, abs=1.5)
    assert trimmed["covers"]["from"] == pytest.approx(3.0, abs=1.0)
    assert trimmed["covers"]["to"] == pytest.approx(9.0, abs=1.5)
    assert trimmed["score"] >= 0.8
    words = group.where(next(i for i in group.items if i.filename == "holiday trimmed.mp4"))
    assert re.fullmatch(r" of 00:0[234]–00:(08|09|10)", words)  # as the CLI and window say
    removable = sorted(i.filename for i in group.removable)
    assert removable == ["holiday small.mkv", "holiday trimmed.mp4"]
    for item in group.items:  # a video is one member, its whole file
        assert item.part is not None and item.part.at == 0.0


def test_the_same_pictures_in_another_order_are_not_the_same_video(groups):
    for group in groups:
        names = {i.filename for i in group.items}
        if "shuffled.mp4" in names and "holiday.mp4" in names:
            relation = group.relation(next(i for i in group.items if i.filename == "shuffled.mp4"))
            assert relation[0] < Tier.SAME_VIDEO
    assert not any("elsewhere.mp4" in {i.filename for i in g.items} for g in groups)


def test_a_photo_that_is_a_frame_of_a_video_is_its_still(groups):
    group = next(g for g in groups if "cat.jpg" in {i.filename for i in g.items})
    cat = _names(group)["cat.jpg"]
    assert cat["match"] == "still"
    assert group.keep.part is not None  # the video is kept
    scene = {"holiday.mp4": 2, "shuffled.mp4": 1}[group.keep.filename]  # chelsea's scene
    assert cat["at"] == pytest.approx(3.0 * scene, abs=1.0)
    assert "cat.jpg" not in {i.filename for i in group.removable}
    assert group.where(next(i for i in group.items if i.filename == "cat.jpg")) == (
        f" at 00:0{3 * scene}"
    )
