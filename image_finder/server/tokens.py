"""The server's access tokens, kept in the config folder (readable by the owner only).

The first start creates the *main* token (scope ``manage``): the start-up URL carries it, and
opening that URL logs the browser in. ``image-finder-server token create --scope search``
makes more, each shown once; only their hashes are stored. ``token revoke ID`` removes one.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from image_finder.core.common import paths
from image_finder.core.common.errors import ImageFinderError

TOKENS_FILE = "server-tokens.json"


class Scope(enum.Enum):
    SEARCH = "search"  # search, items, thumbnails, original images
    MATCH = "match"  # also hash banks read, pictures matched, matches reviewed
    MANAGE = "manage"  # also folders, jobs, duplicates and their actions, banks changed

    def allows(self, needed: Scope) -> bool:
        if self is Scope.MANAGE or needed is Scope.SEARCH:
            return True
        return self is needed


@dataclass(frozen=True)
class TokenInfo:
    id: str
    scope: str
    created: float
    name: str = ""
    digest: str = ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / TOKENS_FILE

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"main": None, "tokens": []}
        except (OSError, ValueError) as exc:
            raise ImageFinderError(
                f"The server's token file {self.path} cannot be read ({exc}); move it away to "
                "start with a new main token."
            ) from exc
        return data if isinstance(data, dict) else {"main": None, "tokens": []}

    def _write(self, data: dict[str, object]) -> None:
        """Atomically, created with mode 0600 (never readable by others, not even briefly)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def tokens(self) -> list[TokenInfo]:
        raw = self._read().get("tokens") or []
        assert isinstance(raw, list)
        return [TokenInfo(**t) for t in raw if isinstance(t, dict)]

    def main_token(self) -> str:
        """The main (manage) token, created on first use."""
        data = self._read()
        main = data.get("main")
        if isinstance(main, str) and main:
            if self.path.stat().st_mode & 0o077:  # someone loosened it: tighten again
                os.chmod(self.path, 0o600)
            return main
        token = secrets.token_urlsafe(32)
        data["main"] = token
        self._write(data)
        return token

    def create(self, scope: Scope, name: str = "") -> tuple[TokenInfo, str]:
        """A new token: its record, and the token itself (shown once, never stored)."""
        token = secrets.token_urlsafe(32)
        info = TokenInfo(secrets.token_hex(4), scope.value, time.time(), name, _digest(token))
        data = self._read()
        data["tokens"] = [asdict(t) for t in self.tokens()] + [asdict(info)]
        self._write(data)
        return info, token

    def revoke(self, token_id: str) -> bool:
        data = self._read()
        kept = [t for t in self.tokens() if t.id != token_id]
        if len(kept) == len(self.tokens()):
            return False
        data["tokens"] = [asdict(t) for t in kept]
        self._write(data)
        return True


class TokenChecker:
    """Tells a token's scope; reads the file again when it changes (a token revoked or created
    while the server runs counts at once)."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self.main = store.main_token()
        self._stamp: tuple[int, int] | None = None
        self._digests: dict[str, Scope] = {}
        self._ids: dict[str, str] = {}

    def _refresh(self) -> None:
        try:
            st = self.store.path.stat()
        except OSError:
            self._digests = {}
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            known = self.store.tokens()
            self._digests = {t.digest: Scope(t.scope) for t in known}
            self._ids = {t.digest: t.id for t in known}
            self._stamp = stamp

    def who(self, token: str | None) -> str:
        """Who a valid token is, to attribute what it does: "main", or the token's id (never
        the token itself); "" for none."""
        if not token:
            return ""
        if hmac.compare_digest(token.encode(), self.main.encode()):
            return "main"
        self._refresh()
        digest = _digest(token)
        return next((i for known, i in self._ids.items() if hmac.compare_digest(known, digest)),
                    "")  # fmt: skip

    def scope_of(self, token: str | None) -> Scope | None:
        if not token:
            return None
        if hmac.compare_digest(token.encode(), self.main.encode()):
            return Scope.MANAGE
        self._refresh()
        digest = _digest(token)
        for known, scope in self._digests.items():
            if hmac.compare_digest(known, digest):
                return scope
        return None
