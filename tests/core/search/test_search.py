from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageOps

from image_finder.core.common.records import FileFacts, NewImage
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.query_images import query_variants, uncropped
from image_finder.core.search.searcher import Query, Searcher, SearchOptions


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1))


def test_uncropped_keeps_the_picture_in_the_middle_of_its_own_reflection():
    image = gradient(100, 60)
    wider = uncropped(image)
    assert wider.size == (140, 84)
    pixels, original = np.asarray(wider), np.asarray(image)
    assert np.array_equal(pixels[12:72, 20:120], original)
    # the border continues the picture as a mirror: the column left of it repeats its first
    assert np.array_equal(pixels[12:72, 19], original[:, 0])
    assert np.array_equal(pixels[12:72, 0], original[:, 19])


@pytest.mark.parametrize(
    ("rotations", "crops", "count"),
    [(False, False, 1), (False, True, 2), (True, False, 8), (True, True, 16)],
)
def test_each_option_adds_its_variants_of_the_query(rotations, crops, count):
    variants = query_variants(gradient(40, 30), SearchOptions(rotations=rotations, crops=crops))
    assert len(variants) == count
    sizes = {v.size for v in variants}
    assert (40, 30) in sizes
    assert ((56, 42) in sizes) == crops
    assert ((30, 40) in sizes) == rotations


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    cw, ch = int(w * fraction), int(h * fraction)
    return image.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))


def test_rotated_and_cropped_copies_find_their_original(photos, library, lite0, tmp_path):
    index_folders([photos], library, lite0)
    searcher = Searcher(library, lite0)
    both = SearchOptions(top_k=3, rotations=True, crops=True)
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        original = Image.open(photos / f"{name}.jpg")
        turned = searcher.search(Query.of(original.transpose(Image.Transpose.ROTATE_90)), both)
        assert turned.results[0].path == str(photos / f"{name}.jpg")
        cut = searcher.search(Query.of(centre_crop(original, 0.5)), both)
        assert cut.results[0].path == str(photos / f"{name}.jpg")
        # the variants search never scores a copy above an identical image
        same = searcher.search(Query.of(photos / f"{name}.jpg"), both).results[0]
        assert same.path == str(photos / f"{name}.jpg")
        assert same.score == pytest.approx(1.0, abs=1e-3)

    # searching from a library item with the options re-reads the file for its variants
    item = library.item_by_path(photos / "coffee.jpg")
    assert item is not None
    outcome = searcher.search(Query.item(item), both)
    assert outcome.results[0].item.id == item.id


def test_a_black_and_white_copy_lists_its_colour_original_first(photos, library, lite0):
    index_folders([photos], library, lite0)
    searcher = Searcher(library, lite0)
    options = SearchOptions(top_k=5)
    for name in ("astronaut", "coffee", "chelsea", "rocket", "retina"):
        grey = ImageOps.grayscale(Image.open(photos / f"{name}.jpg"))
        results = searcher.search(Query.of(grey), options).results
        assert results[0].path == str(photos / f"{name}.jpg")
        assert results[0].grey_match
        assert not any(r.grey_match for r in results[1:])
        assert results[0].to_json()["grey_match"] is True
        # a colour query is ranked by the model alone
        colour = searcher.search(Query.of(photos / f"{name}.jpg"), options).results
        assert not any(r.grey_match for r in colour)
    # with rotations, a turned black-and-white copy also finds its original by its layout
    turned = ImageOps.grayscale(Image.open(photos / "chelsea.jpg")).rotate(90, expand=True)
    results = searcher.search(Query.of(turned), SearchOptions(top_k=5, rotations=True)).results
    assert results[0].path == str(photos / "chelsea.jpg") and results[0].grey_match


def test_layout_matches_come_first_whatever_their_score(library, tmp_path):
    """The ranking rule alone: vectors and layouts chosen by hand."""
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    layouts = {"original.png": ramp.tobytes(), "other.png": ramp.T.copy().tobytes()}
    vectors = np.array([[0.6, 0.8, 0.0], [0.8, 0.6, 0.0], [1.0, 0.0, 0.0]], np.float32)
    with library.writing():
        folder = library.add_folder(tmp_path)
        rows = [
            NewImage(
                folder.id, str(tmp_path / name), FileFacts(1, 1, name, 10, 10, layouts.get(name))
            )
            for name in ("original.png", "other.png", "old.png")  # old: indexed before layouts
        ]
        ids = library.apply_changes(model="m", added=rows, added_vectors=vectors)
    searcher = Searcher(library, SimpleNamespace(name="m"))  # type: ignore[arg-type]
    query = np.array([[1.0, 0.0, 0.0]], np.float32)
    plain = searcher.search_vectors(query, SearchOptions(top_k=3))
    assert [r.item.id for r in plain.results] == [ids[2], ids[1], ids[0]]
    grey = searcher.search_vectors(query, SearchOptions(top_k=3), [layouts["original.png"]])
    assert [r.item.id for r in grey.results] == [ids[0], ids[2], ids[1]]
    assert [r.grey_match for r in grey.results] == [True, False, False]
    assert grey.results[0].score == pytest.approx(0.6)  # the score stays the model's
    # a minimum score does not hide the original of a black-and-white copy
    strict = searcher.search_vectors(query, SearchOptions(min_score=0.9), [layouts["original.png"]])
    assert [r.item.id for r in strict.results] == [ids[0], ids[2]]


