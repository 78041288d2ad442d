"""Duplicate groups from the stored vectors, keeper rules, reference folders, and moving the
extra copies safely."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image, ImageOps

from image_finder.cli import main
from image_finder.core.common.records import Item
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.duplicates import (
    DuplicateGroup,
    KeepRule,
    Tier,
    choose_keeper,
    find_duplicates,
    find_pairs,
    group_pairs,
)


@pytest.fixture
def planted(photos, tmp_path):
    """The photos plus: a byte copy of coffee, a half-size JPEG of it, a mirrored rocket (a
    similar picture, not the same), a crop of chelsea (another view of one photo) and the
    astronaut in warmer colours (an edit: the same brightness pattern, other colours)."""
    shutil.copy(photos / "coffee.jpg", photos / "coffee copy.jpg")
    coffee = Image.open(photos / "coffee.jpg")
    coffee.resize((coffee.width // 2, coffee.height // 2)).save(
        photos / "coffee half.jpg", quality=60
    )
    ImageOps.mirror(Image.open(photos / "rocket.jpg")).save(photos / "rocket mirrored.jpg")
    chelsea = Image.open(photos / "chelsea.jpg")
    w, h = chelsea.size
    chelsea.crop((0, 0, w * 3 // 4, h * 3 // 4)).save(photos / "chelsea crop.jpg")
    warm = np.asarray(Image.open(photos / "astronaut.jpg").convert("RGB")) * [1.15, 1.0, 0.8]
    Image.fromarray(warm.clip(0, 255).astype(np.uint8)).save(photos / "astronaut warm.jpg")
    return photos


def names(group: DuplicateGroup) -> set[str]:
    return {os.path.basename(i.path) for i in group.items}


def test_tiers_come_from_content_score_and_layout(planted, library, lite0):
    index_folders([planted], library, lite0)
    groups = find_duplicates(library, threshold=0.9)
    by_names = {frozenset(names(g)): g for g in groups}
    coffee = by_names[frozenset({"coffee.jpg", "coffee copy.jpg", "coffee half.jpg"})]
    assert coffee.tier is Tier.SAME  # held together by the half-size copy
    strict = find_duplicates(library, min_tier=Tier.IDENTICAL)
    assert [names(g) for g in strict] == [{"coffee.jpg", "coffee copy.jpg"}]
    assert strict[0].tier is Tier.IDENTICAL and strict[0].reclaimable == strict[0].items[1].size
    rocket = by_names.get(frozenset({"rocket.jpg", "rocket mirrored.jpg"}))
    assert rocket is not None and rocket.tier is Tier.SIMILAR  # a mirror is not the same file
    same = find_duplicates(library, min_tier=Tier.SAME)
    assert all("chelsea crop.jpg" not in names(g) for g in same)  # another view, not a copy
    assert not any("rocket mirrored.jpg" in names(g) for g in same)
    warm = by_names.get(frozenset({"astronaut.jpg", "astronaut warm.jpg"}))
    assert warm is not None and warm.tier is Tier.SIMILAR  # recoloured: an edit, not a copy
    # the groups come from the stored vectors: the files are not needed (an unplugged drive)
    planted.rename(planted.with_name("unplugged"))
    again = find_duplicates(library, threshold=0.9)
    assert [names(g) for g in again] == [names(g) for g in groups]


def test_a_threshold_regroups_without_searching_again(planted, library, lite0):
    index_folders([planted], library, lite0)
    pairs = find_pairs(library, threshold=0.5)
    loose = group_pairs(library, pairs, threshold=0.5)
    tight = group_pairs(library, pairs, threshold=0.99)
    assert sum(len(g.items) for g in loose) > sum(len(g.items) for g in tight)
    assert {frozenset(names(g)) for g in tight} == {
        frozenset({"coffee.jpg", "coffee copy.jpg", "coffee half.jpg"})
    }


def test_reference_folders_are_kept_and_not_compared_with_themselves(photos, tmp_path, lite0):
    from image_finder.core.stores.library import Library

    archive, incoming = tmp_path / "archive", tmp_path / "incoming"
    archive.mkdir()
    incoming.mkdir()
    for name in ("coffee.jpg", "rocket.jpg", "clock.jpg"):
        shutil.copy(photos / name, archive / name)
    shutil.copy(photos / "coffee.jpg", archive / "coffee again.jpg")  # within the archive only
    shutil.copy(photos / "rocket.jpg", incoming / "IMG_0001.jpg")
    shutil.copy(photos / "horse.jpg", incoming / "IMG_0002.jpg")
    with Library(tmp_path / "lib") as library:
        index_folders([archive, incoming], library, lite0)
        groups = find_duplicates(library, [str(incoming)], reference=[str(archive)])
        assert [names(g) for g in groups] == [{"rocket.jpg", "IMG_0001.jpg"}]
        group = groups[0]
        assert os.path.basename(group.keep.path) == "rocket.jpg"  # the reference copy
        assert [os.path.basename(i.path) for i in group.removable] == ["IMG_0001.jpg"]
        whole = find_duplicates(library, min_tier=Tier.IDENTICAL)
        assert {frozenset(names(g)) for g in whole} == {
            frozenset({"coffee.jpg", "coffee again.jpg"}),
            frozenset({"rocket.jpg", "IMG_0001.jpg"}),
        }


def test_keeper_rules_combine_in_order():
    def item(i, w, size, mtime, path):
        return Item(i, path, os.path.basename(path), "/f", size, mtime, "h", 0.0, "m", w, w)

    small_old = item(1, 100, 5_000, 1, "/f/a.jpg")
    big_new = item(2, 400, 3_000, 9, "/f/b.jpg")
    heavy = item(3, 400, 9_000, 5, "/f/long name c.jpg")
    both = [small_old, big_new, heavy]
    assert choose_keeper(both, [KeepRule.RESOLUTION]).id == 2  # tie on pixels: shortest path
    assert choose_keeper(both, [KeepRule.RESOLUTION, KeepRule.FILE_SIZE]).id == 3
    assert choose_keeper(both, [KeepRule.OLDEST]).id == 1
    assert choose_keeper(both, [KeepRule.FILE_SIZE]).id == 3
    assert choose_keeper(both, [KeepRule.REFERENCE, KeepRule.OLDEST], reference_ids={2}).id == 2
    raw = item(4, 100, 1_000, 9, "/f/d.dng")
    png = item(5, 400, 9_000, 1, "/f/e.png")
    formats = [png, raw, small_old]
    assert choose_keeper(formats, [KeepRule.ORIGINAL_FORMAT, KeepRule.RESOLUTION]).id == 4
    assert choose_keeper([png, small_old], [KeepRule.ORIGINAL_FORMAT]).id == 1


def test_trash_keeps_the_library_in_step_and_checks_each_file(planted, library, lite0, xdg_trash):
    from image_finder.core.indexing.cleanup import restore_from_trash, trash_images

    index_folders([planted], library, lite0)
    group = find_duplicates(library, min_tier=Tier.SAME)[0]
    extra = group.removable
    changed = next(i for i in extra if i.path.endswith("half.jpg"))
    Image.new("RGB", (40, 30), (9, 9, 9)).save(changed.path, "JPEG")  # edited since indexing
    report = trash_images(library, extra)
    assert [s.path for s in report.skipped] == [changed.path]
    assert report.skipped[0].reason.startswith("changed since it was indexed")
    assert os.path.exists(changed.path)
    moved = [i.path for i in report.done]
    assert moved and not any(os.path.exists(p) for p in moved)
    assert all(library.item_by_path(p) is None for p in moved)  # the library follows at once
    trashed = list((xdg_trash / "files").iterdir())
    assert len(trashed) == len(moved)  # in the trash, not deleted
    assert restore_from_trash(moved) == moved
    assert all(os.path.exists(p) for p in moved)


def test_read_only_media_get_a_clear_message(planted, library, lite0, tmp_path, monkeypatch):
    import errno

    import send2trash

    from image_finder.core.indexing.cleanup import trash_images

    index_folders([planted], library, lite0)
    group = find_duplicates(library, min_tier=Tier.IDENTICAL)[0]

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(send2trash, "send2trash", read_only)
    report = trash_images(library, group.removable)
    assert not report.done and "read-only" in report.skipped[0].reason
    assert all(library.item_by_path(i.path) is not None for i in group.items)


def test_cli_lists_groups_as_json_and_trashes_the_others(planted, tmp_path, capsys, xdg_trash):
    data = str(tmp_path / "cli-lib")
    assert main(["--data-dir", data, "index", str(planted), "--model", "efficientnet_lite0"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "--json", "duplicates", "--tier", "same"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert len(groups) == 1 and groups[0]["tier"] == "same"
    item = groups[0]["items"][0]
    assert set(item) >= {"path", "bytes", "width", "height", "modified"}
    keep = groups[0]["keep"]
    # asks before moving anything; without a terminal it needs --yes
    assert main(["--data-dir", data, "duplicates", "--tier", "same"]) == 0
    assert "\n1. same picture · 3 images · score" in capsys.readouterr().out  # words, not codes
    assert main(["--data-dir", data, "duplicates", "--tier", "same", "--trash-others"]) == 1
    assert "--yes" in capsys.readouterr().err
    code = main(["--data-dir", data, "duplicates", "--tier", "same", "--trash-others", "--yes"])
    out = capsys.readouterr().out
    assert code == 0 and out.count("moved to the trash:") == 2
    assert os.path.exists(keep)
    assert main(["--data-dir", data, "duplicates", "--threshold", "2"]) == 1
    assert main(["--data-dir", data, "duplicates", "/not/in/library"]) == 1


def test_the_default_keeper_is_the_original_not_a_larger_re_save(photos, tmp_path, lite0):
    """Planted re-saves: a PNG of a camera JPEG (larger file), a WebP and a byte copy made
    later. The original JPEG is kept; each copy says how it relates to it, in the JSON too."""
    from image_finder.core.stores.library import Library

    originals = ["coffee", "chelsea", "astronaut", "rocket"]
    for name in originals:
        jpeg = photos / f"{name}.jpg"
        Image.open(jpeg).save(photos / f"{name} resave.png")
        Image.open(jpeg).save(photos / f"{name} resave.webp", quality=95)
        shutil.copy(jpeg, photos / f"{name} copy.jpg")
        os.utime(photos / f"{name} copy.jpg", (2e9, 2e9))  # copied later
        assert (photos / f"{name} resave.png").stat().st_size > jpeg.stat().st_size
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)
        groups = find_duplicates(library, min_tier=Tier.SAME)
        kept = {os.path.basename(g.keep.path) for g in groups}
        assert kept == {f"{name}.jpg" for name in originals}
        for group in groups:
            relations = {os.path.basename(i.path): group.relation(i)[0] for i in group.items}
            name = os.path.basename(group.keep.path)[:-4]
            assert relations[f"{name} copy.jpg"] is Tier.IDENTICAL
            assert relations[f"{name} resave.png"] is Tier.SAME
            assert all(i in group.removable for i in group.items if i.id != group.keep.id)
        data = groups[0].to_json()
        matches = {os.path.basename(i["path"]): (i["match"], i["score"]) for i in data["items"]}
        assert sorted(m for m, _ in matches.values()) == ["identical", "keep", "same", "same"]
        assert all(0.7 <= s <= 1.0 for _, s in matches.values())
