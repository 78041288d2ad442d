"""The one-writer rule between processes: an advisory lock file."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from image_finder.core.common.errors import LibraryBusyError, LibraryReadOnlyError


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
