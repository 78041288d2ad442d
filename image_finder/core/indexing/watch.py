"""Watching library folders: file-system events turned into batches of folders to index again.

:class:`FolderWatcher` uses watchdog (inotify, FSEvents, ReadDirectoryChangesW), or its polling
observer where events cannot be had: network file systems, which do not report changes made by
other computers, and a reached OS watch limit. It says which with a notice.

Events are only hints. A changed image counts once its size and modification time have stayed
the same for ``settle`` seconds (editors' safe-saves, copies still being written: a file
written for minutes is picked up once it stops changing). Changes are batched: a batch is
reported once nothing has moved for ``settle`` seconds, as the smallest set of folders that
holds them. While changes go on (a long copy, a live stream of photos, a download written for
minutes), the files that have settled are committed in small batches every
``STREAM_INTERVAL`` seconds or so, each batch naming the files under its folders that are still
being written so that indexing leaves them for a later batch: a settled photo is searchable
within about ``settle`` + 1 seconds however long the stream goes on. Applying a batch is
the ordinary incremental index of those folders
(:func:`~image_finder.core.indexing.indexer.index_folders`), so moved files keep their
vectors and the one-writer rule holds.

A watched folder that disappears (deleted, or its drive unplugged) is reported once as missing
and watched again when it comes back, with a batch for it to catch up.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from image_finder.core.common.paths import inside
from image_finder.core.pictures.scanning import is_indexed_name

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.0
# While changes go on, what has settled is committed at least this often (a live stream: a
# tethered camera, a sync client), files still being written left for a later batch.
STREAM_INTERVAL = 0.5
CHECK_INTERVAL = 0.2
# Reading a file (as indexing does) is no change.
IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph", "glusterfs",
     "fuse.rclone", "davfs", "fuse.gvfsd-fuse", "ncpfs"}
)  # fmt: skip


class WatchMode(enum.Enum):
    NATIVE = "watched"
    POLLING = "watched by polling"
    MISSING = "offline"


@dataclass(frozen=True)
class WatchBatch:
    roots: tuple[str, ...]  # folders to index again, none inside another
    paths: int  # image files changed
    # files under the roots still being written: indexing leaves them as they are, and a
    # later batch takes them once they have settled
    unsettled: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()  # the settled image files it takes
    settle: float = 0.0  # what settled means: files changed more recently are left too


def in_folders(batch: WatchBatch, folders: Sequence[str]) -> WatchBatch:
    """The batch without the roots outside ``folders`` (the library's folders now): a folder
    taken out of the library meanwhile is not indexed again by a change seen before."""
    kept = tuple(r for r in batch.roots if _within(r, *folders))
    return dataclasses.replace(batch, roots=kept)


def merge_batches(batches: Sequence[WatchBatch]) -> WatchBatch:
    """Batches that waited for one indexing run, as one: a file left unsettled by one batch
    and taken by a later one is not left out."""
    unsettled: set[str] = set()
    for n, batch in enumerate(batches):
        later = set().union(*(b.changed for b in batches[n + 1 :]))
        unsettled |= batch.unsettled - later
    changed = frozenset().union(*(b.changed for b in batches))
    roots = _minimal(r for b in batches for r in b.roots)
    settle = max(b.settle for b in batches)
    return WatchBatch(tuple(roots), len(changed), frozenset(unsettled), changed, settle)


def _mount_type(path: str) -> str:
    """The file-system type of the mount that holds ``path`` (Linux; '' elsewhere)."""
    best, kind = "", ""
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3:
                    point = fields[1].replace("\\040", " ")
                    if (path == point or path.startswith(point.rstrip("/") + "/")) and len(
                        point
                    ) > len(best):
                        best, kind = point, fields[2]
    except OSError:
        return ""
    return kind


def _within(path: str, *folders: str) -> bool:
    """Whether ``path`` is one of ``folders`` or lies inside one."""
    return any(inside(path, f) for f in folders)


def _minimal(folders: Iterable[str]) -> list[str]:
    """The folders, without those inside another of them."""
    kept: list[str] = []
    for folder in sorted(set(folders)):
        if not _within(folder, *kept):
            kept.append(folder)
    return kept


class _Handler(FileSystemEventHandler):
    """Receives watchdog's events (on its thread) and notes what changed."""

    def __init__(self, watcher: FolderWatcher) -> None:
        super().__init__()
        self.watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.event_type in IGNORED_EVENTS or (
            event.is_directory and event.event_type == "modified"  # a child changed: seen too
        ):
            return
        paths = [os.fsdecode(event.src_path)]
        if getattr(event, "dest_path", ""):
            paths.append(os.fsdecode(event.dest_path))
        self.watcher.note(paths, bool(event.is_directory), event.event_type)


class FolderWatcher:
    """Watches ``folders`` and calls ``on_batch`` (on its own thread) with folders to index.

    ``notice`` is told, in words, when a folder is watched by polling or went missing.
    ``polling``: force the polling observer (True) or never use it (False)."""

    def __init__(
        self,
        folders: Sequence[str],
        on_batch: Callable[[WatchBatch], None],
        *,
        notice: Callable[[str], None] | None = None,
        settle: float = SETTLE_SECONDS,
        polling: bool | None = None,
    ) -> None:
        self.on_batch = on_batch
        self.notice = notice or (lambda text: None)
        self.settle = settle
        self.force_polling = polling
        self.modes: dict[str, WatchMode] = {}
        self._folders = [os.path.abspath(f) for f in folders]
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, int, float]] = {}  # path -> size, mtime, since
        self._dirs: set[str] = set()
        self._changed: set[str] = set()  # image files changed in the batch being gathered
        self._last_event = 0.0
        self._first_event = 0.0
        self._last_batch = 0.0
        self._move_sources: dict[str, str] = {}  # moved file -> where it was
        self._observers: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        for folder in self._folders:
            self._watch(folder)
        self._thread = threading.Thread(target=self._run, name="folder-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for observer in self._observers.values():
            observer.stop()
        for observer in self._observers.values():
            observer.join(timeout=5)
        self._observers.clear()

    @property
    def folders(self) -> list[str]:
        return list(self._folders)

    def set_folders(self, folders: Sequence[str]) -> None:
        """Watch these folders from now on (added ones start, removed ones stop)."""
        wanted = [os.path.abspath(f) for f in folders]
        for folder in [f for f in self._folders if f not in wanted]:
            self._unwatch(folder)
            self.modes.pop(folder, None)
        for folder in [f for f in wanted if f not in self._folders]:
            self._watch(folder)
        self._folders = wanted

    def _watch(self, folder: str) -> None:
        if not os.path.isdir(folder):
            self._set_mode(folder, WatchMode.MISSING)
            return
        polling = self.force_polling
        if polling is None and _mount_type(folder) in NETWORK_FILESYSTEMS:
            polling = True
            self.notice(
                f"{folder} is on a network drive, which does not report changes made from "
                "other computers: it is checked every few seconds instead."
            )
        try:
            observer = self._observer(folder, bool(polling))
        except OSError as exc:
            if polling or exc.errno not in (errno.ENOSPC, errno.EMFILE, errno.ENFILE):
                log.warning("cannot watch %s: %s", folder, exc)
                self._set_mode(folder, WatchMode.MISSING)
                return
            self.notice(
                f"The system's limit of watched folders is reached, so {folder} is checked "
                "every few seconds instead (raise fs.inotify.max_user_watches to lift it)."
            )
            observer = self._observer(folder, True)
            polling = True
        self._observers[folder] = observer
        self._set_mode(folder, WatchMode.POLLING if polling else WatchMode.NATIVE)

    def _observer(self, folder: str, polling: bool) -> Any:
        if polling:
            from watchdog.observers.polling import PollingObserver

            observer: Any = PollingObserver(timeout=2)
        else:
            from watchdog.observers import Observer

            observer = Observer()
        observer.schedule(_Handler(self), folder, recursive=True)
        observer.start()
        return observer

    def _unwatch(self, folder: str) -> None:
        observer = self._observers.pop(folder, None)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def _set_mode(self, folder: str, mode: WatchMode) -> None:
        if self.modes.get(folder) is not mode:
            log.info("%s: %s", folder, mode.value)
        self.modes[folder] = mode

    # -- events -------------------------------------------------------------------------------

    def note(self, paths: Sequence[str], is_directory: bool, kind: str) -> None:
        """A change under a watched folder (called from the observers' threads)."""
        now = time.monotonic()
        with self._lock:
            for path in paths:
                if not is_directory and not is_indexed_name(path):
                    continue
                # a folder stands for itself (one gone maps to its nearest existing parent)
                self._dirs.add(path if is_directory else os.path.dirname(path))
                if not is_directory and kind != "deleted":
                    self._pending[path] = (-1, -1, now)
                if not is_directory:
                    self._changed.add(path)
            if kind == "moved" and not is_directory and len(paths) == 2:
                self._move_sources[paths[1]] = paths[0]  # kept until the file has settled
                if not self._first_event:
                    self._first_event = now
                self._last_event = now

    def _run(self) -> None:
        last_check = 0.0
        while not self._stop.wait(CHECK_INTERVAL):
            batch = self._take_batch(time.monotonic())
            if batch is not None:
                try:
                    self.on_batch(batch)
                except Exception:
                    log.exception("applying a watch batch failed")
            if time.monotonic() - last_check > 2.0:
                last_check = time.monotonic()
                self._check_folders()

    def _unsettled(self, now: float) -> set[str]:
        """Update what is known of each pending file; the files not yet settled."""
        busy = set()
        for path, (size, mtime, since) in list(self._pending.items()):
            try:
                st = os.stat(path)
            except OSError:
                del self._pending[path]  # gone again: the scan sees that
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                self._pending[path] = (st.st_size, st.st_mtime_ns, now)
                busy.add(path)
            elif now - since < self.settle:
                busy.add(path)
        return busy

    def _take_batch(self, now: float) -> WatchBatch | None:
        with self._lock:
            if not self._dirs:
                return None
            unsettled = self._unsettled(now)
            # a file moved but not settled keeps its old entry too, so that its vector moves
            held = {src for dest, src in self._move_sources.items() if dest in unsettled}
            if unsettled:  # a file gone may be the first half of a move still being seen
                held |= {p for p in self._changed if not os.path.lexists(p)}
            if not unsettled and now - self._last_event >= self.settle:
                taken = set(self._dirs)  # all quiet: everything
            elif (
                now - self._first_event >= self.settle and now - self._last_batch >= STREAM_INTERVAL
            ):
                # changes have gone on for a while: what has settled goes now, the rest waits
                # (a quick burst of changes stays one batch)
                taken = {os.path.dirname(p) for p in self._changed if p not in unsettled | held}
                if taken:  # where held files were is scanned too: a move there is matched
                    taken |= {os.path.dirname(p) for p in held}
            else:
                return None
            if not taken:
                return None
            roots = self._roots(taken)
            waiting = frozenset(p for p in unsettled | held if _within(p, *roots))
            changed = {
                p for p in self._changed if _within(os.path.dirname(p), *roots) and p not in waiting
            }
            batch = WatchBatch(tuple(roots), len(changed), waiting, frozenset(changed), self.settle)
            self._dirs -= taken
            self._dirs |= {os.path.dirname(p) for p in waiting}
            self._changed -= changed
            for path in [p for p in self._pending if p in changed]:
                del self._pending[path]
            for dest in [d for d in self._move_sources if d in changed]:
                del self._move_sources[dest]
            if not self._dirs:
                self._first_event = 0.0  # else the stream goes on since it began
            self._last_batch = now
        return batch if roots else None

    def _roots(self, dirs: Iterable[str]) -> list[str]:
        """The nearest existing folder of each changed one, inside its watched folder."""
        found = []
        for folder in dirs:
            top = next((f for f in self._folders if _within(folder, f)), None)
            if top is None:
                continue
            while folder != top and not os.path.isdir(folder):
                folder = os.path.dirname(folder)
            found.append(folder)
        return _minimal(found)

    def _check_folders(self) -> None:
        """Folders that went missing stop being watched; those that came back are watched
        again and indexed to catch up."""
        for folder in self._folders:
            mode = self.modes.get(folder)
            present = os.path.isdir(folder)
            if mode is not WatchMode.MISSING and not present:
                self._unwatch(folder)
                self._set_mode(folder, WatchMode.MISSING)
                self.notice(f"{folder} is offline; it is watched again when it returns.")
            elif mode is WatchMode.MISSING and present:
                self._watch(folder)
                with self._lock:
                    self._dirs.add(folder)
                    self._last_event = time.monotonic()
                    self._first_event = self._first_event or self._last_event
