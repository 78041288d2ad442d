"""image-finder-cli watch: keep folders indexed as they change, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from image_finder.cli.banks import match_line
from image_finder.core.app.banks import MatchSender, check_watched
from image_finder.core.common.errors import LibraryBusyError
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
BUSY_NOTICE = "The library is busy (another process is indexing it): changes wait for it."


def cmd_watch(
    args: argparse.Namespace, settings: Settings, library: Library, extractor: Any
) -> int:
    """Index ``args.folders`` once, then apply each batch of changes and print one line per
    batch (one JSON object with --json) once it is committed. The jobs run on the application
    layer's job runner (core/app/jobs.py): while another process writes to the library,
    batches wait for it and are then applied; batches that come meanwhile are merged; a folder
    another process took out of the library is no longer watched."""
    from image_finder.core.app.jobs import JobKind, JobRunner
    from image_finder.core.indexing.watch import FolderWatcher

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def notice(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def delivered(delivery: Any) -> None:  # to a webhook (core/banks/webhooks.py)
        said = f"not delivered: {delivery.error}" if delivery.error else "delivered"
        _say(args, {"event": "webhook", **delivery.to_json()},
             f"Webhook {delivery.hook.url}: {delivery.delivered:,} matches {said}.")  # fmt: skip

    sender = MatchSender(library, delivered).start()
    printer = _Printer(args, notice, sender.nudge)
    runner = JobRunner(printer.heard, name="watch")
    watching: list[Any] = []  # the watcher, for the batches' work
    for_batch = _batch_work(library, extractor, watching)

    # Watching starts first, so that nothing changed while the folders are indexed is missed.
    def queued(batch: Any) -> None:
        runner.submit_watch(batch, for_batch)

    watcher = FolderWatcher(
        args.folders,
        queued,
        notice=notice,
        polling=True if args.polling else None,
    )
    watching.append(watcher)
    watcher.start()
    runner.submit(JobKind.INDEX, _first_work(args, library, extractor, stop, notice))
    try:
        while not stop.is_set():
            stop.wait(0.25)
    finally:
        watcher.stop()
        runner.finish()  # the batches that came meanwhile, unless the library stays busy
        sender.close()
    # the backup, unless another process writes (the next run writes it then)
    with contextlib.suppress(LibraryBusyError), library.writing():
        library.backup_if_stale()
    return 0


class _Printer:
    """The runner's events as the command prints them (in the runner's thread)."""

    def __init__(self, args: argparse.Namespace, notice: Callable[[str], None],
                 matched: Callable[[], None]) -> None:  # fmt: skip
        self._args = args
        self._notice = notice
        self._matched = matched
        self._busy_said = False

    def heard(self, job: Any) -> None:
        from image_finder.core.app.jobs import JobKind, JobState

        if job.state is JobState.QUEUED and job.message and not self._busy_said:
            self._busy_said = True  # a batch sent back by a busy library: said once
            self._notice(BUSY_NOTICE)
        if not job.state.finished:
            return
        if job.state is JobState.FAILED:  # disk full: said, and watching goes on
            self._notice(f"image-finder-cli: {job.message}")
            return
        for match in (job.report or {}).get("matches", []):  # found in a watched bank
            _say(self._args, {"event": "match", **match},
                 f"In a watched bank: {match_line(match)}")  # fmt: skip
        if (job.report or {}).get("matches"):
            self._matched()  # to the webhooks, now
        if job.report is not None and job.kind is JobKind.INDEX:
            _say(self._args, {"event": "indexed", **_counts(job.report)},
                 f"Indexed: {_words(job.report)}.")  # fmt: skip
            if not self._args.json:
                print("Watching; Ctrl-C stops.", file=sys.stderr, flush=True)
        elif job.report is not None:
            _say(self._args, {"event": "batch", **_counts(job.report)},
                 f"Applied: {_words(job.report)}.")  # fmt: skip


def _first_work(
    args: argparse.Namespace,
    library: Library,
    extractor: Any,
    stop: threading.Event,
    notice: Callable[[str], None],
) -> Any:
    """Index the folders once, waiting for the writer lock while another process holds it."""
    from image_finder.core.app.jobs import JobEnd, JobState
    from image_finder.core.indexing.indexer import index_folders

    def work(control: Any) -> JobEnd:
        if not _wait_for_lock(library, stop, notice):
            return JobEnd(JobState.CANCELLED, "Stopped before the library was free.")
        try:
            report = index_folders(args.folders, library, extractor, cancelled=stop.is_set)
            report.matches = check_watched(library, stop.is_set)
        finally:
            library.end_writing()
        return JobEnd(JobState.DONE, "", report.to_json())

    return work


def _batch_work(library: Library, extractor: Any, watching: list[Any]) -> Callable[[Any], Any]:
    """The work of a watched folder's batch: applied once the writer lock is ours (a busy
    library sends it back to the runner's queue), the backup refreshed now and then."""
    from image_finder.core.app.jobs import JobEnd, JobState
    from image_finder.core.indexing.indexer import index_folders

    last_backup = [time.monotonic()]

    def for_batch(batch: Any) -> Any:
        def work(control: Any) -> JobEnd:
            kept = _in_library(batch, library, watching[0])
            if not kept.roots:
                return JobEnd(JobState.DONE, "")
            library.begin_writing()  # LibraryBusyError: the runner tries again later
            try:
                report = index_folders(list(kept.roots), library, extractor,
                                       unsettled=kept.unsettled, settle=kept.settle,
                                       backup=False)  # fmt: skip
                report.matches = check_watched(library)
                if time.monotonic() - last_backup[0] > BACKUP_EVERY_SECONDS:
                    library.backup_if_stale()
                    last_backup[0] = time.monotonic()
            finally:
                library.end_writing()
            return JobEnd(JobState.DONE, "", report.to_json())

        return work

    return for_batch


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


def _counts(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": report["added"],
        "updated": report["updated"],
        "moved": report["moved"],
        "removed": report["removed"],
        "seconds": round(report["seconds"], 3),
    }


def _words(report: dict[str, Any]) -> str:
    return (
        f"{report['added']} added, {report['updated']} updated, {report['moved']} moved, "
        f"{report['removed']} removed in {report['seconds']:.1f} s"
    )


def _say(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if args.json else text, flush=True)
