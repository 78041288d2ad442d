"""image-finder-server: the library as a web app and a JSON API (``/api/v1``).

Exit codes: 0 ok, 1 a user error (one readable line on stderr), 2 an internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from image_finder import __version__
from image_finder.core.common import paths
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.heap import keep_freed_blocks
from image_finder.core.common.logsetup import log_file, setup_logging
from image_finder.server.config import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT
from image_finder.server.tokens import Scope, TokenStore

log = logging.getLogger("image_finder.server")
GRACE_SECONDS = 5  # on Ctrl-C, requests under way get this long; event streams are then cut


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-finder-server",
        description="Serve the library: a web app at / and a JSON API at /api/v1.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"library folder (default: ${paths.DATA_DIR_ENV} or the user data dir)",
    )
    parser.add_argument(
        "--store",
        metavar="URI",
        help="serve a Milvus catalogue instead of the library: milvus://HOST:PORT/COLLECTION "
        "or milvus-lite:PATH.db (the server keeps no state: run several behind a balancer)",
    )
    parser.add_argument(
        "--public-search",
        action="store_true",
        help="anyone may search (a shop's catalogue); managing still needs a token",
    )
    parser.add_argument(
        "--cors-origin",
        nargs="+",
        default=[],
        metavar="URL",
        help="web pages of these origins may call the API (default: none)",
    )
    parser.add_argument(
        "--allowed-host",
        nargs="+",
        default=[],
        metavar="NAME",
        help="Host names the server is reached by, besides localhost and --host",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        metavar="MB",
        help=f"largest upload accepted (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    parser.add_argument("--model", help="model name (default: the library's, else settings)")
    parser.add_argument("--weights", metavar="FILE", help="local weights file for the model")
    parser.add_argument("--device", help="auto, cpu, cuda or mps (default: settings)")
    parser.add_argument("--precision", help="auto, fp32, bf16 or int8 (default: settings)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    token = sub.add_parser("token", help="make, list or revoke access tokens")
    actions = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a token (shown once)")
    create.add_argument("--scope", choices=[s.value for s in Scope], default="search")
    create.add_argument("--name", default="", help="a note of who or what it is for")
    revoke = actions.add_parser("revoke", help="remove a token")
    revoke.add_argument("id", metavar="ID")
    actions.add_parser("list", help="the tokens made (their ids and scopes, not the tokens)")
    for p in (create, revoke, actions.choices["list"]):
        p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def cmd_token(args: argparse.Namespace) -> int:
    store = TokenStore()
    if args.action == "create":
        info, token = store.create(Scope(args.scope), args.name)
        if args.json:
            print(json.dumps({"id": info.id, "scope": info.scope, "token": token}))
        else:
            print(f"Token {info.id} ({info.scope}), shown only this once:\n{token}")
        return 0
    if args.action == "revoke":
        if not store.revoke(args.id):
            raise ImageFinderError(f"no token {args.id} (image-finder-server token list)")
        print(json.dumps({"revoked": args.id}) if args.json else f"Revoked token {args.id}.")
        return 0
    tokens = store.tokens()
    if args.json:
        print(json.dumps({"tokens": [
            {"id": t.id, "scope": t.scope, "name": t.name, "created": t.created} for t in tokens
        ]}))  # fmt: skip
        return 0
    print("The main token (manage) is in the URL the server prints at start.")
    for t in tokens:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.created))
        print(f"{t.id}  {t.scope:7}  {made}  {t.name}")
    return 0


def _log_to_console() -> None:
    from image_finder.server.security import RedactTokens

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("image-finder-server: %(message)s"))
    logging.getLogger("image_finder").addHandler(console)
    logging.getLogger("uvicorn.error").addHandler(console)
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from image_finder.core.stores.library import READ_ONLY_NOTICE
    from image_finder.server.app import create_app, open_store
    from image_finder.server.config import ServerConfig

    if args.max_upload_mb <= 0:
        raise ImageFinderError("--max-upload-mb must be above 0")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        store=args.store or "",
        public_search=args.public_search,
        cors_origins=tuple(args.cors_origin),
        allowed_hosts=tuple(args.allowed_host),
        max_upload_mb=args.max_upload_mb,
        model=args.model,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
    )
    token = TokenStore().main_token()
    library = open_store(config)
    try:
        if library.read_only and library.capabilities.files:  # a catalogue is read-only by design
            print(f"image-finder-server: {READ_ONLY_NOTICE}", file=sys.stderr)
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        shown = f"[{shown}]" if ":" in shown else shown
        served = library.location
        print(f"Image Finder {__version__}: serving {served}")
        print(f"Open http://{shown}:{args.port}/?token={token}")
        print(f"API: http://{shown}:{args.port}/api/v1 (Authorization: Bearer TOKEN)", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"image-finder-server: listening on {args.host}: other machines can reach it "
                "(tokens still needed)",
                file=sys.stderr,
            )
        app = create_app(config, library=library)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=True,
            timeout_graceful_shutdown=GRACE_SECONDS,
        )  # live event streams end then
    finally:
        library.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    keep_freed_blocks()  # before any thread: the model's batches reuse memory
    _log_to_console()
    try:
        if args.command == "token":
            return cmd_token(args)
        return serve(args)
    except ImageFinderError as exc:
        print(f"image-finder-server: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.exception("internal error")
        print(
            f"image-finder-server: internal error: {type(exc).__name__}: {exc} "
            f"(details in {log_file()})",
            file=sys.stderr,
        )
        return 2
