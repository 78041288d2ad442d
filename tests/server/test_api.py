"""The API through its public HTTP surface: every endpoint, the answers a client relies on."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from image_finder.cli import main as cli
from tests.server.conftest import bearer


def upload(client, token, data: bytes, name: str = "query.jpg", **fields):
    return client.post(
        "/api/v1/search",
        files={"image": (name, data, "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
        headers=bearer(token),
    )


def test_status_has_the_fields_of_status_json(serve, token, library_dir, capsys):
    client = serve()
    answer = client.get("/api/v1/status", headers=bearer(token))
    assert answer.status_code == 200
    data = answer.json()
    assert cli(["--data-dir", str(library_dir), "status", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) <= set(data)
    assert data["images"] == printed["images"] == 18
    assert data["folders"] == printed["folders"]
    assert data["server"]["model_state"] == "ready" and data["server"]["scope"] == "manage"


def test_an_uploaded_photo_finds_its_copy_first_with_the_cli_s_result_object(
    serve, token, photo_source, library_dir, capsys
):
    client = serve()
    query = photo_source / "coffee.jpg"
    answer = upload(client, token, query.read_bytes(), "my coffee.jpg", k=5)
    assert answer.status_code == 200
    data = answer.json()
    assert data["query"] == "my coffee.jpg" and data["close_matches"] is True
    assert data["seconds"] >= 0 and len(data["results"]) == 5
    first = data["results"][0]
    assert first["filename"] == "coffee.jpg" and first["match"] == "identical"
    assert first["rank"] == 1 and first["score"] > 0.99
    assert (first["width"], first["height"]) == (600, 400)
    assert first["bytes"] == query.stat().st_size
    assert first["thumbnail"] == f"/api/v1/items/{first['id']}/thumbnail"
    assert first["image"] == f"/api/v1/items/{first['id']}/image"
    # the same object as the command line's, plus the two URLs
    assert cli(["--data-dir", str(library_dir), "search", str(query), "-k", "5", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["results"][0]
    assert printed["match"] == "this image"  # the CLI searched with the file itself
    assert {k: v for k, v in first.items() if k not in ("thumbnail", "image")} == {
        **printed,
        "match": "identical",
    }


def test_search_by_words_by_item_and_similar(serve, token):
    client = serve()
    words = client.post("/api/v1/search", json={"text": "cat", "k": 3}, headers=bearer(token))
    assert words.status_code == 200
    assert words.json()["results"][0]["filename"] == "chelsea.jpg"
    item_id = words.json()["results"][0]["id"]
    by_item = client.post("/api/v1/search", json={"item": item_id, "k": 2}, headers=bearer(token))
    assert by_item.status_code == 200
    assert by_item.json()["results"][0]["match"] == "this image"
    similar = client.get(f"/api/v1/items/{item_id}/similar?k=4", headers=bearer(token))
    assert similar.status_code == 200 and len(similar.json()["results"]) == 4
    assert similar.json()["results"][0]["id"] == item_id
    folder = similar.json()["results"][0]["path"].rsplit("/", 1)[0]
    narrowed = client.post(
        "/api/v1/search",
        json={"item": item_id, "k": 50, "min_score": 0.3, "folder": folder},
        headers=bearer(token),
    )
    assert narrowed.status_code == 200
    assert all(r["score"] >= 0.3 for r in narrowed.json()["results"])


def test_items_thumbnails_and_originals(serve, token, photo_source):
    client = serve()
    found = upload(client, token, (photo_source / "rocket.jpg").read_bytes(), k=1).json()
    item_id = found["results"][0]["id"]
    item = client.get(f"/api/v1/items/{item_id}", headers=bearer(token))
    assert item.status_code == 200 and item.json()["filename"] == "rocket.jpg"
    assert item.json()["folder"] == str(photo_source)

    thumb = client.get(f"/api/v1/items/{item_id}/thumbnail?size=64", headers=bearer(token))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 64
    etag = thumb.headers["etag"]
    again = client.get(
        f"/api/v1/items/{item_id}/thumbnail?size=64",
        headers={**bearer(token), "If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    webp = client.get(
        f"/api/v1/items/{item_id}/thumbnail", headers={**bearer(token), "Accept": "image/webp"}
    )
    assert webp.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(webp.content)).format == "WEBP"

    original = client.get(f"/api/v1/items/{item_id}/image", headers=bearer(token))
    assert original.status_code == 200
    assert original.content == (photo_source / "rocket.jpg").read_bytes()
    assert original.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/items/..%2F..%2F..%2Fetc%2Fpasswd/image",
        "/api/v1/items/%2Fetc%2Fpasswd/image",
        "/api/v1/items/-1/image",
        "/api/v1/items/1e3/thumbnail",
        "/api/v1/items/99999/image",
        "/api/v1/items/../../etc/passwd",
    ],
)
def test_a_path_instead_of_an_item_id_is_404(serve, token, path):
    client = serve()
    answer = client.get(path, headers=bearer(token))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert b"root:" not in answer.content
    assert client.get("/api/v1/status", headers=bearer(token)).status_code == 200


def test_a_file_moved_out_of_the_library_folders_is_not_served(serve, token, tmp_path, lite0):
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    pictures = tmp_path / "pics"
    pictures.mkdir()
    secret = tmp_path / "secret.jpg"
    Image.new("RGB", (40, 40), "red").save(secret)
    (pictures / "photo.jpg").symlink_to(secret)  # a link out of the library
    with Library(tmp_path / "lib2") as library:
        index_folders([pictures], library, lite0)
    client = serve(folder=tmp_path / "lib2")
    answer = client.get("/api/v1/items/1/image", headers=bearer(token))
    assert answer.status_code == 404
    assert client.get("/api/v1/items/1/thumbnail", headers=bearer(token)).status_code == 404


def test_folders_add_index_job_with_events_and_remove(serve, token, photos):
    client = serve()
    new = photos.parent / "more"
    new.mkdir()
    for name in ("coffee.jpg", "horse.jpg"):
        shutil.copy(photos / name, new / name)
    answer = client.post("/api/v1/folders", json={"path": str(new)}, headers=bearer(token))
    assert answer.status_code == 202
    job = answer.json()["job"]
    with client.stream("GET", job["events"], headers=bearer(token)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [line for line in stream.iter_lines() if line.startswith("event:")]
    assert events[-1] == "event: end"
    done = client.get(job["url"], headers=bearer(token)).json()
    assert done["state"] == "done" and done["report"]["added"] == 2
    assert done["done"] == done["total"] == 2
    folders = client.get("/api/v1/folders", headers=bearer(token)).json()
    assert folders["images"] == 20
    assert str(new) in [f["path"] for f in folders["folders"]]
    jobs = client.get("/api/v1/jobs", headers=bearer(token)).json()["jobs"]
    assert [j["id"] for j in jobs] == [job["id"]]

    removed = client.delete("/api/v1/folders", params={"path": str(new)}, headers=bearer(token))
    assert removed.status_code == 200 and removed.json()["removed"] == 2
    assert removed.json()["images"] == 18


def test_cancelling_a_job_keeps_what_it_committed(serve, token, tmp_path):
    client = serve(extractor=_slow_pixels(), folder=tmp_path / "new library")
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(80):
        Image.new("RGB", (32, 32), (i * 3, 255 - i * 3, (i * 7) % 255)).save(folder / f"{i}.png")
    job = client.post("/api/v1/folders", json={"path": str(folder)}, headers=bearer(token))
    job = job.json()["job"]
    with client.stream("GET", job["events"], headers=bearer(token)) as stream:
        for line in stream.iter_lines():
            event = json.loads(line[5:]) if line.startswith("data:") else {}
            if event.get("phase") == "embedding" and event["done"] > 0:
                break
    cancelled = client.delete(job["url"], headers=bearer(token))
    assert cancelled.status_code == 200
    end = _wait_for_end(client, token, job)
    assert end["state"] == "cancelled" and end["report"]["cancelled"]
    added = end["report"]["added"]
    assert 0 < added < 80 and end["report"]["remaining"] == 80 - added
    folders = client.get("/api/v1/folders", headers=bearer(token)).json()["folders"]
    (info,) = [f for f in folders if f["path"] == str(folder)]
    assert info["images"] == added and not info["complete"]


def _slow_pixels():
    """Raw pixels with a model's pace: a batch takes a moment (cancel lands mid-job)."""
    import time

    from image_finder.core.embedding.extractor import PixelExtractor

    class Slow(PixelExtractor):
        def embed_tensors(self, batch, precision=None):
            time.sleep(0.3)
            return super().embed_tensors(batch, precision)

    slow = Slow()
    slow.batch_size = 8
    return slow


