"""Videos through the API: moments as results, their thumbnails, the video seekable."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.server.conftest import bearer
from tests.videos import photo, slideshow

pytest.importorskip("av")


@pytest.fixture
def video_library(tmp_path: Path, lite0) -> tuple[Path, Path]:
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    media = tmp_path / "media"
    media.mkdir()
    slideshow(media / "harbour.mp4")
    photo("coffee").save(media / "coffee.jpg")
    folder = tmp_path / "video-library"
    with Library(folder) as library:
        index_folders([media], library, lite0)
    return folder, media


def test_a_moment_is_a_result_with_its_time_thumbnail_and_seekable_video(
    serve, video_library, token, tmp_path
):
    folder, media = video_library
    client = serve(folder=folder)
    query = tmp_path / "chelsea.png"
    photo("chelsea").save(query)
    with query.open("rb") as f:
        answer = client.post("/api/v1/search", files={"image": f}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    best = answer.json()["results"][0]
    assert best["filename"] == "harbour.mp4"
    assert best["part"]["kind"] == "time" and 5.0 <= best["part"]["seconds"] <= 9.0
    assert [r["filename"] for r in answer.json()["results"]].count("harbour.mp4") == 1

    item = client.get(f"/api/v1/items/{best['id']}", headers=bearer(token)).json()
    assert item["video"] == f"/api/v1/items/{best['id']}/video"
    thumb = client.get(item["thumbnail"], headers=bearer(token))
    assert thumb.status_code == 200
    assert Image.open(io.BytesIO(thumb.content)).size[0] > 0

    whole = (media / "harbour.mp4").read_bytes()
    full = client.get(item["video"], headers=bearer(token))
    assert full.status_code == 200 and full.content == whole
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    part = client.get(item["video"], headers={**bearer(token), "Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    tail = client.get(item["video"], headers={**bearer(token), "Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == whole[-500:]
    beyond = client.get(item["video"], headers={**bearer(token), "Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole)}"
    assert client.get(item["video"]).status_code == 401  # the token is needed

    coffee = next(r for r in answer.json()["results"] if r["filename"] == "coffee.jpg")
    assert coffee["part"] is None
    not_a_video = client.get(f"/api/v1/items/{coffee['id']}/video", headers=bearer(token))
    assert not_a_video.status_code == 404


def test_a_video_changed_since_it_was_indexed_is_not_served(serve, video_library, token):
    folder, media = video_library
    client = serve(folder=folder)
    found = client.get("/api/v1/items/2", headers=bearer(token)).json()
    assert found["filename"] == "harbour.mp4"
    with (media / "harbour.mp4").open("ab") as f:
        f.write(b"appended")
    assert client.get(found["video"], headers=bearer(token)).status_code == 409
