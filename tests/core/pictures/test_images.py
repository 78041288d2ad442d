from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.pictures.images import load_image
from tests import corpus


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    folder = tmp_path_factory.mktemp("awkward")
    return folder, corpus.build(folder)


def test_good_files_load_as_rgb_and_bad_ones_raise_with_a_reason(awkward):
    folder, expected = awkward
    for name, verdict in expected.items():
        path = os.path.join(folder, name)
        if verdict == "ok":
            image = load_image(path)
            assert image.mode == "RGB", name
            assert image.width >= 1 and image.height >= 1
        else:
            with pytest.raises(ImageLoadError) as info:
                load_image(path)
            assert info.value.reason, name
            assert info.value.path == path


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("zero-bytes.jpg", "empty"),
        ("truncated.jpg", "truncated"),
        ("text.jpg", "not an image"),
        ("page.png", "not an image"),
        ("bomb.png", "too large"),
    ],
)
def test_reasons_say_what_is_wrong(awkward, name, words):
    folder, _ = awkward
    with pytest.raises(ImageLoadError, match=words):
        load_image(os.path.join(folder, name))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError):
        load_image(tmp_path)


# Where the stored top-left corner appears once the EXIF orientation is applied.
MARK_CORNER = {1: "tl", 2: "tr", 3: "br", 4: "bl", 5: "tl", 6: "tr", 7: "br", 8: "bl"}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(awkward, orientation):
    folder, _ = awkward
    image = load_image(folder / f"exif-orientation-{orientation}.jpg")
    # stored 60x30; orientations 5-8 turn the picture by 90 degrees
    assert image.size == ((30, 60) if orientation >= 5 else (60, 30))
    w, h = image.size
    corners = {"tl": (3, 3), "tr": (w - 4, 3), "bl": (3, h - 4), "br": (w - 4, h - 4)}
    for corner, xy in corners.items():
        r, g, b = image.getpixel(xy)
        is_red = r > 180 and g < 80 and b < 80
        assert is_red == (corner == MARK_CORNER[orientation]), (corner, (r, g, b))


def test_a_polyglot_and_a_huge_exif_block_still_decode(awkward):
    folder, _ = awkward
    assert load_image(folder / "polyglot-jpeg-zip.jpg").size == (320, 240)
    assert load_image(folder / "huge-exif.jpg").size == (320, 240)


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent red
    assert load_image(rgba).getpixel((5, 5)) == (255, 255, 255)
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    assert load_image(palette).getpixel((1, 1)) == (255, 255, 255)


def test_16_bit_greyscale_keeps_its_full_range(awkward):
    folder, _ = awkward
    pixels = np.asarray(load_image(folder / "16-bit.png"))
    assert pixels.min() <= 1 and pixels.max() >= 254  # scaled, not clipped at 255
    assert len(np.unique(pixels[..., 0])) > 200


def test_cmyk_becomes_rgb_with_similar_colours():
    original = Image.new("RGB", (8, 8), (200, 30, 40))
    buf = io.BytesIO()
    original.convert("CMYK").save(buf, "JPEG", quality=95)
    r, g, b = load_image(buf.getvalue()).getpixel((4, 4))
    assert r > 150 and g < 80 and b < 90


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    r, _, b = load_image(buf.getvalue()).getpixel((4, 4))
    assert r > 200 and b < 50


def test_draft_mode_decodes_large_jpegs_smaller_but_not_below_the_request():
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(buf, "JPEG")
    image = load_image(buf.getvalue(), min_size=300)
    assert 300 <= min(image.size) < 3000
    assert load_image(buf.getvalue()).size == (4000, 3000)


def test_heic_and_avif_are_read(tmp_path):
    image = Image.new("RGB", (64, 48), (30, 160, 90))
    for fmt in ("AVIF", "HEIF"):
        path = tmp_path / f"photo.{fmt.lower()}"
        image.save(path, fmt)
        loaded = load_image(path)
        assert loaded.size == (64, 48)
        assert abs(loaded.getpixel((32, 24))[1] - 160) < 20
