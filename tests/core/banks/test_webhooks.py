"""Webhooks: matches POSTed to a loopback receiver, signed with HMAC-SHA256, retried with a
growing wait until the receiver takes them, delivered at least once and in order; the
receivers' secrets kept like tokens (0600) and never listed."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from image_finder.core.banks.webhooks import FILE, SIGNATURE, WebhookStore, deliver


class Receiver:
    """An HTTP receiver on 127.0.0.1 answering the statuses of ``answers`` in turn (then
    200), keeping each request's headers and body."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/matches"

    def matches(self, n: int) -> list[int]:
        """The match ids of the ``n``-th request."""
        return [m["id"] for m in json.loads(self.got[n][1])["matches"]]


@contextlib.contextmanager
def receiving(answers: list[int]) -> Iterator[Receiver]:
    receiver = Receiver(answers)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[SIGNATURE], want)


def test_matches_reach_the_receiver_signed_retried_and_at_least_once(tmp_path: Path):
    recorded = [{"id": n, "bank": "leaks", "path": f"/in/{n}.jpg"} for n in range(1, 151)]

    def pending(after: int, limit: int) -> list[dict[str, Any]]:
        return [m for m in recorded if m["id"] > after][:limit]

    clock = [1000.0]
    with receiving([500, 503]) as receiver, WebhookStore(tmp_path) as store:
        hook, secret = store.add(receiver.url, after=0)
        assert stat.S_IMODE(os.stat(tmp_path / FILE).st_mode) == 0o600
        assert "secret" not in hook.to_json() and secret not in json.dumps(hook.to_json())

        def attempt(**options: Any) -> list[Any]:
            return deliver(tmp_path, pending, now=lambda: clock[0], first_wait=10, **options)

        failed = attempt()  # 500: nothing acknowledged, the next try put off 10 s
        assert failed[0].delivered == 0 and "HTTP 500" in failed[0].error
        assert attempt() == [] and len(receiver.got) == 1  # still waiting
        clock[0] += 10
        assert "HTTP 503" in attempt()[0].error  # and now 20 s
        clock[0] += 10
        assert attempt() == [] and store.get(hook.id).failures == 2
        assert "503" in store.get(hook.id).last_error
        clock[0] += 10
        done = attempt()  # taken: 100, then the 50 left
        assert done[0].delivered == 150 and not done[0].error
    assert [receiver.matches(n)[0] for n in range(len(receiver.got))] == [1, 1, 1, 101]
    assert receiver.matches(2) == list(range(1, 101)) and receiver.matches(3)[-1] == 150
    for headers, body in receiver.got:  # each signed with the receiver's secret, and only it
        assert signed(secret, headers, body) and not signed("guess", headers, body)
        assert json.loads(body)["event"] == "matches"
    recorded.append({"id": 151, "bank": "leaks", "path": "/in/151.jpg"})
    with receiving([]) as receiver:  # the same address, a receiver back after a restart
        with WebhookStore(tmp_path) as store:
            store.remove(hook.id)
            hook, secret = store.add(receiver.url, after=150)
        assert [d.delivered for d in deliver(tmp_path, pending)] == [1]
        assert deliver(tmp_path, pending) == [] and receiver.matches(0) == [151]


def test_a_receiver_that_is_down_or_redirects_keeps_its_matches_pending(tmp_path: Path):
    def pending(after: int, limit: int) -> list[dict[str, Any]]:
        return [{"id": 1, "bank": "b"}][after:]

    with receiving([302]) as redirecting, WebhookStore(tmp_path) as store:
        hook, _ = store.add(redirecting.url, after=0)
        assert "HTTP 302" in deliver(tmp_path, pending)[0].error
        store.remove(hook.id)
    closed = redirecting.url  # its server is gone: the connection is refused
    with WebhookStore(tmp_path) as store:
        hook, _ = store.add(closed, after=0)
    refused = deliver(tmp_path, pending)
    assert refused[0].delivered == 0 and "refused" in refused[0].error.lower()
    with WebhookStore(tmp_path) as store:
        assert store.get(hook.id).delivered_through == 0 and store.get(hook.id).failures == 1


def test_the_command_line_adds_lists_delivers_and_removes_receivers(tmp_path: Path, capsys):
    from tests.helpers import run

    data = ["--data-dir", str(tmp_path / "lib")]
    assert run(capsys, *data, "webhook", "add", "ftp://example.org/x")[0] == 1
    with receiving([500]) as receiver:
        code, out, _ = run(capsys, *data, "webhook", "add", receiver.url, "--json")
        added = json.loads(out)
        assert code == 0 and len(added["secret"]) > 20
        code, out, _ = run(capsys, *data, "webhook", "list")
        assert code == 0 and receiver.url in out and added["secret"] not in out
        assert run(capsys, *data, "webhook", "deliver")[0] == 0  # nothing recorded yet
    code, out, _ = run(capsys, *data, "webhook", "remove", added["id"])
    assert code == 0 and "Removed" in out
    assert "No webhooks yet" in run(capsys, *data, "webhook", "list")[1]
