"""PDF pages through the API: a page is a result with its number, and its document is served
seekable, to be opened at the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.indexing.test_documents import pdf
from tests.server.conftest import bearer
from tests.videos import photo

pytest.importorskip("pypdfium2")


@pytest.fixture
def document_library(tmp_path: Path, lite0) -> tuple[Path, Path]:
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    media = tmp_path / "media"
    media.mkdir()
    pdf(media / "report.pdf", ["astronaut", "coffee", "chelsea"])
    photo("rocket").save(media / "rocket.jpg")
    folder = tmp_path / "document-library"
    with Library(folder) as library:
        index_folders([media], library, lite0)
    return folder, media


def test_a_page_is_a_result_and_its_document_opens_at_it(serve, document_library, token, tmp_path):
    folder, media = document_library
    client = serve(folder=folder)
    query = tmp_path / "page.jpg"
    photo("coffee").resize((300, 200)).save(query)
    with query.open("rb") as f:
        answer = client.post("/api/v1/search", files={"image": f}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    best = answer.json()["results"][0]
    assert best["filename"] == "report.pdf" and best["part"] == {"kind": "page", "number": 2}
    assert best["document"] == f"/api/v1/items/{best['id']}/document" and "video" not in best
    item = client.get(f"/api/v1/items/{best['id']}", headers=bearer(token)).json()
    assert item["document"] == best["document"]

    whole = (media / "report.pdf").read_bytes()
    served = client.get(best["document"], headers=bearer(token))
    assert served.status_code == 200 and served.content == whole
    assert served.headers["content-type"] == "application/pdf"
    part = client.get(best["document"], headers={**bearer(token), "Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole[:100]
    thumb = client.get(best["thumbnail"], headers=bearer(token))
    assert thumb.status_code == 200 and thumb.content[:3] in (b"\xff\xd8\xff", b"RIF")

    rocket = next(r for r in answer.json()["results"] if r["filename"] == "rocket.jpg")
    assert "document" not in rocket
    not_a_page = client.get(f"/api/v1/items/{rocket['id']}/document", headers=bearer(token))
    assert not_a_page.status_code == 404
    assert client.get(best["document"]).status_code == 401  # the token is needed
