"""The text read in pictures is kept per item and follows the library: read once, searched
through FTS5, forgotten with its file, read again when the file changes, kept when it moves."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.indexing.texts import fill_texts
from image_finder.core.stores.library import Library
from tests import dicoms
from tests.core.pictures.test_text_reading import LINES, receipt
from tests.videos import photo

pytest.importorskip("rapidocr")


def text_pdf(path: Path, lines: list[str]) -> Path:
    """A one-page PDF whose text is a text layer (Helvetica), written by hand."""
    body = "BT /F1 18 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -28 Td" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = "%PDF-1.4\n", []
    for n, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{obj}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    path.write_bytes(out.encode("latin-1"))
    return path


def test_text_is_read_once_searched_and_follows_the_files(tmp_path, lite0):
    media = tmp_path / "media"
    media.mkdir()
    receipt().save(media / "receipt.png")
    photo("coffee").save(media / "coffee.jpg")
    text_pdf(media / "contract.pdf", ["Clause 7: termination notice", "Signed in Lucerne"])
    dicoms.write(media / "scan.dcm", dicoms.values("camera"))
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        assert fill_texts(library, lambda p: None, lambda: False) == 4
        assert fill_texts(library, lambda p: None, lambda: False) == 0  # read once
        by_name = {Path(i.path).name: i.id for i in library.items(range(1, 10)).values()}
        texts = library.side_data.texts(list(by_name.values()))
        assert texts[by_name["receipt.png"]][0] == "read"
        assert texts[by_name["receipt.png"]][1].splitlines() == list(LINES)
        assert texts[by_name["coffee.jpg"]][:2] == ("none", "")
        assert texts[by_name["contract.pdf"]][0] == "layer"
        assert "Lucerne" in texts[by_name["contract.pdf"]][1]
        assert texts[by_name["scan.dcm"]][:2] == ("none", "")  # a medical image is never read

        def found(words: str) -> set[str]:
            ids = {i for i, _, _ in library.side_data.text_matches(words, 10)}
            return {Path(library.items([i])[i].path).name for i in ids}

        assert found("adler") == {"receipt.png"}
        assert found('"termination notice"') == {"contract.pdf"}
        assert found("invoic*") == {"receipt.png"}
        snippet = library.side_data.text_matches("lucerne", 1)[0][2]
        assert "[Lucerne]" in snippet

        shutil.move(media / "receipt.png", media / "hotel.png")  # moved: its text kept
        index_folders([media], library, lite0)
        assert found("adler") == {"hotel.png"}
        assert fill_texts(library, lambda p: None, lambda: False) == 0

        text_pdf(media / "contract.pdf", ["Clause 9: renewal"])  # changed: read again
        index_folders([media], library, lite0)
        assert found("lucerne") == set()
        assert fill_texts(library, lambda p: None, lambda: False) == 1
        assert found("renewal") == {"contract.pdf"}

        (media / "hotel.png").unlink()  # gone: its text with it
        index_folders([media], library, lite0)
        assert found("adler") == set()


def test_a_cancelled_reading_keeps_what_it_read_and_goes_on(tmp_path, lite0):
    media = tmp_path / "media"
    media.mkdir()
    for n in range(10):
        photo("coffee" if n % 2 else "camera").save(media / f"p{n}.jpg")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        seen: list[int] = []
        first = fill_texts(library, lambda p: seen.append(p.done), lambda: len(seen) > 1)
        assert first == 8  # one batch written, then stopped
        assert fill_texts(library, lambda p: None, lambda: False) == 2


def test_words_find_the_pictures_that_say_them(tmp_path, lite0, capsys):
    import json

    from image_finder.core.search.conditions import Conditions
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from tests.helpers import run

    media = tmp_path / "media"
    media.mkdir()
    receipt().save(media / "receipt.png")
    photo("coffee").save(media / "coffee.jpg")
    photo("chelsea").save(media / "cat.jpg")
    text_pdf(media / "contract.pdf", ["Clause 7: termination notice", "Signed in Lucerne"])
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        fill_texts(library, lambda p: None, lambda: False)
        searcher = Searcher(library, lite0)

        def names(words: str, **conditions: str) -> list[tuple[str, str]]:
            query = Query.words(words).where(Conditions.from_values(**conditions))
            found = searcher.search(query, SearchOptions(top_k=3))
            return [(r.item.filename, r.matched) for r in found.results]

        assert names("Adler")[0] == ("receipt.png", "text")
        assert names('"termination notice"') == [("contract.pdf", "text")]
        assert names("Lucern")[0] == ("contract.pdf", "text")  # a letter short
        assert names("Luzerne")[0] == ("contract.pdf", "text")  # a letter changed
        assert names("invoic*")[0] == ("receipt.png", "text")
        assert names("clause -lucerne") == []  # the only one that says it also says lucerne
        assert names("adler", formats="pdf") == []  # conditions hold for text too
        both = names("cat")  # ImageNet's word: the picture of a cat (no text says it)
        assert both[0] == ("cat.jpg", "picture")
        first = searcher.search(Query.words("adler"), SearchOptions(top_k=3)).results[0]
        assert "[Adler]" in first.text.snippet and len(first.text.boxes) == 1

        def like(query: Query) -> list[tuple[str, str]]:  # pictures like these that say so
            found = searcher.search(query, SearchOptions(top_k=3))
            return [(r.item.filename, r.matched) for r in found.results]

        coffee, cat = Query.file(media / "coffee.jpg"), Query.file(media / "cat.jpg")
        assert like(coffee.with_words("adler")) == [("receipt.png", "text")]
        assert like(Query.together([coffee, cat]).with_words("clause")) == [
            ("contract.pdf", "text")
        ]
        nothing = searcher.search(coffee.with_words("zeppelin"), SearchOptions(top_k=3))
        assert nothing.results == [] and "No picture says" in nothing.notice

    code, out, err = run(capsys, "--data-dir", str(tmp_path / "lib"), "search", "--text",
                         "adler", "--json")  # fmt: skip
    assert code == 0, err
    best = json.loads(out)["results"][0]
    assert best["matched"] == "text" and best["text"]["snippet"].startswith("Hotel [Adler]\n")
    assert len(best["text"]["boxes"]) == 1 and len(best["text"]["boxes"][0]) == 4


def page_of(lines: list[str]) -> Image.Image:
    page = Image.new("RGB", (1000, 1300), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=26)
    for n, line in enumerate(lines):
        draw.text((70, 60 + 44 * n), line, fill="black", font=font)
    return page


def test_two_scans_of_one_page_are_the_same_picture(tmp_path, lite0):
    from image_finder.core.search.duplicates import Tier, find_duplicates

    header = ["Hotel Adler, Lucerne", "Invoice of stay, March 2024"]
    body = [f"Room {100 + n}: {w} night, breakfast and city tax {40 + n}.{n}0 EUR"
            for n, w in enumerate(["first", "second", "third", "fourth", "fifth", "sixth",
                                   "seventh", "eighth", "ninth", "tenth"])]  # fmt: skip
    other = [f"Clause {n}: the tenant pays {w} month's rent before the {n + 3}th"
             for n, w in enumerate(["this", "each", "every", "the next", "that", "one",
                                    "any", "a further", "the last", "our"])]  # fmt: skip
    media = tmp_path / "media"
    media.mkdir()
    scan = page_of(header + body)
    scan.save(media / "invoice-scan.jpg", quality=80)
    dim = ImageEnhance.Brightness(scan).enhance(0.72)  # the same page scanned again: darker,
    dim = dim.rotate(1.5, expand=True, fillcolor=(184, 180, 160))  # askew, on grey paper
    dim.filter(ImageFilter.GaussianBlur(0.7)).save(media / "invoice-again.jpg", quality=60)
    page_of(header + other).save(media / "contract.jpg", quality=80)  # same letterhead
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        fill_texts(library, lambda p: None, lambda: False)
        groups = find_duplicates(library, min_tier=Tier.SAME)
    assert [sorted(i.filename for i in g.items) for g in groups] == [
        ["invoice-again.jpg", "invoice-scan.jpg"]
    ]
    assert groups[0].tier is Tier.SAME


def test_a_catalogue_keeps_the_text_and_finds_pictures_by_it(tmp_path, lite0, capsys):
    """Copied from a library or read by the Ray job's decode tasks, the text goes into the
    catalogue with each picture; words find it there as in the library."""
    import json

    from image_finder.core.indexing import scale_videos
    from image_finder.core.indexing.scale_out import decode_batch, split_transform
    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.stores.catalogue import Catalogue
    from tests.helpers import run

    media = tmp_path / "media"
    media.mkdir()
    receipt().save(media / "receipt.png")
    photo("coffee").save(media / "coffee.jpg")
    text_pdf(media / "contract.pdf", ["Clause 7: termination notice", "Signed in Lucerne"])
    store = f"milvus-lite:{tmp_path / 'cat' / 'shop.db'}"
    with Library(tmp_path / "lib") as library, Catalogue(store) as catalogue:
        index_folders([media], library, lite0)
        fill_texts(library, lambda p: None, lambda: False)
        assert copy_library(library, catalogue) == 3

    def found(*words: str) -> list[tuple[str, str, str]]:
        code, out, err = run(capsys, "search", "--store", store, "--text", *words, "--json")
        assert code == 0, err
        return [(Path(r["path"]).name, r["matched"], r["text"]["snippet"])
                for r in json.loads(out)["results"]]  # fmt: skip

    assert found("adler") == [
        ("receipt.png", "text", "Hotel [Adler]\nInvoice 2024-117\nTotal EUR 184.50")
    ]
    assert [f[0] for f in found('"termination notice"')] == ["contract.pdf"]
    assert [f[0] for f in found("invoic*")] == ["receipt.png"]
    assert found("clause -lucerne") == []
    code, out, _ = run(capsys, "search", "--store", store, "--text", "zeppelin", "--json")
    assert code == 0 and json.loads(out)["results"] == []

    # the Ray job's decode tasks read the text of the pictures they decode
    steps, _ = split_transform(lite0.transform)
    items = scale_videos.work_items([str(media / "receipt.png"), str(media / "contract.pdf")])
    rows = []
    for item in items:
        out = decode_batch({k: [v] for k, v in item.items()}, steps, 0, read=True)
        rows += [{k: out[k][n] for k in out} for n in range(len(out["path"]))]
    for row in rows:
        row["vector"] = np.ones(4, np.float32)
    written, _, _ = scale_videos.Gatherer().add({k: [r[k] for r in rows] for k in rows[0]})
    said = {Path(r.path).name: (r.text_source, r.text) for r in written}
    assert said["receipt.png"] == ("read", "\n".join(LINES))
    hashed = {Path(r.path).name: r.facts.pdq for r in written}  # and its PDQ hash, a page's not
    assert len(hashed["receipt.png"] or b"") == 33 and not hashed["contract.pdf"]
    assert said["contract.pdf"][0] == "layer" and "Lucerne" in said["contract.pdf"][1]


def test_a_process_killed_while_reading_keeps_what_it_wrote_and_a_rerun_completes(tmp_path, lite0):
    """Killed (SIGKILL) inside the second batch's transaction: the first batch's texts stay,
    the text index agrees with them, and the next run reads the rest."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT_DIR

    media = tmp_path / "media"
    media.mkdir()
    for n in range(12):
        if n % 3 == 0:
            receipt().save(media / f"receipt-{n:02d}.png")
        else:
            Image.new("RGB", (320, 240), (40 + 15 * n, 90, 160)).save(media / f"plain-{n:02d}.png")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)

    def read(kill: bool) -> int:
        env = {**os.environ, "IMAGE_FINDER_KILL_AT": "texts_before_commit:2"} if kill else None
        command = [sys.executable, "-m", "image_finder.cli", "--data-dir", str(tmp_path / "lib"),
                   "index", "--read-text", str(media)]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=ROOT_DIR, capture_output=True, timeout=300)
        return done.returncode

    assert read(kill=True) == -9
    with Library(tmp_path / "lib") as library:
        assert library.check() == []
        assert len(library.side_data.missing_texts()) == 4  # the first batch of 8 was kept
        first = {i for i, _, _ in library.side_data.text_matches("adler", 20)}
    assert read(kill=False) == 0
    with Library(tmp_path / "lib") as library:
        assert library.check() == [] and library.side_data.missing_texts() == []
        found = {i for i, _, _ in library.side_data.text_matches("adler", 20)}
        assert first < found and len(found) == 4
