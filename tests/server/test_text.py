"""The text read in pictures through the API: an item's text with its lines, and a search by
words that says which results say them."""

from __future__ import annotations

import pytest

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.indexing.texts import fill_texts
from image_finder.core.stores.library import Library
from tests.core.pictures.test_text_reading import LINES, receipt
from tests.server.conftest import bearer
from tests.videos import photo

pytest.importorskip("rapidocr")


def test_an_item_s_text_and_a_search_by_the_words_in_it(tmp_path, lite0, serve, token):
    media = tmp_path / "media"
    media.mkdir()
    receipt().save(media / "receipt.png")
    photo("coffee").save(media / "coffee.jpg")
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        fill_texts(library, lambda p: None, lambda: False)
        ids = [library.item_by_path(str(media / n)).id for n in ("receipt.png", "coffee.jpg")]
    client = serve(folder=tmp_path / "lib")
    read, nothing = (client.get(f"/api/v1/items/{i}/text", headers=bearer(token)).json()
                     for i in ids)  # fmt: skip
    assert read["source"] == "read" and read["text"].splitlines() == list(LINES)
    assert {"text", "score", "box"} <= set(read["lines"][0]) and len(read["lines"][0]["box"]) == 4
    assert (nothing["source"], nothing["text"]) == ("none", "")
    found = client.post("/api/v1/search", json={"text": "adler"}, headers=bearer(token)).json()
    best = found["results"][0]
    assert (best["id"], best["matched"]) == (ids[0], "text")
    assert best["text"]["snippet"].startswith("Hotel [Adler]")
