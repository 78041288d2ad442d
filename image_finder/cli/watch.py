"""image-finder-cli watch: keep folders indexed as they change, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from image_finder.core.errors import ImageFinderError
from image_finder.core.library import Library
from image_finder.core.settings import Settings


def add_parser(
    sub: Any, common: Callable[[argparse.ArgumentParser, bool], None]
) -> argparse.ArgumentParser:
    """The ``watch`` command's parser; the caller adds the model options."""
    p: argparse.ArgumentParser = sub.add_parser(
        "watch", help="index folders, then keep them indexed as they change"
    )
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="default: the library's folders")
    p.add_argument("--polling", action="store_true", help="check folders by polling")
    common(p, True)
    return p


def cmd_watch(
    args: argparse.Namespace, settings: Settings, library: Library, extractor: Any
) -> int:
    """Index ``args.folders`` once, then apply each batch of changes and print one line per
    batch (one JSON object with --json) once it is committed."""
    from image_finder.core.indexing import index_folders
    from image_finder.core.watch import FolderWatcher

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    batches: queue.Queue[Any] = queue.Queue()

    def notice(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # Watching starts first, so that nothing changed while the folders are indexed is missed.
    watcher = FolderWatcher(
        args.folders, batches.put, notice=notice, polling=True if args.polling else None
    )
    watcher.start()
    report = index_folders(args.folders, library, extractor, cancelled=stop.is_set)
    _say(args, {"event": "indexed", **_counts(report)}, f"Indexed: {_words(report)}.")
    if not args.json:
        print("Watching; Ctrl-C stops.", file=sys.stderr, flush=True)
    try:
        while not stop.is_set() or not batches.empty():
            try:
                batch = batches.get(timeout=0.25)
            except queue.Empty:
                continue
            try:
                report = index_folders(list(batch.roots), library, extractor)
            except ImageFinderError as exc:  # busy, disk full: said, and watching goes on
                notice(f"image-finder-cli: {exc}")
                continue
            _say(args, {"event": "batch", **_counts(report)}, f"Applied: {_words(report)}.")
            if stop.is_set():
                break
    finally:
        watcher.stop()
    return 0


def _counts(report: Any) -> dict[str, Any]:
    return {
        "added": report.added,
        "updated": report.updated,
        "moved": report.moved,
        "removed": report.removed,
        "seconds": round(report.seconds, 3),
    }


def _words(report: Any) -> str:
    return (
        f"{report.added} added, {report.updated} updated, {report.moved} moved, "
        f"{report.removed} removed in {report.seconds:.1f} s"
    )


def _say(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if args.json else text, flush=True)
