"""What every request passes before a route sees it: the Host header (against DNS
rebinding) and the size of its body."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from image_finder.server.errors import ApiError

log = logging.getLogger("image_finder.server")

MULTIPART_ALLOWANCE = 64 * 1024  # the form's other fields and boundaries, beyond the image
DRAIN_BYTES = 256 * 1024 * 1024  # of a refused body read and dropped, at most
DRAIN_SECONDS = 10.0  # and for this long at most


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def host_name(header: str) -> str:
    """The Host header without its port: ``[::1]:8765`` -> ``[::1]``, ``a.b:80`` -> ``a.b``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """Refuses a request whose Host is not one this server is reached by: a web page on a
    domain of an attacker's, resolved to 127.0.0.1 (DNS rebinding), cannot read the API."""

    def __init__(self, app: ASGIApp, allowed: set[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                log.warning("refused a request for host %r", host)
                await _send_error(
                    send,
                    400,
                    "bad_host",
                    f"Host {host!r} is not served here (start the server with --allowed-host "
                    f"{host or 'NAME'} to accept it).",
                )
                return
        await self.app(scope, receive, send)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a refused body, up to ``budget`` bytes and DRAIN_SECONDS (a
    lingering close, as nginx does): a client that writes its whole body before it reads the
    answer (Python's urllib) then gets the answer instead of a reset connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    seen = 0
    while seen <= budget:
        left = deadline - loop.time()
        if left <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return


class TooLargeError(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "too_large", f"The upload is larger than {limit / 1024 / 1024:g} MB.")


class BodyLimit:
    """Refuses a body over ``limit`` bytes (413): at once when Content-Length says so, else
    as soon as that many bytes have come."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.allowed = limit + MULTIPART_ALLOWANCE
        self.drain_bytes = max(DRAIN_BYTES, 2 * self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.allowed:
            await _drain(receive, self.drain_bytes)
            await _send_error(send, 413, "too_large", TooLargeError(self.limit).message)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.allowed:
                    if message.get("more_body"):
                        await _drain(receive, self.drain_bytes)
                    raise TooLargeError(self.limit)
            return message

        await self.app(scope, limited, send)


_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{20,}")  # a token's shape (43 URL-safe characters)


def redact_query(target: str) -> str:
    """``target`` (a path and query) with every query part that is, or names, a token masked:
    ``token=…`` however its name is encoded (``tok%65n``, ``token%3D…``), and any value or
    name shaped like a token (``/?TOKEN=``)."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for part in query.split("&"):
        decoded = unquote_plus(unquote_plus(part))
        key = decoded.partition("=")[0].strip().lower()
        if key == "token" or key.startswith("token=") or _TOKEN_LIKE.search(decoded):
            parts.append("token=…" if key.startswith("token") else "…")
        else:
            parts.append(part)
    return f"{path}?{'&'.join(parts)}"


class RedactTokens(logging.Filter):
    """Access log lines never show a token from a URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True
