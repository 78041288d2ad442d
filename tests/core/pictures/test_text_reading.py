"""Text in pictures: what a picture says is read, turned or not, with where it is; a
document's text layer is its text; a scanned page is read."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw, ImageFont

from image_finder.core.pictures.text_reading import read_text
from tests.helpers import run
from tests.videos import photo

pytest.importorskip("rapidocr")

LINES = ("Hotel Adler", "Invoice 2024-117", "Total EUR 184.50")


def receipt() -> Image.Image:
    image = Image.new("RGB", (900, 420), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for n, line in enumerate(LINES):
        draw.text((50, 50 + 120 * n), line, fill=(20, 20, 30), font=font)
    return image


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_the_lines_of_a_picture_are_read_whichever_way_it_is_turned(turn):
    found = read_text(receipt().rotate(turn, expand=True))
    assert sorted(line.text for line in found.lines) == sorted(LINES), turn
    assert all(0 <= v <= 1 for line in found.lines for v in line.box)
    assert all(line.score >= 0.8 for line in found.lines)


def test_upright_lines_come_top_to_bottom_with_their_places():
    found = read_text(receipt())
    assert [line.text for line in found.lines] == list(LINES)
    tops = [line.box[1] for line in found.lines]
    assert tops == sorted(tops) and found.turned == 0


def test_a_photo_without_writing_says_nothing():
    assert read_text(photo("coffee")).lines == ()


def test_the_command_line_prints_a_picture_s_and_a_document_s_text(tmp_path, capsys):
    picture = tmp_path / "receipt.jpg"
    receipt().save(picture, quality=70)
    code, out, _ = run(capsys, "text", str(picture))
    assert code == 0 and out.splitlines() == list(LINES)

    scanned = tmp_path / "scan.pdf"  # a page that is a picture: no text layer, read
    receipt().save(scanned, resolution=100)
    code, out, _ = run(capsys, "text", str(scanned), "--json")
    assert code == 0
    part = json.loads(out)["parts"][0]
    assert part["part"] == {"kind": "page", "number": 1} and part["source"] == "read"
    assert part["text"].splitlines() == list(LINES)

    code, _, err = run(capsys, "text", str(tmp_path / "missing.png"))
    assert code == 1 and "file not found" in err
    code, _, err = run(capsys, "text", str(scanned), "--page", "2")
    assert code == 1 and "no page 2" in err


def test_the_cheap_test_passes_writing_and_spares_photos():
    from image_finder.core.pictures.text_reading import has_text

    assert has_text(receipt()) and has_text(receipt().rotate(90, expand=True))
    assert not has_text(photo("coffee")) and not has_text(photo("chelsea"))
