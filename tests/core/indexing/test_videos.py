"""Videos in a library: their moments indexed as parts of the file, found at their time."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from image_finder.core.common.records import Part
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.searcher import Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library
from image_finder.text import index_summary
from tests.videos import SCENES, audio_only, photo, slideshow

pytest.importorskip("av")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """An H.264 slideshow (keyframes at its cuts) and a VP9 one (cuts inside a keyframe's
    span), 3 s a scene, and the photos of two of the scenes."""
    folder = tmp_path_factory.mktemp("clips")
    slideshow(folder / "holiday.mp4")
    slideshow(folder / "garden.webm", SCENES[::-1], codec="libvpx-vp9")
    return folder


@pytest.fixture
def media(clips: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    shutil.copytree(clips, folder)
    photo("coffee").save(folder / "coffee.jpg")
    return folder


def _moments(library: Library, path: Path) -> list[float]:
    return [i.part.at for i in library.file_items(path) if i.part is not None]


def _scene_starts(order) -> dict[str, float]:
    return {name: 3.0 * n for n, name in enumerate(order)}


def test_a_video_is_indexed_as_its_moments_and_found_at_its_time(media, tmp_path, lite0):
    with Library(tmp_path / "lib") as library:
        report = index_folders([media], library, lite0)
        assert (report.added, report.videos, report.skipped) == (3, 2, [])
        assert report.video_seconds == pytest.approx(24.0, abs=0.5)
        assert "2 videos (0:24 of video, " in index_summary(report)
        for clip, order in (("holiday.mp4", SCENES), ("garden.webm", SCENES[::-1])):
            times = _moments(library, media / clip)
            for start in _scene_starts(order).values():  # every scene has a moment
                assert any(start - 0.1 <= t < start + 3.0 for t in times), (clip, start, times)
            assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
        searcher = Searcher(library, lite0)
        for scene in ("chelsea", "rocket"):
            query = tmp_path / f"{scene}.png"
            photo(scene).save(query)
            results = searcher.search(Query.file(str(query)), SearchOptions(top_k=5)).results
            found = {r.item.filename: r for r in results}
            for clip, order in (("holiday.mp4", SCENES), ("garden.webm", SCENES[::-1])):
                best = found[clip]  # one result for the video, at the scene's moment
                assert best.item.part is not None and best.item.part.kind == "time"
                start = _scene_starts(order)[scene]
                assert start - 1.0 <= best.item.part.at <= start + 3.0
                assert [r.item.filename for r in results].count(clip) == 1
                shape = best.to_json()
                assert shape["part"] == {"kind": "time", "seconds": best.item.part.at}
                assert shape["moments"] and {"seconds", "score", "id"} <= set(shape["moments"][0])
        coffee = library.item_by_path(media / "coffee.jpg")
        assert coffee is not None and coffee.part is None and coffee.label == "coffee.jpg"
        every = Searcher(library, lite0).search(
            Query.file(str(media / "coffee.jpg")), SearchOptions(top_k=50, group_parts=False)
        )
        assert sum(r.item.filename == "holiday.mp4" for r in every.results) == len(
            _moments(library, media / "holiday.mp4")
        )


def test_a_phone_video_is_indexed_upright(tmp_path, lite0):
    """A portrait video stored sideways, with the rotation the phone wrote."""
    folder = tmp_path / "phone"
    folder.mkdir()
    portrait = photo("astronaut").crop((100, 0, 388, 512))  # taller than wide
    portrait.save(tmp_path / "portrait.png")
    slideshow(folder / "portrait.mp4", ["astronaut"], size=(512, 288), turn=90, rotation=-90)
    with Library(tmp_path / "lib") as library:
        index_folders([folder], library, lite0)
        items = library.file_items(folder / "portrait.mp4")
        assert items and all(i.height > i.width for i in items)  # type: ignore[operator]


def test_bad_videos_are_skipped_with_their_reason_and_the_rest_goes_on(media, tmp_path, lite0):
    audio_only(media / "voice memo.mp4")
    (media / "empty.mov").write_bytes(b"")
    (media / "garbage.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 40)
    whole = (media / "holiday.mp4").read_bytes()
    (media / "cut short.mp4").write_bytes(whole[: len(whole) // 3])  # its index is at the end
    slideshow(tmp_path / "whole.mkv")
    whole = (tmp_path / "whole.mkv").read_bytes()
    (media / "cut short.mkv").write_bytes(whole[: len(whole) // 2])  # it plays half-way
    with Library(tmp_path / "lib") as library:
        report = index_folders([media], library, lite0)
        reasons = {Path(s.path).name: s.reason for s in report.skipped}
        assert "audio" in reasons["voice memo.mp4"]
        assert reasons["empty.mov"] == "an empty file"
        assert reasons["cut short.mkv"].startswith("cut short: it ends at 00:0")
        assert {"garbage.mkv", "cut short.mp4"} <= set(reasons)
        assert all(reasons.values())
        assert _moments(library, media / "holiday.mp4")
        assert library.item_by_path(media / "coffee.jpg") is not None
        for name in reasons:
            assert library.item_by_path(media / name) is None


def test_a_changed_video_has_its_parts_replaced_and_a_moved_one_keeps_them(media, tmp_path, lite0):
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        before = library.file_items(media / "holiday.mp4")
        (media / "trips").mkdir()
        shutil.move(media / "holiday.mp4", media / "trips" / "holiday 2024.mp4")
        report = index_folders([media], library, lite0)
        assert (report.moved, report.added, report.removed) == (1, 0, 0)
        moved = library.file_items(media / "trips" / "holiday 2024.mp4")
        assert [(i.id, i.part) for i in moved] == [(i.id, i.part) for i in before]
        assert library.file_items(media / "holiday.mp4") == []

        slideshow(media / "trips" / "holiday 2024.mp4", ["coffee", "rocket"], seconds=2.0)
        count = library.count()
        report = index_folders([media], library, lite0)
        assert report.updated == 1
        after = library.file_items(media / "trips" / "holiday 2024.mp4")
        assert max(i.part.at for i in after if i.part) < 4.0  # the new video's moments only
        assert len(after) < len(before)
        assert library.count() == count - len(before) + len(after)
        assert library.vector_index.info()["vectors"] == library.count()


def test_a_cancel_in_a_video_leaves_none_of_its_parts_and_the_next_run_finishes_it(
    media, tmp_path, lite0
):
    (media / "coffee.jpg").unlink()
    (media / "garden.webm").unlink()
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 40  # in the middle of the video's frames

    with Library(tmp_path / "lib") as library:
        report = index_folders([media], library, lite0, cancelled=cancelled)
        assert report.cancelled and library.count() == 0
        report = index_folders([media], library, lite0)
        assert report.added == 1 and len(_moments(library, media / "holiday.mp4")) >= 4


def test_part_keys_and_labels():
    moment = Part.time(83.2)
    assert Part.from_key(moment.key) == moment and moment.label == "01:23"
    assert Part.time(3723).label == "1:02:03"
    assert moment.to_json() == {"kind": "time", "seconds": 83.2}
    assert Part.from_key(None) is None
    with pytest.raises(ValueError):
        Part("chapter", 1)


def test_a_search_narrowed_to_videos_or_photos(media, tmp_path, lite0, capsys):
    from image_finder.cli import main
    from image_finder.core.search.conditions import Conditions

    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        searcher = Searcher(library, lite0)
        query = Query.file(str(media / "coffee.jpg"))
        videos = searcher.search(query.where(Conditions(kind="video")), SearchOptions(top_k=10))
        assert {r.item.filename for r in videos.results} == {"holiday.mp4", "garden.webm"}
        photos = searcher.search(query.where(Conditions(kind="photo")), SearchOptions(top_k=10))
        assert [r.item.filename for r in photos.results] == ["coffee.jpg"]
    code = main(["--data-dir", str(tmp_path / "lib"), "search", str(media / "coffee.jpg"),
                 "--kind", "video", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and {r["part"]["kind"] for r in out["results"]} == {"time"}
    with pytest.raises(SystemExit) as refused:
        main(["--data-dir", str(tmp_path / "lib"), "search", str(media / "coffee.jpg"),
              "--kind", "film"])  # fmt: skip
    assert refused.value.code != 0 and "invalid choice: 'film'" in capsys.readouterr().err


def test_a_search_narrowed_by_a_video_s_length(media, tmp_path, lite0, capsys):
    from image_finder.cli import main
    from image_finder.core.search.conditions import Conditions

    slideshow(media / "short.mp4", ["coffee", "rocket"])  # 6 s; the others are 12 s
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        searcher = Searcher(library, lite0)
        query = Query.file(str(media / "coffee.jpg"))
        for conditions, expected in (
            (Conditions.from_values(min_duration="0:10"), {"holiday.mp4", "garden.webm"}),
            (Conditions.from_values(max_duration=8), {"short.mp4"}),
            (Conditions(min_duration=5, max_duration=13), {"holiday.mp4", "garden.webm",
                                                           "short.mp4"}),
        ):  # fmt: skip
            found = searcher.search(query.where(conditions), SearchOptions(top_k=20))
            assert {r.item.filename for r in found.results} == expected, conditions
        words = dict(Conditions.from_values(min_duration="1:30", max_duration="1:02:03").parts())
        assert words == {"min_duration": "videos from 1:30", "max_duration": "videos up to 1:02:03"}
    code = main(["--data-dir", str(tmp_path / "lib"), "search", str(media / "coffee.jpg"),
                 "--max-duration", "0:08", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and {r["filename"] for r in out["results"]} == {"short.mp4"}
    code = main(["--data-dir", str(tmp_path / "lib"), "search", str(media / "coffee.jpg"),
                 "--min-duration", "ten"])  # fmt: skip
    assert code == 1 and "a duration is seconds or [H:]M:SS" in capsys.readouterr().err


def test_duplicates_of_photos_leave_a_video_s_moments_alone(media, tmp_path, lite0):
    """A video's moments share its content hash, and a moment can look like a photo: none of
    them is a photo's copy to move to the trash (which would take the whole video). A photo
    that is a frame of a video is its still, which is never removed unasked."""
    from image_finder.core.search.duplicates import Tier, find_duplicates, find_pairs

    shutil.copy(media / "coffee.jpg", media / "coffee copy.jpg")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        pairs = find_pairs(library, threshold=0.5)
        moments = set(library.part_ids().tolist())
        assert len(moments) >= 8
        photo_tiers = {Tier.IDENTICAL, Tier.SAME, Tier.SIMILAR}
        photo_pairs = [pair for pair, (tier, _) in pairs.found.items() if tier in photo_tiers]
        assert [set(pair) & moments for pair in photo_pairs] == [set()]
        assert {library.items(list(photo_pairs[0]))[i].filename for i in photo_pairs[0]} == {
            "coffee.jpg", "coffee copy.jpg"
        }  # fmt: skip
        stills = [pair for pair, (tier, _) in pairs.found.items() if tier is Tier.STILL]
        assert stills, "the coffee photo is a frame of both videos"
        for group in find_duplicates(library, threshold=0.5):
            assert not {i.id for i in group.removable} & moments
            assert [i.filename for i in group.removable] in ([], ["coffee copy.jpg"])


def test_taking_a_folder_of_videos_out_keeps_no_stale_backup(media, tmp_path, lite0):
    """The backup's guard against a library that lost most of its items counts rows: taking
    a folder of videos out (many moments, few files) is a removal asked for, not a loss."""
    for n in range(2):
        shutil.copy(media / "holiday.mp4", media / f"holiday {n}.mp4")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        library.backup()
        assert library.count() >= 16  # rows enough for the guard to look (10), 4 videos
        library.remove_folders([str(media)])
        assert library.count() == 0
        kept = [p.name for p in (tmp_path / "lib").iterdir() if "backup-kept" in p.name]
        assert kept == [] and library.notices == []


def test_the_settings_say_how_often_a_video_keeps_a_moment_and_if_results_list_each(
    tmp_path, capsys
):
    """``moment_seconds``: a still scene keeps a moment that often; ``every_moment``: each
    matching moment is a result of its own (by default a video shows once)."""
    from image_finder.cli import main
    from image_finder.core.config.settings import Settings

    media = tmp_path / "media"
    media.mkdir()
    slideshow(media / "still.mp4", ["coffee"], seconds=12.0)  # one scene, 12 s
    photo("coffee").save(tmp_path / "coffee.jpg")

    def indexed(name: str) -> list[dict]:
        data = str(tmp_path / name)
        assert main(["--data-dir", data, "index", str(media)]) == 0
        capsys.readouterr()
        assert main(["--data-dir", data, "search", str(tmp_path / "coffee.jpg"), "--json"]) == 0
        return json.loads(capsys.readouterr().out)["results"]

    by_default = indexed("default")
    assert len(by_default) == 1  # the video once, its moments listed: 0:00 and 0:10
    assert [m["seconds"] for m in by_default[0]["moments"]] == [0.0, 10.0]
    Settings(moment_seconds=3, every_moment=True).save()
    listed = indexed("often")
    assert [r["filename"] for r in listed] == ["still.mp4"] * len(listed)
    assert sorted(round(r["part"]["seconds"]) for r in listed) == [0, 3, 6, 9]


def test_several_examples_and_a_concept_work_on_moments_as_on_photos(media, tmp_path, lite0):
    """Moments are items like photos: two moments together are a query, one left out is
    "not like this", and a concept learned from moments finds the moments that show it."""
    from image_finder.core.learning import concepts

    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        holiday = library.file_items(media / "holiday.mp4")  # astronaut, coffee, chelsea, rocket
        garden = library.file_items(media / "garden.webm")  # rocket, chelsea, coffee, astronaut
        searcher = Searcher(library, lite0)
        coffee, chelsea = holiday[1], holiday[2]
        both = Query.together([Query.item(coffee), Query.item(chelsea)])
        found = searcher.search(both, SearchOptions(top_k=5, group_parts=False))
        best = {(r.item.filename, round(r.item.part.at)) for r in found.results[:4] if r.item.part}
        assert {("holiday.mp4", 3), ("holiday.mp4", 6)} <= best  # the examples themselves
        assert {("garden.webm", 3), ("garden.webm", 6)} & best  # and their scenes elsewhere
        unlike = searcher.search(Query.item(coffee).but_not(Query.item(garden[2])),
                                 SearchOptions(top_k=10, group_parts=False))  # fmt: skip
        assert garden[2].id not in {r.item.id for r in unlike.results}

        with library.writing():
            concepts.learn(library, "cat", [chelsea.id, garden[1].id], [coffee.id, holiday[0].id])
        shown = searcher.search(Query.of_concept("cat"), SearchOptions(top_k=2, group_parts=False))
        assert {(r.item.filename, round(r.item.part.at)) for r in shown.results} == {
            ("holiday.mp4", 6), ("garden.webm", 3)
        }  # fmt: skip
