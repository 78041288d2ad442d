"""A clip as the query: the video it was cut from, where, however the copy was re-encoded."""

from __future__ import annotations

import pytest

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.clips import search_clip
from image_finder.core.stores.library import Library
from tests.videos import cut, greyed, letterboxed, photo, slideshow, with_logo

pytest.importorskip("av")

COPIES = {
    "re-encoded at 360p": {"size": (640, 360)},
    "letterboxed": {"change": letterboxed, "size": (640, 480)},
    "greyed": {"change": greyed},
    "with a logo": {"change": with_logo},
}


@pytest.fixture(scope="module")
def library_of_videos(tmp_path_factory, lite0):
    folder = tmp_path_factory.mktemp("clips")
    media = folder / "media"
    media.mkdir()
    slideshow(media / "source.mp4", size=(854, 480))  # astronaut, coffee, chelsea, rocket
    slideshow(media / "other.mp4", ["hubble_deep_field", "immunohistochemistry", "coffee"])
    photo("chelsea").save(media / "cat.jpg")
    library = Library(folder / "lib")
    index_folders([media], library, lite0)
    yield library, media, folder
    library.close()


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_a_cut_copied_clip_finds_its_source_at_its_time(library_of_videos, lite0, copy):
    library, media, folder = library_of_videos
    clip = cut(media / "source.mp4", folder / f"{copy}.mp4", 4.0, 10.5, **COPIES[copy])
    outcome = search_clip(library, lite0, clip)
    assert outcome.videos, copy
    best = outcome.videos[0]
    assert best.item.path == str(media / "source.mp4")
    assert 3.0 <= best.start <= 5.0 and best.end == pytest.approx(best.start + 6.5, abs=1.0)
    assert best.score >= 0.6, (copy, best.score)
    for other in outcome.videos[1:]:  # the other video shares a scene (coffee) only
        assert other.score < best.score
    shape = outcome.to_json()
    assert {"from", "to", "score", "matched", "part"} <= set(shape["videos"][0])
    if copy != "greyed":  # the cat photo is a frame of the clip (its scene is in it)
        assert [item.filename for item, _ in outcome.photos] == ["cat.jpg"]


def test_a_clip_from_nowhere_finds_nothing(library_of_videos, lite0, tmp_path):
    library, _, _ = library_of_videos
    clip = slideshow(tmp_path / "elsewhere.mp4", ["page", "brick"], seconds=3.0)
    outcome = search_clip(library, lite0, clip)
    assert outcome.videos == [] and outcome.photos == []
