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


def turned_box(box: tuple[float, ...], turn: int) -> tuple[float, ...]:
    """Where a box of the upright picture lies (as shares) once the picture is turned
    counter-clockwise by ``turn`` degrees."""
    x0, y0, x1, y1 = box
    return {0: (x0, y0, x1, y1), 90: (y0, 1 - x1, y1, 1 - x0),
            180: (1 - x1, 1 - y1, 1 - x0, 1 - y0), 270: (1 - y1, x0, 1 - y0, x1)}[turn]  # fmt: skip


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_the_lines_of_a_picture_are_read_in_order_whichever_way_it_is_turned(turn):
    upright = read_text(receipt())
    found = read_text(receipt().rotate(turn, expand=True))
    assert [line.text for line in found.lines] == list(LINES), turn
    assert found.turned == turn and not found.cut
    assert all(line.score >= 0.8 for line in found.lines)
    for line, straight in zip(found.lines, upright.lines, strict=True):  # placed on the picture
        assert line.box == pytest.approx(turned_box(straight.box, turn), abs=0.03), line.text


def test_a_picture_is_read_for_no_longer_than_its_time_limit():
    page = Image.new("RGB", (1200, 1600), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=30)
    for n in range(36):
        draw.text((60, 40 + 42 * n), f"Line {n} of the ledger, entry {1000 + n}", fill="black",
                  font=font)  # fmt: skip
    whole = read_text(page)
    assert len(whole.lines) == 36 and not whole.cut
    hurried = read_text(page, limit=0.0)
    assert hurried.cut and len(hurried.lines) < len(whole.lines)
    assert read_text(receipt()).lines == read_text(receipt()).lines  # the next read is whole


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
    screen = Image.new("RGB", (1920, 1080), (240, 240, 245))  # small text on a large screen
    draw = ImageDraw.Draw(screen)
    font = ImageFont.load_default(size=14)
    for n in range(12):
        draw.text((300, 100 + 22 * n), f"Traceback: error {n} in module foo.bar, line {n * 7}",
                  fill=(40, 40, 90), font=font)  # fmt: skip
    assert has_text(screen)
    assert not has_text(photo("coffee")) and not has_text(photo("chelsea"))
