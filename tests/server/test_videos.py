"""Videos through the API: moments as results, their thumbnails, the video seekable."""

from __future__ import annotations

import io
import json
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

    def narrowed(filters: dict) -> list[str]:
        found = client.post("/api/v1/search", json={"item": coffee["id"], "filters": filters},
                            headers=bearer(token))  # fmt: skip
        assert found.status_code == 200, found.text
        return [r["filename"] for r in found.json()["results"]]

    assert narrowed({"kind": "video", "min_duration": 10}) == ["harbour.mp4"]  # 12 s
    assert narrowed({"max_duration": 10}) == []  # photos have no length
    refused = client.post("/api/v1/search", headers=bearer(token),
                          json={"item": coffee["id"], "filters": {"min_duration": -1}})  # fmt: skip
    assert refused.status_code == 422


def test_a_video_changed_since_it_was_indexed_is_not_served(serve, video_library, token):
    folder, media = video_library
    client = serve(folder=folder)
    found = client.get("/api/v1/items/2", headers=bearer(token)).json()
    assert found["filename"] == "harbour.mp4"
    with (media / "harbour.mp4").open("ab") as f:
        f.write(b"appended")
    assert client.get(found["video"], headers=bearer(token)).status_code == 409


def test_a_clip_uploaded_as_the_query_finds_where_it_comes_from(
    serve, video_library, token, tmp_path, monkeypatch
):
    from image_finder.server.routes import clips
    from tests.videos import cut, greyed

    folder, media = video_library
    client = serve(folder=folder)
    clip = cut(media / "harbour.mp4", tmp_path / "sent.mp4", 3.5, 9.5, change=greyed)
    with clip.open("rb") as f:
        answer = client.post("/api/v1/search/clip", files={"video": ("sent.mp4", f, "video/mp4")},
                             headers=bearer(token))  # fmt: skip
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["query"] == "sent.mp4" and found["clip_moments"] >= 2
    best = found["videos"][0]
    assert best["filename"] == "harbour.mp4" and 2.5 <= best["from"] <= 4.5
    assert best["score"] >= 0.6 and best["video"].endswith("/video")
    assert json.loads(json.dumps(found)) == found  # plain JSON all through

    garbage = client.post("/api/v1/search/clip", files={"video": ("x.mp4", b"not a video")},
                          headers=bearer(token))  # fmt: skip
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "unreadable_video"
    monkeypatch.setattr(clips, "MAX_CLIP_SECONDS", 2.0)
    with clip.open("rb") as f:
        too_long = client.post("/api/v1/search/clip", files={"video": ("sent.mp4", f)},
                               headers=bearer(token))  # fmt: skip
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "clip_too_long"
    as_json = client.post("/api/v1/search/clip", json={"video": "x"}, headers=bearer(token))
    assert as_json.status_code == 415
