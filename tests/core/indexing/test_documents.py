"""PDF documents in a library: each page a part of its file, found by a picture of it."""

from __future__ import annotations

import json
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