def _wait_for_end(client, token, job):
    with client.stream("GET", job["events"], headers=bearer(token)) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                last = json.loads(line[5:])
    return last


def test_duplicates_paginated_as_the_cli_lists_them(serve, token, photos, lite0, tmp_path, capsys):
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    for name in ("coffee", "horse", "moon"):
        shutil.copy(photos / f"{name}.jpg", photos / f"{name} copy.jpg")
    with Library(tmp_path / "dups") as library:
        index_folders([photos], library, lite0)
    client = serve(folder=tmp_path / "dups")
    first = client.get("/api/v1/duplicates?tier=identical&per_page=2", headers=bearer(token))
    assert first.status_code == 200
    page = first.json()
    assert page["total_groups"] == 3 and page["pages"] == 2 and len(page["groups"]) == 2
    second = client.get(
        "/api/v1/duplicates?tier=identical&per_page=2&page=2", headers=bearer(token)
    ).json()
    assert len(second["groups"]) == 1
    groups = page["groups"] + second["groups"]
    assert all(g["tier"] == "identical" and len(g["items"]) == 2 for g in groups)
    capsys.readouterr()
    assert cli(["--data-dir", str(tmp_path / "dups"), "duplicates", "--tier", "identical",
                "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["groups"] == groups


def test_trashing_duplicates_through_the_api(serve, token, photos, lite0, tmp_path, xdg_trash):
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    shutil.copy(photos / "coffee.jpg", photos / "coffee copy.jpg")
    with Library(tmp_path / "dups") as library:
        index_folders([photos], library, lite0)
    client = serve(folder=tmp_path / "dups")
    (group,) = client.get("/api/v1/duplicates?tier=identical", headers=bearer(token)).json()[
        "groups"
    ]
    extra = [i for i in group["items"] if i["match"] != "keep"]
    answer = client.post(
        "/api/v1/duplicates/trash", json={"ids": [i["id"] for i in extra]}, headers=bearer(token)
    )
    assert answer.status_code == 200 and len(answer.json()["trashed"]) == 1
    assert not Path(extra[0]["path"]).exists() and (photos / "coffee.jpg").exists()
    assert (
        client.get("/api/v1/duplicates?tier=identical", headers=bearer(token)).json()["groups"]
        == []
    )


def test_searches_go_on_while_another_process_indexes_the_library(serve, token, tmp_path):
    import subprocess
    import sys

    from image_finder.core.embedding.extractor import PixelExtractor
    from tests.core.stores.test_concurrency import ROOT, make_images

    lib_dir, folder = tmp_path / "shared", tmp_path / "img"
    # enough that the writer's batches outlast a few requests on a loaded machine (its start,
    # importing the model's libraries, is most of its time)
    make_images(folder, 1500)
    client = serve(extractor=PixelExtractor(), folder=lib_dir)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_harness", str(lib_dir), str(folder), "100000"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    answered, counts, refused = 0, [], 0
    try:
        while writer.poll() is None:
            found = client.post("/api/v1/search", json={"item": 1, "k": 3}, headers=bearer(token))
            if found.status_code == 200:
                assert found.json()["results"][0]["id"] == 1
                answered += 1
                counts.append(client.get("/api/v1/status", headers=bearer(token)).json()["images"])
            else:  # before the first batch is committed
                assert found.json()["error"]["code"] in ("not_found", "empty_library")
                continue
            # the writer holds the library from its first batch to its end
            add = client.post("/api/v1/folders", json={"path": str(folder)}, headers=bearer(token))
            if add.status_code == 409:
                refused += 1
            elif add.status_code == 202:  # the writer ended just now
                break
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0, writer.stderr.read()
    assert answered >= 3 and counts == sorted(counts) and refused >= 1


def test_several_examples_some_left_out_and_filters(serve, token, photo_source):
    client = serve()
    by_name = {}
    for name in ("chelsea.jpg", "astronaut.jpg", "coffee.jpg", "horse.jpg"):
        found = upload(client, token, (photo_source / name).read_bytes(), name, k=1).json()
        by_name[name] = found["results"][0]["id"]
    body = {"like": [by_name["chelsea.jpg"], by_name["astronaut.jpg"]],
            "unlike": [by_name["coffee.jpg"]], "k": 17}  # fmt: skip
    answer = client.post("/api/v1/search", json=body, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    ids = [r["id"] for r in data["results"]]
    assert by_name["coffee.jpg"] not in ids and len(ids) == 17
    assert set(ids[:2]) == {by_name["chelsea.jpg"], by_name["astronaut.jpg"]}
    assert data["parts"] == {"like": ["chelsea.jpg", "astronaut.jpg"], "unlike": ["coffee.jpg"]}

    # uploads as examples and to leave out, with filters, in one form
    files = [
        ("image", ("a.jpg", (photo_source / "chelsea.jpg").read_bytes(), "image/jpeg")),
        ("image", ("b.jpg", (photo_source / "astronaut.jpg").read_bytes(), "image/jpeg")),
        ("unlike_image", ("c.jpg", (photo_source / "horse.jpg").read_bytes(), "image/jpeg")),
    ]
    form = {"k": "30", "filters": json.dumps({"min_width": 500, "orientation": "landscape"})}
    answer = client.post("/api/v1/search", files=files, data=form, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["parts"]["like"] == ["a.jpg", "b.jpg"] and data["parts"]["unlike"] == ["c.jpg"]
    assert data["parts"]["conditions"] == {"min_width": 500, "orientation": "landscape"}
    assert data["results"] and all(
        r["width"] >= 500 and r["width"] > r["height"] for r in data["results"]
    )
    assert "horse.jpg" not in [r["filename"] for r in data["results"]]

    words = client.post(
        "/api/v1/search",
        json={"text": "cat", "filters": {"formats": ["png"]}},
        headers=bearer(token),
    )
    assert words.status_code == 200 and words.json()["results"] == []  # every photo is a JPEG
    for bad in ({"taken_after": "June"}, {"orientation": "round"}, {"colour": "red"}):
        refused = client.post(
            "/api/v1/search", json={"text": "cat", "filters": bad}, headers=bearer(token)
        )
        assert refused.status_code == 422, refused.text
    missing = client.post("/api/v1/search", json={"like": [99999]}, headers=bearer(token))
    assert missing.status_code == 404


def test_search_by_a_concept_and_with_one_as_a_filter(serve, token, library_dir, photo_source):
    from image_finder.core.learning import concepts
    from image_finder.core.stores.library import Library

    with Library(library_dir) as library, library.writing():
        ids = [library.item_by_path(photo_source / n).id for n in ("chelsea.jpg", "horse.jpg")]
        concepts.learn(library, "animals", ids)
    client = serve()
    found = client.post(
        "/api/v1/search", json={"concept": "animals", "k": 3}, headers=bearer(token)
    )
    assert found.status_code == 200, found.text
    top = {r["filename"] for r in found.json()["results"][:2]}
    assert top == {"chelsea.jpg", "horse.jpg"}
    assert found.json()["results"][0]["score"] > 0.5
    narrowed = client.post(
        "/api/v1/search",
        json={"text": "cat", "filters": {"concept": "animals"}},
        headers=bearer(token),
    )
    assert narrowed.status_code == 200
    assert {r["filename"] for r in narrowed.json()["results"]} <= {"chelsea.jpg", "horse.jpg"}
    missing = client.post("/api/v1/search", json={"concept": "cars"}, headers=bearer(token))
    assert missing.status_code == 404 and "animals" in missing.json()["error"]["message"]


def test_a_concept_learnt_from_uploaded_pictures_of_ones_own(serve, token, photo_source):
    """POST /concepts with pictures outside the library: embedded for the concept alone; the
    library keeps its pictures; the concept finds its cat."""
    import io as _io

    from PIL import Image as _Image

    client = serve()
    auth = {"Authorization": f"Bearer {token}"}
    before = client.get("/api/v1/status", headers=auth).json()["images"]
    cat = _Image.open(photo_source / "chelsea.jpg")
    files = []
    for n, angle in enumerate((0, 5, -5, 9)):
        buffer = _io.BytesIO()
        cat.rotate(angle).resize((320, 210)).save(buffer, "JPEG")
        files.append(("image", (f"cat{n}.jpg", buffer.getvalue(), "image/jpeg")))
    files.append(("image", ("notes.jpg", b"not a picture", "image/jpeg")))
    made = client.post("/api/v1/concepts", data={"name": "my cat"}, files=files, headers=auth)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["outside_examples"] == 4 and [s["filename"] for s in body["skipped"]] == [
        "notes.jpg"
    ]
    assert client.get("/api/v1/status", headers=auth).json()["images"] == before
    listed = client.get("/api/v1/concepts", headers=auth).json()["concepts"]
    assert [c["name"] for c in listed] == ["my cat"]
    found = client.post("/api/v1/search", json={"concept": "my cat", "k": 3}, headers=auth)
    assert found.status_code == 200, found.text
    assert found.json()["results"][0]["filename"] == "chelsea.jpg"
    assert client.delete("/api/v1/concepts/my cat", headers=auth).status_code == 200
    assert client.delete("/api/v1/concepts/my cat", headers=auth).status_code == 404
    searcher = client.post("/api/v1/concepts", json={"name": "x", "like": [1, 2]},
                           headers={"Authorization": "Bearer nope"})  # fmt: skip
    assert searcher.status_code == 401
