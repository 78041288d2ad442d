"""The one-writer rule between processes: an advisory lock file."""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from image_finder.core.common.errors import LibraryBusyError, LibraryReadOnlyError
from image_finder.core.stores.library_files import LOCK_NAME, READ_ONLY_NOTICE, remove_leftovers

log = logging.getLogger(__name__)


class WriterLock:
    """An advisory lock on ``writer.lock``: released by the OS if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise LibraryReadOnlyError(
                    f"The library {self.path.parent} cannot be written "
                    f"({exc.strerror or exc}): it can be searched, not changed."
                ) from None
            raise
        try:
            if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LibraryBusyError(
                "The library is busy: another Image Finder window or command is indexing it. "
                "Searching still works; try again when it has finished."
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def taken_elsewhere(self) -> bool:
        """Whether another process (or another lock object) holds the lock now."""
        if self.held:
            return False
        probe = WriterLock(self.path)
        try:
            probe.acquire()
        except LibraryBusyError:
            return True
        except LibraryReadOnlyError:
            return False  # nobody can write it
        probe.release()
        return False


class Writer:
    """A library's side of the one-writer rule: the lock taken before a write and given back
    after it, with what comes with each (leftovers of a killed writer removed when taken; the
    index saved when given back)."""

    def __init__(
        self,
        folder: Path,
        lock: threading.RLock,
        read_only: bool,
        on_release: Callable[[], None],
    ) -> None:
        self._folder = folder
        self._lock = lock  # the store's lock
        self._read_only = read_only
        self._on_release = on_release
        self._file = WriterLock(folder / LOCK_NAME)

    @property
    def held(self) -> bool:
        return self._file.held

    def elsewhere(self) -> bool:
        """Whether another process is writing to the library now (a check, not a wait). The
        probe takes the lock for an instant: under the library's lock, so that two threads'
        probes, or a probe and a write starting here, never take each other for another
        process."""
        with self._lock:
            return self._file.taken_elsewhere()

    def begin(self) -> None:
        """Take the writer lock (raises LibraryBusyError if another process has it,
        LibraryReadOnlyError if the library cannot be written). Temporary files a failed or
        killed writer left behind are removed."""
        with self._lock:
            if self._read_only:
                raise LibraryReadOnlyError(READ_ONLY_NOTICE)
            if not self._file.held:
                self._file.acquire()
                remove_leftovers(self._folder)

    def wait(self, cancelled: Callable[[], bool], poll: float = 0.5) -> bool:
        """Take the writer lock, waiting while another process holds it. Returns False if
        ``cancelled`` said stop first."""
        while True:
            try:
                self.begin()
                return True
            except LibraryBusyError:
                if cancelled():
                    return False
                time.sleep(poll)

    def end(self) -> None:
        """Save the index if the database moved past it, then let other writers in (without
        the store's lock: a search takes the index's lock, then the store's, never after)."""
        if not self._file.held:
            return
        try:
            self._on_release()
        except Exception:  # the next open rebuilds it from the stored vectors
            log.warning("could not save the index of %s", self._folder, exc_info=True)
        finally:
            with self._lock:
                self._file.release()
