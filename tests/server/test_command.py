"""``image-finder-server`` as a user starts it: the printed address, the model loaded once at
start, the access log, and a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT_DIR
from tests.server.test_browser import free_port

ROOT = ROOT_DIR

pytestmark = pytest.mark.slow


def test_the_server_prints_its_address_logs_requests_without_tokens_and_stops(library_dir):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "image_finder.server",
            "--data-dir",
            str(library_dir),
            "--port",
            str(port),
            "--model",
            "efficientnet_lite0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = ""
        while "?token=" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, server.stderr.read()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line).group(0)
        token = url.split("token=")[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    login = client.get(url.split(f":{port}")[1])
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the server did not start listening"
                    time.sleep(0.2)
            assert login.status_code == 200 and "Image Finder" in login.text
            assert str(login.url).endswith("/")  # redirected, the token out of the address
            while client.get("/api/v1/status").json()["server"]["model_state"] == "loading":
                time.sleep(0.2)
            status = client.get("/api/v1/status").json()
            assert status["server"]["model_state"] == "ready" and status["images"] == 18
            found = client.post("/api/v1/search", json={"text": "cat"})
            assert found.json()["results"][0]["filename"] == "chelsea.jpg"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    log = (Path(os.environ["IMAGE_FINDER_LOG_DIR"]) / "image-finder.log").read_text()
    assert '"POST /api/v1/search HTTP/1.1" 200' in log
    assert "GET /?token=… HTTP/1.1" in log and token not in log
    assert "model efficientnet_lite0 ready" in log
