from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from image_finder.core.indexing import index_folders
from image_finder.core.search import (
    Searcher,
    SearchOptions,
    query_variants,
    uncropped,
)


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
        turned = searcher.search_image(original.transpose(Image.Transpose.ROTATE_90), both)
        assert turned.results[0].path == str(photos / f"{name}.jpg")
        cut = searcher.search_image(centre_crop(original, 0.5), both)
        assert cut.results[0].path == str(photos / f"{name}.jpg")
        # the variants search never scores a copy above an identical image
        same = searcher.search_image(photos / f"{name}.jpg", both).results[0]
        assert same.path == str(photos / f"{name}.jpg")
        assert same.score == pytest.approx(1.0, abs=1e-3)

    # searching from a library item with the options re-reads the file for its variants
    item = library.item_by_path(photos / "coffee.jpg")
    assert item is not None
    outcome = searcher.search_item(item.id, both)
    assert outcome.results[0].item.id == item.id
