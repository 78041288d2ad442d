"""Tuning an adapter through the API: a job under a manage token, on folders inside the
library only; the features switched back at once."""

from __future__ import annotations

import json

from image_finder.core.embedding.extractor import PixelExtractor
from image_finder.server import main as server_cli
from tests.core.learning.test_adapter import _index, _make
from tests.server.conftest import bearer
from tests.server.test_api import _wait_for_end as _wait


def test_tune_is_a_job_that_applies_a_helpful_adapter_and_use_switches_back(
    serve, token, tmp_path, capsys
):
    root = tmp_path / "labelled"
    _make(root, 6, 15, seed=1)
    lib_dir = tmp_path / "lib"
    _index(lib_dir, root)
    client = serve(extractor=PixelExtractor(), folder=lib_dir)
    body = {"labels_from_folders": str(root)}
    assert client.post("/api/v1/tune", json=body).status_code == 401
    assert server_cli(["token", "create", "--scope", "search", "--json"]) == 0
    searcher = json.loads(capsys.readouterr().out)["token"]
    answer = client.post("/api/v1/tune", json=body, headers=bearer(searcher))
    assert answer.status_code == 403
    outside = client.post("/api/v1/tune", json={"labels_from_folders": str(tmp_path)},
                          headers=bearer(token))  # fmt: skip
    assert outside.status_code == 404 and "not in the library" in outside.json()["error"]["message"]
    both = client.post("/api/v1/tune", json={**body, "use": "original"}, headers=bearer(token))
    assert both.status_code == 422

    answer = client.post("/api/v1/tune", json=body, headers=bearer(token))
    assert answer.status_code == 202, answer.text
    job = answer.json()["job"]
    assert job["kind"] == "tune"
    end = _wait(client, token, job)
    assert end["state"] == "done" and end["message"].startswith("Applied"), end
    assert end["report"]["applied"] and end["report"]["gain"] >= 0.15
    shown = client.get("/api/v1/adapter", headers=bearer(searcher)).json()["adapter"]
    assert shown["active"] and shown["labels"] == [f"label{n}" for n in range(6)]
    assert client.get("/api/v1/status", headers=bearer(token)).json()["adapter"]["active"]

    switched = client.post("/api/v1/tune", json={"use": "original"}, headers=bearer(token))
    assert switched.json() == {"features": "original", "changed": True}
    assert not client.get("/api/v1/adapter", headers=bearer(token)).json()["adapter"]["active"]
