"""PDF documents in a library: each page a part of its file, found by a picture of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from image_finder.core.common.records import Part
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.searcher import Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library
from tests.videos import photo

pytest.importorskip("pypdfium2")


def pdf(path: Path, names: list[str]) -> Path:
    """A PDF of one page per photo (Pillow writes it; PDFium draws it back)."""
    pictures = [photo(name) for name in names]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], resolution=150)
    return path


def test_a_pdf_s_pages_are_found_by_a_picture_of_one(tmp_path, lite0, capsys):
    from image_finder.cli import main

    media = tmp_path / "media"
    media.mkdir()
    pdf(media / "report.pdf", ["astronaut", "coffee", "chelsea"])
    photo("rocket").save(media / "rocket.jpg")
    (media / "damaged.pdf").write_bytes((media / "report.pdf").read_bytes()[:300])
    (media / "empty.pdf").write_bytes(b"")
    query = tmp_path / "scan.jpg"
    photo("chelsea").convert("L").resize((256, 200)).save(query, quality=40)  # a grey, poor copy
    with Library(tmp_path / "lib") as library:
        report = index_folders([media], library, lite0)
        reasons = {Path(s.path).name: s.reason for s in report.skipped}
        assert set(reasons) == {"damaged.pdf", "empty.pdf"}
        assert reasons["empty.pdf"] == "an empty file"
        assert reasons["damaged.pdf"].startswith("not a PDF that can be read")
        items = library.file_items(media / "report.pdf")
        assert [i.part for i in items] == [Part.page(1), Part.page(2), Part.page(3)]
        assert items[0].part.to_json() == {"kind": "page", "number": 1}
        found = Searcher(library, lite0).search(Query.file(str(query)), SearchOptions(top_k=5))
        best = found.results[0]
        assert (best.item.filename, best.item.part) == ("report.pdf", Part.page(3))
        assert best.item.label == "report.pdf · p. 3"
        assert [r.item.filename for r in found.results].count("report.pdf") == 1  # grouped

        # the document changed: its pages replaced at once
        pdf(media / "report.pdf", ["coffee", "rocket"])
        index_folders([media], library, lite0)
        assert [i.part for i in library.file_items(media / "report.pdf")] == [
            Part.page(1), Part.page(2)
        ]  # fmt: skip
    code = main(["--data-dir", str(tmp_path / "lib"), "search", str(media / "rocket.jpg"),
                 "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    parts = {r["filename"]: r["part"] for r in out["results"]}
    assert parts["report.pdf"] == {"kind": "page", "number": 2} and parts["rocket.jpg"] is None


def test_a_page_s_thumbnail_is_the_page(tmp_path):
    from image_finder.core.pictures.parts import part_picture

    document = pdf(tmp_path / "two.pdf", ["coffee", "camera"])
    first, second = (part_picture(document, Part.page(n)) for n in (1, 2))
    assert max(first.size) == 640 and first.mode == "RGB"
    assert second.getextrema()[0] == second.getextrema()[1] == second.getextrema()[2]  # grey
    with pytest.raises(Exception, match="it has no page 3"):
        part_picture(document, Part.page(3))


def numbered_pdf(path: Path, count: int) -> Path:
    """A PDF of ``count`` small pages, each with its number and a pattern of its own."""
    from PIL import Image, ImageDraw

    pages = []
    for n in range(count):
        page = Image.new("RGB", (60, 80), "white")
        draw = ImageDraw.Draw(page)
        draw.text((5, 5), str(n + 1), fill="black")
        draw.rectangle((n % 40, 30, n % 40 + 20, 30 + n % 45), fill=(n * 7 % 256, 90, 160))
        pages.append(page)
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path


def test_an_encrypted_pdf_is_skipped_with_the_reason(tmp_path, lite0):
    media = tmp_path / "media"
    media.mkdir()
    # written with qpdf --encrypt (AES-256, a user password): PDFium asks for the password
    shutil.copy(Path(__file__).parents[2] / "data" / "encrypted.pdf", media / "locked.pdf")
    photo("rocket").save(media / "rocket.jpg")
    with Library(tmp_path / "lib") as library:
        report = index_folders([media], library, lite0)
        assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
            ("locked.pdf", "encrypted: it needs a password")
        ]
        assert library.count() == 1


def test_a_huge_pdf_shows_its_pages_and_resumes_where_it_was_cancelled(tmp_path, lite0):
    media = tmp_path / "media"
    media.mkdir()
    numbered_pdf(media / "ledger.pdf", 2000)
    seen: list[str] = []

    def index_until(page: int) -> None:
        def progress(p) -> None:
            if p.part:
                seen.append(p.part)

        def stop() -> bool:
            return bool(seen) and int(seen[-1].split()[1].replace(",", "")) >= page

        report = index_folders([media], library, lite0, progress, stop, batch_size=16)
        assert report.cancelled and library.count() == 0  # none of its pages yet

    with Library(tmp_path / "lib") as library:
        index_until(48)
        assert seen[0] == "p. 16 of 2,000" and seen[-1] == "p. 48 of 2,000"
        assert len(list((tmp_path / "lib" / "partial").iterdir())) == 1
        seen.clear()
        index_until(80)  # the next run goes on from page 49
        assert seen[0] == "p. 64 of 2,000"


def test_a_cancelled_document_is_finished_by_the_next_run(tmp_path, lite0):
    media = tmp_path / "media"
    media.mkdir()
    numbered_pdf(media / "forms.pdf", 40)
    with Library(tmp_path / "lib") as library:
        asked = []
        first = index_folders([media], library, lite0, lambda p: asked.append(p.part),
                              lambda: any(asked), batch_size=16)  # fmt: skip
        assert first.cancelled and library.count() == 0
        second = index_folders([media], library, lite0, batch_size=16)
        assert not second.cancelled and second.added == 1 and second.embedded == 24
        items = library.file_items(media / "forms.pdf")
        assert [i.part for i in items] == [Part.page(n) for n in range(1, 41)]
        assert not list((tmp_path / "lib" / "partial").iterdir())
        # the pages kept from the first run are the pages: a page finds itself
        found = Searcher(library, lite0).search(
            Query.item(items[3]), SearchOptions(top_k=1, group_parts=False)
        )
        assert found.results[0].item.part == Part.page(4)


def test_a_re_exported_document_and_a_scan_filed_twice_are_duplicates(tmp_path, lite0):
    from image_finder.core.search.duplicates import Tier, find_duplicates

    media = tmp_path / "media"
    media.mkdir()
    pdf(media / "report.pdf", ["astronaut", "coffee", "chelsea"])
    pictures = [photo(n).resize((300, 200)) for n in ("astronaut", "coffee", "chelsea")]
    pictures[0].save(
        media / "report-export.pdf", save_all=True, append_images=pictures[1:], resolution=72
    )  # fmt: skip  (smaller, other bytes: a re-export)
    pdf(media / "invoice.pdf", ["rocket"])
    photo("rocket").convert("L").save(media / "invoice-filed-again.pdf", resolution=96)
    photo("camera").save(media / "other.jpg")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        groups = find_duplicates(library, min_tier=Tier.SAME_VIDEO)
        found = {
            frozenset(Path(i.path).name for i in g.items): {
                Path(i.path).name: g.relation(i)[0].label_for(i) for i in g.items
            }
            for g in groups
        }
        assert found == {
            frozenset({"report.pdf", "report-export.pdf"}): {
                "report.pdf": "identical", "report-export.pdf": "same-document"
            },  # the keeper relates to itself as identical
            frozenset({"invoice.pdf", "invoice-filed-again.pdf"}): {
                "invoice.pdf": "identical", "invoice-filed-again.pdf": "same-document"
            },
        }  # fmt: skip
        report = next(g for g in groups if len(g.items) == 2 and g.keep.path.endswith("report.pdf"))
        copy = next(i for i in report.items if i.id != report.keep.id)
        assert report.where(copy) == " of pp. 1–3"
        shown = report.to_json()["items"]
        assert {i["match"] for i in shown} == {"keep", "same-document"}
        assert all(i["part"] == {"kind": "page", "number": 1} for i in shown)  # each document


def text_pages(count: int, seed: int = 0) -> list:
    """Pages of a manual: paragraphs of text lines, headings and code blocks, each page laid
    out its own way (pages the model cannot tell apart, as real text pages)."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    out = []
    for n in range(count):
        page = Image.new("RGB", (620, 800), "white")
        draw = ImageDraw.Draw(page)
        y = 60
        draw.text((60, 30), f"Chapter {n + 1}", fill="black")
        while y < 740:
            kind = rng.choice(["para", "para", "para", "code", "heading", "gap"])
            lines = rng.randint(2, 9)
            for _ in range(lines if kind != "heading" else 1):
                if y >= 740:
                    break
                indent = 90 if kind == "code" else 60
                width = rng.randint(200, 500) if kind != "heading" else rng.randint(80, 200)
                words = " ".join("lorem" for _ in range(width // 36))
                draw.text((indent, y), words, fill="black")
                draw.rectangle((indent, y + 3, indent + width, y + 8), fill=(40, 40, 40))
                y += 14
            y += rng.choice([12, 24, 40]) if kind != "gap" else 60
        out.append(page)
    return out


def test_a_photo_of_a_text_page_finds_that_page(tmp_path, lite0):
    import io

    from PIL import Image, ImageFilter

    media = tmp_path / "media"
    media.mkdir()
    pages = text_pages(14)
    pages[0].save(media / "manual.pdf", save_all=True, append_images=pages[1:])
    photo("coffee").save(media / "coffee.jpg")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        searcher = Searcher(library, lite0)
        for number in (3, 9, 12):
            page = pages[number - 1]
            w, h = page.size  # tilted (the corners of the source: UL, LL, LR, UR), blurred, grey
            tilted = page.transform(page.size, Image.Transform.QUAD,
                                    (18, 25, 30, h - 12, w - 22, h - 30, w - 9, 14))  # fmt: skip
            shot = tilted.filter(ImageFilter.GaussianBlur(1.2)).resize((w // 2, h // 2))
            data = io.BytesIO()
            shot.convert("L").save(data, "JPEG", quality=40)
            query = tmp_path / f"photo-{number}.jpg"
            query.write_bytes(data.getvalue())
            found = searcher.search(Query.file(str(query)), SearchOptions(top_k=3))
            assert found.results[0].item.part == Part.page(number), number
        # a photo is not taken for a page
        found = searcher.search(Query.file(str(media / "coffee.jpg")), SearchOptions(top_k=3))
        assert found.results[0].item.filename == "coffee.jpg"


def test_pages_indexed_before_prints_were_kept_get_them_at_the_next_run(tmp_path, lite0):
    import sqlite3

    media = tmp_path / "media"
    media.mkdir()
    pages = text_pages(4, seed=3)
    pages[0].save(media / "manual.pdf", save_all=True, append_images=pages[1:])
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        ids = [i.id for i in library.file_items(media / "manual.pdf")]
        assert set(library.page_prints(ids)) == set(ids)
    with sqlite3.connect(tmp_path / "lib" / "library.sqlite3") as db:  # as an earlier version
        db.execute("UPDATE images SET page_print = NULL")
    with Library(tmp_path / "lib") as library:
        assert library.page_prints(ids) == {}
        report = index_folders([media], library, lite0)
        assert report.embedded == 0  # no model: the pages rendered again for their prints
        assert set(library.page_prints(ids)) == set(ids)
