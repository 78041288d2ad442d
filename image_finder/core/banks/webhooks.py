"""Webhooks: the matches recorded in a library's watched banks POSTed, as they are found, to
the receivers its owner configured (``image-finder-cli webhook add URL``; never over HTTP:
the server never sends to an address a client gives).

Each receiver is kept in ``webhooks.sqlite`` beside the library, readable by its owner only
(0600, like the server's tokens), with the secret its deliveries are signed with and how far
its deliveries have come: the id of the last match it acknowledged. A delivery POSTs the
matches after that id, oldest first, up to ``BATCH`` at a time, as JSON; the receiver's 2xx
answer moves the mark on, anything else (an error status, a redirect, no answer within
``TIMEOUT``) leaves it where it was and puts the next try off, twice as long each time from
``FIRST_WAIT`` up to ``LONGEST_WAIT``. So a match is delivered at least once, in order, even
across a crash or a receiver down for days; a receiver tells a repeat by the ``id`` of each
match (or the delivery id). What failed, when and how is kept for ``webhook list`` and the
server's ``GET /api/v1/webhooks``; the secret is shown once, when the receiver is added, and
never logged or served.

The body is signed as GitHub's webhooks are: ``X-Image-Finder-Signature-256: sha256=HEX``,
the HMAC-SHA256 of the body's bytes under the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import secrets
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from image_finder import __version__
from image_finder.core.common.errors import ImageFinderError

FILE = "webhooks.sqlite"
BATCH = 100  # matches per delivery
TIMEOUT = 5.0  # seconds a receiver has to answer
FIRST_WAIT = 5.0  # seconds before the first retry; doubled after each failure
LONGEST_WAIT = 3600.0
SIGNATURE = "X-Image-Finder-Signature-256"
SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    created REAL NOT NULL,
    delivered_through INTEGER NOT NULL,  -- the last match id the receiver acknowledged
    delivered INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,  -- in a row, since the last delivery
    next_try_at REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_attempt_at REAL,
    last_delivered_at REAL
);
"""

# (url, body, headers, timeout) -> the receiver's HTTP status; raises OSError when none came
Post = Callable[[str, bytes, Mapping[str, str], float], int]


@dataclass(frozen=True)
class Webhook:
    """A receiver and how its deliveries stand (never its secret)."""

    id: str
    url: str
    created: float
    delivered_through: int
    delivered: int
    failures: int
    next_try_at: float
    last_error: str
    last_attempt_at: float | None
    last_delivered_at: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Delivery:
    """One receiver's delivery run: how many matches it took, and what failed."""

    hook: Webhook
    delivered: int
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"webhook": self.hook.id, "url": self.hook.url, "delivered": self.delivered,
                "error": self.error, "next_try_at": self.hook.next_try_at or None}  # fmt: skip


