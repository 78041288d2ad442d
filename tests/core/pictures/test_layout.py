from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from image_finder.core.pictures.images import load_image
from image_finder.core.pictures.layout import (
    LAYOUT_BYTES,
    MATCH,
    correlations,
    is_greyscale,
    same_colours,
    signature,
)

COLOUR = ("astronaut", "coffee", "chelsea", "rocket", "retina", "immunohistochemistry")
GREY = ("camera", "coins", "moon", "page", "horse", "clock")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def rec709(image: Image.Image) -> Image.Image:
    """Greyscale as other software makes it: other luma weights than Pillow's."""
    luma = np.asarray(image, np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return Image.fromarray(np.clip(luma, 0, 255).astype(np.uint8))


def test_pictures_without_colour_are_told_from_colour_ones(photos):
    for name in GREY:  # black-and-white photos stored as colour JPEGs
        assert is_greyscale(load_image(photos / f"{name}.jpg")), name
    for name in COLOUR:
        image = load_image(photos / f"{name}.jpg")
        assert not is_greyscale(image), name
        assert is_greyscale(jpeg(rec709(image).convert("RGB"), 50)), name
    assert is_greyscale(Image.new("L", (20, 20), 90))


def test_a_greyscale_copy_has_the_layout_of_its_original_and_no_other(photos):
    originals = [load_image(photos / f"{name}.jpg") for name in COLOUR + GREY]
    stored = [signature(image) for image in originals]
    assert all(len(s) == LAYOUT_BYTES for s in stored)
    for n, image in enumerate(originals[: len(COLOUR)]):
        half = (image.width // 2, image.height // 2)
        for grey in (ImageOps.grayscale(image), jpeg(rec709(image).resize(half), 50)):
            found = correlations([signature(grey)], stored)
            assert found[n] >= MATCH
            assert np.delete(found, n).max() < MATCH


def test_a_flat_picture_matches_nothing():
    flat = signature(Image.new("RGB", (50, 40), (128, 128, 128)))
    ramp = signature(Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (64, 1))))
    assert correlations([flat], [flat, ramp]).tolist() == [0.0, 0.0]
    assert correlations([ramp], [ramp])[0] > 0.999
    assert len(correlations([ramp], [])) == 0


def test_copies_keep_their_colours_and_a_recoloured_variant_does_not(photos):
    image = load_image(photos / "astronaut.jpg")
    original = signature(image)
    half = image.resize((image.width // 2, image.height // 2))
    for copy in (jpeg(image, 50), jpeg(half, 75), half.convert("P").convert("RGB")):
        assert same_colours(original, signature(copy))
    r, g, b = image.split()
    recoloured = signature(Image.merge("RGB", (b, g, r)))  # red and blue swapped
    assert correlations([original], [recoloured])[0] > 0.9  # much the same brightness...
    assert not same_colours(original, recoloured)  # ...but not the same picture
    assert not same_colours(original, signature(ImageOps.grayscale(image).convert("RGB")))
    assert not same_colours(original, original[:256])  # a layout of an earlier version
