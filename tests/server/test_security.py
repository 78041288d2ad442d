"""Who may do what, and every error status a client can meet, each answered as JSON, with the
server still answering afterwards."""

from __future__ import annotations

import io
import json
import os
import stat
import threading

import pytest
from PIL import Image

from image_finder.server import main as server_cli
from tests.server.conftest import bearer


def still_answers(client, token) -> None:
    assert client.get("/api/v1/status", headers=bearer(token)).status_code == 200


def error_of(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] and error["message"]
    return error


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_no_token_is_401_and_a_search_token_on_manage_is_403(serve, token, capsys):
    client = serve()
    error_of(client.get("/api/v1/status"), 401)
    error_of(client.get("/api/v1/status", headers=bearer("not-a-token")), 401)
    error_of(client.post("/api/v1/search", json={"text": "cat"}), 401)
    error_of(client.get("/api/v1/items/1/image"), 401)

    assert server_cli(["token", "create", "--scope", "search", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    search_token = made["token"]
    assert (
        client.post(
            "/api/v1/search", json={"text": "cat"}, headers=bearer(search_token)
        ).status_code
        == 200
    )
    assert client.get("/api/v1/items/1/thumbnail", headers=bearer(search_token)).status_code == 200
    for method, path in (
        ("GET", "/api/v1/folders"),
        ("POST", "/api/v1/folders"),
        ("DELETE", "/api/v1/folders?path=/tmp"),
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/duplicates"),
        ("POST", "/api/v1/duplicates/trash"),
    ):
        kwargs = {"json": {"path": "/tmp"}} if method == "POST" else {}
        answer = client.request(method, path, headers=bearer(search_token), **kwargs)
        assert "manage" in error_of(answer, 403)["message"]
    # revoked: refused at once, while the server runs
    assert server_cli(["token", "revoke", made["id"]]) == 0
    error_of(client.get("/api/v1/status", headers=bearer(search_token)), 401)
    still_answers(client, token)


def test_the_token_file_is_private_and_the_main_token_stays(token):
    from image_finder.core.common import paths
    from image_finder.server.tokens import TOKENS_FILE, TokenStore

    file = paths.config_dir() / TOKENS_FILE
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    assert token in file.read_text()
    assert TokenStore().main_token() == token  # the next start prints the same URL


def test_the_start_url_logs_the_browser_in_with_a_strict_http_only_cookie(serve, token):
    client = serve()
    answer = client.get(f"/?token={token}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/api/v1/status").status_code == 200  # the cookie alone signs in
    page = client.get("/")
    assert page.status_code == 200 and "<title>Image Finder</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # a wrong token sets nothing
    other = serve()
    refused = other.get("/?token=wrong", follow_redirects=False)
    assert refused.status_code == 303 and "set-cookie" not in refused.headers


def test_public_search_lets_anyone_search_but_not_manage(serve, token, photo_source):
    auth = bearer(token)
    client = serve(public_search=True)
    found = client.post(
        "/api/v1/search", files={"image": ("q.jpg", (photo_source / "horse.jpg").read_bytes())}
    )
    assert found.status_code == 200 and found.json()["results"][0]["filename"] == "horse.jpg"
    assert client.get(found.json()["results"][0]["thumbnail"]).status_code == 200
    status = client.get("/api/v1/status").json()
    assert "folders" not in status and status["images"] == 18  # no paths for strangers
    error_of(client.get("/api/v1/folders"), 401)
    error_of(client.post("/api/v1/folders", json={"path": "/"}), 401)
    assert client.get("/api/v1/folders", headers=auth).status_code == 200


def test_a_foreign_host_header_is_400(serve, token):
    auth = bearer(token)
    client = serve()
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""):
        error = error_of(client.get("/api/v1/status", headers={**auth, "Host": host}), 400)
        assert error["code"] == "bad_host"
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert client.get("/api/v1/status", headers={**auth, "Host": host}).status_code == 200
    named = serve(allowed_hosts=("photos.example",))
    assert (
        named.get("/api/v1/status", headers={**auth, "Host": "photos.example"}).status_code == 200
    )


def test_no_cors_unless_an_origin_is_given(serve, token):
    auth = bearer(token)
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    plain = serve()
    answer = plain.get("/api/v1/status", headers={**auth, "Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in answer.headers
    assert (
        "access-control-allow-origin"
        not in plain.options("/api/v1/search", headers=preflight).headers
    )
    shop = serve(cors_origins=("https://shop.example",))
    allowed = shop.options("/api/v1/search", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    other = shop.options("/api/v1/search", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_a_30_mb_upload_is_413(serve, token):
    auth = bearer(token)
    client = serve()
    big = b"\xff\xd8" + os.urandom(30 * 1024 * 1024)
    error = error_of(
        client.post("/api/v1/search", files={"image": ("big.jpg", big)}, headers=auth), 413
    )
    assert "20 MB" in error["message"]
    still_answers(client, token)

    # sent without a length (chunked): stopped as the bytes come
    def chunks():
        for _ in range(30):
            yield os.urandom(1024 * 1024)

    answer = client.post(
        "/api/v1/search",
        content=chunks(),
        headers={**auth, "Content-Type": "multipart/form-data; boundary=x"},
    )
    error_of(answer, 413)
    still_answers(client, token)


def test_a_decompression_bomb_is_422_with_a_clear_message(serve, token):
    auth = bearer(token)
    client = serve()
    buffer = io.BytesIO()
    Image.new("1", (40_000, 40_000)).save(buffer, "PNG")  # 1.6 gigapixels in a few kB
    assert len(buffer.getvalue()) < 1024 * 1024
    error = error_of(
        client.post(
            "/api/v1/search",
            files={"image": ("bomb.png", buffer.getvalue())},
            headers=auth,
        ),
        422,
    )
    assert "too large to open safely" in error["message"]
    still_answers(client, token)


def test_the_type_is_decided_by_decoding_not_by_the_header(serve, token, photo_source):
    auth = bearer(token)
    client = serve()
    text = client.post(
        "/api/v1/search",
        files={"image": ("photo.jpg", b"<html>not a picture</html>", "image/jpeg")},
        headers=auth,
    )
    assert error_of(text, 415)["code"] == "not_an_image"
    disguised = client.post(
        "/api/v1/search",
        files={"image": ("notes.txt", (photo_source / "clock.jpg").read_bytes(), "text/plain")},
        headers=auth,
    )
    assert disguised.status_code == 200
    assert disguised.json()["results"][0]["filename"] == "clock.jpg"
    error_of(
        client.post("/api/v1/search", content=b"x", headers={**auth, "Content-Type": "text/plain"}),
        415,
    )
    still_answers(client, token)


@pytest.mark.parametrize(
    "body",
    [
        {"text": "cat", "k": 0},
        {"text": "cat", "min_score": 2},
        {"text": "cat", "k": "many"},
        {"text": "cat", "colour": "red"},
        {"text": "cat", "folder": "/not/in/the/library"},
        {},
        {"text": "   "},
    ],
)
def test_invalid_search_fields_are_422(serve, token, body):
    auth = bearer(token)
    client = serve()
    error_of(client.post("/api/v1/search", json=body, headers=auth), 422)
    still_answers(client, token)


def test_bad_json_is_400_and_k_is_capped_at_1000(serve, token):
    auth = bearer(token)
    client = serve()
    broken = client.post(
        "/api/v1/search",
        content=b"{text:",
        headers={**auth, "Content-Type": "application/json"},
    )
    error_of(broken, 400)
    many = client.post("/api/v1/search", json={"item": 1, "k": 100000}, headers=auth)
    assert many.status_code == 200 and len(many.json()["results"]) == 18
    error_of(client.get("/api/v1/items/1/thumbnail?size=5000", headers=auth), 422)
    error_of(client.get("/api/v1/duplicates?tier=some", headers=auth), 422)
    error_of(client.get("/api/v1/jobs/77", headers=auth), 404)
    error_of(client.delete("/api/v1/jobs/77", headers=auth), 404)
    error_of(client.get("/api/v1/nothing-here", headers=auth), 404)
    error_of(client.put("/api/v1/search", headers=auth), 405)
    still_answers(client, token)


def test_past_the_queue_bound_searches_get_429_with_retry_after(serve, token, photo_source):
    auth = bearer(token)
    client = serve(max_pending=1)
    service = client.app.state.service
    with service.queue.reserve():  # one search in flight fills the queue
        answer = client.post("/api/v1/search", json={"text": "cat"}, headers=auth)
        error_of(answer, 429)
        assert answer.headers["retry-after"] == "1"
        error_of(client.get("/api/v1/items/1/similar", headers=auth), 429)
        assert client.get("/api/v1/items/1", headers=auth).status_code == 200
    assert client.post("/api/v1/search", json={"text": "cat"}, headers=auth).status_code == 200


def test_while_the_model_loads_searches_are_503_and_the_rest_answers(serve, token, monkeypatch):
    auth = bearer(token)
    from image_finder.core.embedding import extractor as extractor_module

    release = threading.Event()
    real_load = extractor_module.Extractor.load

    def slow_load(*args, **kwargs):
        release.wait(30)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(extractor_module.Extractor, "load", slow_load)
    client = serve(extractor=None)
    try:
        answer = client.post("/api/v1/search", json={"text": "cat"}, headers=auth)
        assert error_of(answer, 503)["code"] == "model_loading"
        assert answer.headers["retry-after"] == "1"
        status = client.get("/api/v1/status", headers=auth).json()
        assert status["server"]["model_state"] == "loading"
        assert client.get("/api/v1/items/1/thumbnail", headers=auth).status_code == 200
    finally:
        release.set()
    client.app.state.service.model_ready.wait(60)
    assert client.post("/api/v1/search", json={"text": "cat"}, headers=auth).status_code == 200


def test_while_another_process_writes_indexing_is_409_and_searches_go_on(
    serve, token, library_dir, photos, photo_source
):
    auth = bearer(token)
    from image_finder.core.stores.library import Library

    client = serve()
    holder = Library(library_dir)
    holder.begin_writing()  # as a window that is indexing
    try:
        error = error_of(
            client.post("/api/v1/folders", json={"path": str(photos)}, headers=auth), 409
        )
        assert error["code"] == "busy"
        error_of(
            client.delete("/api/v1/folders", params={"path": str(photo_source)}, headers=auth),
            409,
        )
        assert client.post("/api/v1/search", json={"text": "cat"}, headers=auth).status_code == 200
    finally:
        holder.close()
    added = client.post("/api/v1/folders", json={"path": str(photos)}, headers=auth)
    assert added.status_code == 202


def test_a_folder_is_named_by_an_absolute_path_that_exists(serve, token, photos):
    auth = bearer(token)
    client = serve()
    for path, status in (
        ("Pictures", 422),
        ("/no/such/folder", 404),
        (str(photos / "coffee.jpg"), 422),
        ("", 422),
    ):
        error_of(client.post("/api/v1/folders", json={"path": path}, headers=auth), status)
    error_of(client.delete("/api/v1/folders", params={"path": "/no/such"}, headers=auth), 404)
    still_answers(client, token)


def test_the_openapi_schema_and_the_docs_page(serve):
    client = serve()
    schema = client.get("/api/v1/openapi.json").json()
    for path in (
        "/api/v1/status", "/api/v1/search", "/api/v1/items/{item_id}",
        "/api/v1/items/{item_id}/thumbnail", "/api/v1/items/{item_id}/image",
        "/api/v1/items/{item_id}/similar", "/api/v1/folders", "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/events", "/api/v1/duplicates",
    ):  # fmt: skip
        assert path in schema["paths"]
    content = schema["paths"]["/api/v1/search"]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text
    assert "cdn" not in docs.text.lower()
    for asset in ("app.js", "app.css", "docs.js", "docs.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/icon.svg").headers["content-type"].startswith("image/svg+xml")


def test_a_file_given_as_the_library_folder_stops_the_server_with_one_line(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    assert server_cli(["--data-dir", str(not_a_folder)]) == 1
    assert capsys.readouterr().err.startswith("image-finder-server: ")


def test_token_list_shows_ids_and_scopes_never_tokens(capsys):
    assert server_cli(["token", "create", "--scope", "manage", "--name", "backup script"]) == 0
    shown = capsys.readouterr().out
    token = shown.strip().splitlines()[-1]
    assert server_cli(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "manage" in listed and "backup script" in listed and token not in listed
    assert server_cli(["token", "revoke", "nope"]) == 1