def check_url(url: str) -> str:
    """``url`` if it is one a delivery can go to (http or https, with a host); else raises
    ImageFinderError saying why."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageFinderError(f"a webhook is an http:// or https:// address, not {url!r}")
    if parts.username or parts.password:
        raise ImageFinderError("a webhook's address carries no user or password: it is signed")
    return url.strip()


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookStore:
    """The receivers configured for the library at ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # made unreadable by others before a secret is written
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> WebhookStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hooks(self) -> list[Webhook]:
        rows = self._db.execute(
            "SELECT id, url, created, delivered_through, delivered, failures, next_try_at,"
            " last_error, last_attempt_at, last_delivered_at FROM webhooks ORDER BY created"
        ).fetchall()
        return [Webhook(*row) for row in rows]

    def get(self, hook_id: str) -> Webhook:
        for hook in self.hooks():
            if hook.id == hook_id:
                return hook
        raise ImageFinderError(f"no webhook {hook_id!r} (webhook list shows them)")

    def add(self, url: str, after: int) -> tuple[Webhook, str]:
        """A new receiver of the matches recorded after match ``after``; it and its secret
        (shown this once)."""
        url = check_url(url)
        secret = secrets.token_urlsafe(32)
        hook_id = secrets.token_hex(4)
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO webhooks (id, url, secret, created, delivered_through)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (hook_id, url, secret, time.time(), int(after)),
                )
        except sqlite3.IntegrityError:
            raise ImageFinderError(f"{url} is a webhook already") from None
        return self.get(hook_id), secret

    def remove(self, hook_id: str) -> None:
        with self._db:
            if not self._db.execute("DELETE FROM webhooks WHERE id=?", (hook_id,)).rowcount:
                raise ImageFinderError(f"no webhook {hook_id!r} (webhook list shows them)")

    def secret(self, hook_id: str) -> str:
        row = self._db.execute("SELECT secret FROM webhooks WHERE id=?", (hook_id,)).fetchone()
        return str(row[0]) if row else ""

    def delivered(self, hook_id: str, through: int, count: int, when: float) -> None:
        with self._db:
            self._db.execute(
                "UPDATE webhooks SET delivered_through=MAX(delivered_through, ?),"
                " delivered=delivered+?, failures=0, next_try_at=0, last_error='',"
                " last_attempt_at=?, last_delivered_at=? WHERE id=?",
                (int(through), int(count), when, when, hook_id),
            )

    def failed(self, hook_id: str, error: str, when: float, first_wait: float) -> None:
        with self._db:
            row = self._db.execute("SELECT failures FROM webhooks WHERE id=?", (hook_id,))
            failures = int((row.fetchone() or (0,))[0]) + 1
            wait = min(LONGEST_WAIT, first_wait * 2 ** (failures - 1))
            self._db.execute(
                "UPDATE webhooks SET failures=?, next_try_at=?, last_error=?,"
                " last_attempt_at=? WHERE id=?",
                (failures, when + wait, error[:300], when, hook_id),
            )


class _Refused(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx one: not followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` to ``url``; the status answered (raises OSError when none came)."""
    opener = urllib.request.build_opener(_Refused)
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with opener.open(request, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def deliver(
    folder: str | Path,
    pending: Callable[[int, int], list[dict[str, Any]]],
    *,
    send: Post = post,
    now: Callable[[], float] = time.time,
    first_wait: float = FIRST_WAIT,
    force: bool = False,
) -> list[Delivery]:
    """Deliver to each receiver of the library at ``folder`` that is due (``force``: all of
    them) the matches ``pending(after, limit)`` gives (as JSON, oldest first). What each
    took and what failed."""
    if not (Path(folder) / FILE).exists():
        return []
    out = []
    with WebhookStore(folder) as store:
        for hook in store.hooks():
            if hook.next_try_at > now() and not force:
                continue
            sent, error, through = 0, "", hook.delivered_through
            while True:
                matches = pending(through, BATCH)
                if not matches:
                    break
                body = json.dumps({
                    "event": "matches", "webhook": hook.id,
                    "delivery": f"{hook.id}-{matches[0]['id']}-{matches[-1]['id']}",
                    "sent_at": now(), "matches": matches,
                }).encode("utf-8")  # fmt: skip
                headers = {
                    "Content-Type": "application/json", "User-Agent": f"image-finder/{__version__}",
                    "X-Image-Finder-Event": "matches", SIGNATURE: sign(store.secret(hook.id), body),
                }  # fmt: skip
                try:
                    status = send(hook.url, body, headers, TIMEOUT)
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    error = _reason(exc)  # no answer, or not one of HTTP
                else:
                    error = "" if 200 <= status < 300 else f"the receiver answered HTTP {status}"
                if error:
                    store.failed(hook.id, error, now(), first_wait)
                    break
                through = int(matches[-1]["id"])
                sent += len(matches)
                store.delivered(hook.id, through, len(matches), now())
            if sent or error:
                out.append(Delivery(store.get(hook.id), sent, error))
    return out