def test_one_route_for_every_kind_of_query(photos, library, lite0):
    """Files, image data and library items go through Searcher.search alike: a file that is
    in the library twice comes first whichever copy is asked, an item whose drive is offline
    is still searched (from its stored vector) with the variant options on, and a repeated
    query is not decoded again."""
    twin = photos / "coffee copy.jpg"
    twin.write_bytes((photos / "coffee.jpg").read_bytes())
    index_folders([photos], library, lite0)
    searcher = Searcher(library, lite0)
    for name in ("coffee.jpg", "coffee copy.jpg"):
        results = searcher.search(Query.file(photos / name), SearchOptions(top_k=3)).results
        assert results[0].path == str(photos / name)
        assert {r.path for r in results[:2]} == {str(photos / "coffee.jpg"), str(twin)}

    pasted = searcher.search(Query.image((photos / "rocket.jpg").read_bytes()))
    assert pasted.results[0].path == str(photos / "rocket.jpg")

    item = library.item_by_path(photos / "chelsea.jpg")
    (photos / "chelsea.jpg").unlink()  # its drive went away
    offline = searcher.search(Query.item(item), SearchOptions(top_k=3, rotations=True))
    assert offline.results[0].item.id == item.id
    assert offline.results[0].score == pytest.approx(1.0, abs=1e-4)

    calls = []
    embed = lite0.embed_tensors
    lite0.embed_tensors = lambda batch: calls.append(len(batch)) or embed(batch)
    try:
        query = Query.file(photos / "astronaut.jpg")
        first = searcher.search(query, SearchOptions(top_k=5))
        again = searcher.search(query, SearchOptions(top_k=2))
    finally:
        del lite0.embed_tensors
    assert calls == [1]  # the second search reused the query's features
    assert [r.path for r in again.results] == [r.path for r in first.results[:2]]


def test_an_empty_library_says_so_in_the_words_both_faces_show(library, lite0, photos):
    from image_finder.core.common.errors import EmptyLibraryError
    from image_finder.core.search.searcher import EMPTY_LIBRARY

    with pytest.raises(EmptyLibraryError) as raised:
        Searcher(library, lite0).search(Query.file(photos / "coffee.jpg"))
    assert str(raised.value) == EMPTY_LIBRARY
    assert "image-finder-cli" not in EMPTY_LIBRARY


def test_results_say_what_they_are_to_the_query(photos, library, lite0, tmp_path):
    """The query itself, a byte-identical copy, a mirrored and a shrunk copy are marked each
    for what it is, whatever the route; a query like nothing in the library says so."""
    from image_finder.core.search.searcher import MatchKind

    shutil.copy(photos / "coffee.jpg", photos / "coffee copy.jpg")
    ImageOps.mirror(Image.open(photos / "coffee.jpg")).save(photos / "mirrored.jpg", quality=92)
    Image.open(photos / "coffee.jpg").resize((200, 150)).save(photos / "small.png")
    index_folders([photos], library, lite0)
    searcher = Searcher(library, lite0)
    expected = {
        "coffee.jpg": MatchKind.QUERY,
        "coffee copy.jpg": MatchKind.IDENTICAL,
        "mirrored.jpg": MatchKind.SAME_PICTURE,
        "small.png": MatchKind.SAME_PICTURE,
    }
    outcome = searcher.search(Query.file(photos / "coffee.jpg"), SearchOptions(top_k=6))
    marks = {Path(r.path).name: r.match for r in outcome.results}
    assert {n: marks[n] for n in expected} == expected
    assert [m for n, m in marks.items() if n not in expected] == [MatchKind.NONE] * 2
    assert outcome.close_matches and outcome.to_json()["results"][1]["match"] == "identical"

    item = library.item_by_path(photos / "mirrored.jpg")
    again = searcher.search(Query.item(item), SearchOptions(top_k=3))
    assert again.results[0].match is MatchKind.QUERY and again.results[0].path == item.path

    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(noise)
    weak = searcher.search(Query.file(noise), SearchOptions(top_k=3))
    assert len(weak.results) == 3 and not weak.close_matches
    assert weak.to_json()["close_matches"] is False


def test_minimum_similarity_filters_the_score_as_shown(library, tmp_path):
    """A result shown as 0.30 (0.2954) stays at minimum 0.30; one shown as 0.29 goes."""
    angles = [np.arccos(0.2954), np.arccos(0.2949)]
    vectors = np.array([[np.cos(a), np.sin(a), 0.0] for a in angles], np.float32)
    with library.writing():
        folder = library.add_folder(tmp_path)
        rows = [
            NewImage(folder.id, str(tmp_path / f"{n}.png"), FileFacts(1, 1, str(n))) for n in (0, 1)
        ]
        ids = library.apply_changes(model="m", added=rows, added_vectors=vectors)
    searcher = Searcher(library, SimpleNamespace(name="m"))  # type: ignore[arg-type]
    query = np.array([[1.0, 0.0, 0.0]], np.float32)
    found = searcher.search_vectors(query, SearchOptions(top_k=3, min_score=0.30)).results
    assert [r.item.id for r in found] == [ids[0]]
    assert f"{found[0].score:.2f}" == "0.30"
