"""The same server over a Milvus catalogue (``--store``): the same results and JSON as over
the library of the same photos, items served by their (62-bit) ids, and a clear 409 for what
only the catalogue's own job may change."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import BASE_URL, bearer
from tests.server.test_api import upload

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def two_servers(library_dir: Path, photo_source: Path, tmp_path: Path, lite0) -> Iterator[Any]:
    """(over the library, over a catalogue of the same pictures and vectors, the photos)."""
    from fastapi.testclient import TestClient

    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.stores.catalogue import Catalogue
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig

    for name in ("coffee", "horse"):  # byte copies, for duplicates
        shutil.copy(photo_source / f"{name}.jpg", tmp_path / f"{name}.jpg")
    store = f"milvus-lite:{tmp_path / 'catalogue' / 'shop.db'}"
    with contextlib.ExitStack() as stack:
        library = stack.enter_context(Library(library_dir))
        with Catalogue(store) as catalogue:
            assert copy_library(library, catalogue) == library.count() == 18
        over_library = create_app(ServerConfig(), library=library, extractor=lite0)
        over_catalogue = create_app(ServerConfig(store=store), extractor=lite0)
        yield (stack.enter_context(TestClient(over_library, base_url=BASE_URL)),
               stack.enter_context(TestClient(over_catalogue, base_url=BASE_URL)))  # fmt: skip


def _ranked(answer: Any) -> list[tuple[str, float, str]]:
    assert answer.status_code == 200, answer.text
    return [(r["path"], r["score"], r["match"]) for r in answer.json()["results"]]


def test_a_catalogue_answers_as_the_library_does(two_servers, token, photo_source):
    library, catalogue = two_servers
    for name in ("coffee.jpg", "chelsea.jpg", "rocket.jpg"):
        data = (photo_source / name).read_bytes()
        expected = _ranked(upload(library, token, data, name, k=10))
        found = _ranked(upload(catalogue, token, data, name, k=10))
        assert [p for p, _, _ in found] == [p for p, _, _ in expected]
        assert [m for _, _, m in found] == [m for _, _, m in expected]
        assert max(abs(a[1] - b[1]) for a, b in zip(found, expected, strict=True)) <= 1e-4
    first = upload(catalogue, token, (photo_source / "coffee.jpg").read_bytes(), k=3).json()
    hit = first["results"][0]
    assert hit["id"] >= 1 << 32  # the catalogue's ids: 62 bits of the path's hash
    assert hit["thumbnail"] == f"/api/v1/items/{hit['id']}/thumbnail"
    shown = catalogue.get(hit["thumbnail"] + "?size=64", headers=bearer(token))
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert (
        catalogue.get(hit["image"], headers=bearer(token)).content
        == (photo_source / "coffee.jpg").read_bytes()
    )
    # as the web app sends it: a string (a JavaScript number holds 53 bits)
    by_item = catalogue.post("/api/v1/search", json={"item": str(hit["id"]), "k": 3},
                             headers=bearer(token))  # fmt: skip
    assert _ranked(by_item)[0][0] == hit["path"]
    narrowed = catalogue.post("/api/v1/search", json={"item": hit["id"], "k": 50,
                              "folder": str(photo_source)}, headers=bearer(token))  # fmt: skip
    assert {Path(p).parent for p, _, _ in _ranked(narrowed)} == {photo_source}
    status = catalogue.get("/api/v1/status", headers=bearer(token)).json()
    assert status["images"] == 18 and status["model"] == "efficientnet_lite0"
    assert status["store"].startswith("milvus-lite:") and status["read_only"] is True


def test_duplicates_over_a_catalogue_are_the_library_s_groups(
    two_servers, token, photo_source, tmp_path, lite0
):
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.search.duplicates import find_duplicates
    from image_finder.core.stores.catalogue import Catalogue
    from image_finder.core.stores.library import Library

    folder = tmp_path / "dups"
    shutil.copytree(photo_source, folder)
    for name in ("coffee", "horse", "moon"):
        shutil.copy(folder / f"{name}.jpg", folder / f"{name} copy.jpg")
    with Library(tmp_path / "dups-library") as library:
        index_folders([folder], library, lite0)
        with Catalogue(f"milvus-lite:{tmp_path / 'dups.db'}") as catalogue:
            copy_library(library, catalogue)
            groups = {
                store: [
                    (g.tier.label, sorted(i.path for i in g.items), g.keep.path)
                    for g in find_duplicates(source, threshold=0.85)
                ]
                for store, source in (("library", library), ("catalogue", catalogue))
            }
    assert len(groups["library"]) >= 3
    assert groups["catalogue"] == groups["library"]


def test_what_only_its_job_may_change_is_refused_with_409(two_servers, token, photo_source):
    _, catalogue = two_servers
    for method, url, body in (
        ("post", "/api/v1/folders", {"path": str(photo_source)}),
        ("post", "/api/v1/tune", {"labels_from_concepts": []}),
        ("post", "/api/v1/duplicates/trash", {"ids": [1]}),
    ):
        answer = getattr(catalogue, method)(url, json=body, headers=bearer(token))
        assert answer.status_code == 409, (url, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "catalogue" and "--store" in error["message"]
    words = catalogue.post("/api/v1/search", json={"text": "cat"}, headers=bearer(token))
    assert words.status_code in (400, 422)
    assert "needs a library" in words.json()["error"]["message"]
    folders = catalogue.get("/api/v1/folders", headers=bearer(token)).json()
    assert [f["images"] for f in folders["folders"]] == [18] and folders["images"] == 18
