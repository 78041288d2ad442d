"""How a server runs: what it listens on, who may do what, and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_UPLOAD_MB = 20
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path | None = None  # None: the default library folder
    store: str = ""  # a Milvus catalogue (milvus://HOST:PORT/COLLECTION), instead of a library
    public_search: bool = False  # anyone may search; managing still needs a token
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides the loopback ones
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pending: int = 32  # searches admitted at once; past it, 429
    decoders: int = 2  # uploads decoded at once
    thumbnail_cache_mb: int = 64
    # model and device, as the command line's --model/--device/--precision
    model: str | None = None
    weights: str | None = None
    device: str | None = None
    precision: str | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def host_names(self) -> set[str]:
        """Host header values accepted (without port): loopback, the bound address, and any
        given with --allowed-host. Anything else is refused, against DNS rebinding."""
        names = {"127.0.0.1", "localhost", "::1", "[::1]"}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.lower())
        names.update(h.lower() for h in self.allowed_hosts)
        return names
