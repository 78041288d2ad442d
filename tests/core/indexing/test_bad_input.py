"""Messy folders and mangled files: every outcome is an image or a clear, reported reason."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from image_finder.cli import main
from image_finder.core.common.errors import ImageLoadError
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.pictures.images import load_image
from tests import corpus


def _seed_files() -> list[bytes]:
    image = Image.new("RGB", (40, 30), (10, 200, 90))
    image.paste((200, 30, 30), (5, 5, 20, 20))
    seeds = []
    for fmt, extra in (
        ("JPEG", {}),
        ("PNG", {}),
        ("GIF", {}),
        ("WEBP", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("JPEG", {"progressive": True}),
    ):
        buf = io.BytesIO()
        image.save(buf, fmt, **extra)
        seeds.append(buf.getvalue())
    return seeds


SEEDS = _seed_files()


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif data:
            data[at : at + 16] = bytes(min(16, len(data) - at))
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_image_bytes_give_an_image_or_our_error(data):
    try:
        image = load_image(data, min_size=32)
    except ImageLoadError as exc:
        assert exc.reason
    else:
        assert image.mode == "RGB" and image.width >= 1 and image.height >= 1


def test_files_that_vanish_or_change_after_the_scan(tmp_path, library, lite0, monkeypatch):
    from image_finder.core.indexing import indexer as indexing

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        img = Image.new("RGB", (64, 64), (40 * i, 255 - 40 * i, 90))
        img.save(folder / f"p{i}.jpg")
    read = indexing.read_file

    def racing_read(path):  # another program touches the files just before they are read
        name = os.path.basename(path)
        if name == "p1.jpg":
            os.unlink(path)
        elif name == "p2.jpg":
            Path(path).write_bytes(b"now a text file")
        elif name == "p3.jpg":
            Image.new("RGB", (80, 50), (0, 0, 0)).save(path)
        return read(path)

    monkeypatch.setattr(indexing, "read_file", racing_read)
    report = index_folders([folder], library, lite0, batch_size=2)
    monkeypatch.setattr(indexing, "read_file", read)
    reasons = {os.path.basename(s.path): s.reason for s in report.skipped}
    assert set(reasons) == {"p1.jpg", "p2.jpg"}
    assert "disappeared" in reasons["p1.jpg"] and "not an image" in reasons["p2.jpg"]
    assert report.added == library.count() == 4
    p3 = library.item_by_path(folder / "p3.jpg")
    assert p3 is not None and p3.size == (folder / "p3.jpg").stat().st_size
    again = index_folders([folder], library, lite0)  # nothing left to do but the junk file
    assert again.embedded == 0 and [os.path.basename(s.path) for s in again.skipped] == ["p2.jpg"]


@pytest.mark.slow
def test_every_awkward_file_as_a_query_gives_results_or_one_readable_line(tmp_path, capsys):
    expected = corpus.build(tmp_path / "mess")
    data = str(tmp_path / "lib")
    assert (
        main(
            [
                "--data-dir",
                data,
                "index",
                str(tmp_path / "mess"),
                "--model",
                "efficientnet_lite0",
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    names = sorted(expected)
    code = main(
        [
            "--data-dir",
            data,
            "--json",
            "search",
            "--top-k",
            "1",
            *[str(tmp_path / "mess" / n) for n in names],
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1  # some queries were bad
    answered = [
        os.path.basename(line["query"]) for line in map(__import__("json").loads, out.splitlines())
    ]
    complaints = err.strip().splitlines()
    good = [n for n in names if expected[n] == "ok"]
    bad = [n for n in names if expected[n] == "bad"]
    assert sorted(os.fsencode(a) for a in answered) == sorted(
        os.fsencode(n).decode("utf-8", "replace").encode() for n in good
    )
    assert len(complaints) == len(bad)
    assert all("Traceback" not in line and ": " in line for line in complaints)
