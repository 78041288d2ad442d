"""image-finder-cli watch: keep folders indexed as they change, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from image_finder.core.common.errors import ImageFinderError, LibraryBusyError
from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library


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


BACKUP_EVERY_SECONDS = 300.0


def cmd_watch(
    args: argparse.Namespace, settings: Settings, library: Library, extractor: Any
) -> int:
    """Index ``args.folders`` once, then apply each batch of changes and print one line per
    batch (one JSON object with --json) once it is committed. While another process writes to
    the library, batches wait for it and are then applied; a folder another process took out
    of the library is no longer watched."""
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.watch import FolderWatcher, WatchBatch

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    batches: queue.Queue[WatchBatch] = queue.Queue()

    def notice(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # Watching starts first, so that nothing changed while the folders are indexed is missed.
    watcher = FolderWatcher(
        args.folders, batches.put, notice=notice, polling=True if args.polling else None
    )
    watcher.start()
    try:
        if not _wait_for_lock(library, stop, notice):
            return 0
        try:
            report = index_folders(args.folders, library, extractor, cancelled=stop.is_set)
        finally:
            library.end_writing()
        _say(args, {"event": "indexed", **_counts(report)}, f"Indexed: {_words(report)}.")
        if not args.json:
            print("Watching; Ctrl-C stops.", file=sys.stderr, flush=True)
        _apply_batches(args, library, extractor, watcher, batches, stop, notice)
        # the backup, unless another process writes (the next run writes it then)
        with contextlib.suppress(LibraryBusyError), library.writing():
            library.backup_if_stale()
    finally:
        watcher.stop()
    return 0


def _apply_batches(
    args: argparse.Namespace,
    library: Library,
    extractor: Any,
    watcher: Any,
    batches: queue.Queue[Any],
    stop: threading.Event,
    notice: Callable[[str], None],
) -> None:
    """Until stopped: the batches that came meanwhile, merged, each applied once the writer
    lock is ours."""
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.watch import merge_batches

    last_backup = time.monotonic()
    while not stop.is_set() or not batches.empty():
        try:
            taken = [batches.get(timeout=0.25)]
        except queue.Empty:
            continue
        while not batches.empty():
            taken.append(batches.get_nowait())
        batch = _in_library(merge_batches(taken), library, watcher)
        if not batch.roots or not _wait_for_lock(library, stop, notice):
            continue
        try:
            report = index_folders(
                list(batch.roots),
                library,
                extractor,
                unsettled=batch.unsettled,
                settle=batch.settle,
                backup=False,
            )
            if time.monotonic() - last_backup > BACKUP_EVERY_SECONDS:
                library.backup_if_stale()
                last_backup = time.monotonic()
        except LibraryBusyError:  # taken between our wait and the run: again, later
            batches.put(batch)
            time.sleep(0.5)
            continue
        except ImageFinderError as exc:  # disk full: said, and watching goes on
            notice(f"image-finder-cli: {exc}")
            continue
        finally:
            library.end_writing()
        _say(args, {"event": "batch", **_counts(report)}, f"Applied: {_words(report)}.")


def _wait_for_lock(library: Library, stop: threading.Event, notice: Callable[[str], None]) -> bool:
    """Take the writer lock, waiting (with one notice) while another process holds it."""
    try:
        library.begin_writing()
        return True
    except LibraryBusyError:
        notice("The library is busy (another process is indexing it): changes wait for it.")
    return library.wait_for_writing(stop.is_set)


def _in_library(batch: Any, library: Library, watcher: Any) -> Any:
    """The batch without the folders another process took out of the library meanwhile
    (which are no longer watched)."""
    from image_finder.core.indexing.watch import in_folders

    folders = [f.path for f in library.folders()]
    kept = in_folders(batch, folders)
    if len(kept.roots) < len(batch.roots):
        watcher.set_folders([f for f in watcher.folders if f in folders])
    return kept


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
