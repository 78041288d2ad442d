"""What an SQLite error means for the user: busy, full, read-only, or damaged.

Only corruption is damage. A database another process is creating or writing is busy, a full
disk is full, a read-only medium is read-only: each has its own words and its own remedy, and
none of them offers to restore a backup.
"""

from __future__ import annotations

import enum
import errno
import sqlite3

from image_finder.core.common.errors import (
    ImageFinderError,
    LibraryBusyError,
    LibraryDamagedError,
    LibraryReadOnlyError,
    LibraryWriteError,
)


class DbTrouble(enum.Enum):
    BUSY = "busy"
    FULL = "full"
    READ_ONLY = "read-only"
    DAMAGED = "damaged"
    CANNOT_OPEN = "cannot-open"
    IO = "io"  # a write the system refused: a full disk, a size limit, a failing drive
    OTHER = "other"


_BY_NAME = (  # SQLite's primary result codes (extended ones carry them as a prefix)
    ("SQLITE_BUSY", DbTrouble.BUSY),
    ("SQLITE_LOCKED", DbTrouble.BUSY),
    ("SQLITE_FULL", DbTrouble.FULL),
    ("SQLITE_READONLY", DbTrouble.READ_ONLY),
    ("SQLITE_CORRUPT", DbTrouble.DAMAGED),
    ("SQLITE_NOTADB", DbTrouble.DAMAGED),
    ("SQLITE_CANTOPEN", DbTrouble.CANNOT_OPEN),
    ("SQLITE_IOERR", DbTrouble.IO),
)
_BY_TEXT = (  # Python before 3.11 gives only the message
    ("locked", DbTrouble.BUSY),
    ("busy", DbTrouble.BUSY),
    ("disk is full", DbTrouble.FULL),
    ("readonly", DbTrouble.READ_ONLY),
    ("read-only", DbTrouble.READ_ONLY),
    ("malformed", DbTrouble.DAMAGED),
    ("not a database", DbTrouble.DAMAGED),
    ("unable to open", DbTrouble.CANNOT_OPEN),
    ("disk i/o error", DbTrouble.IO),
)

FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def trouble(exc: BaseException) -> DbTrouble:
    """The kind of an SQLite (or OS) error."""
    if isinstance(exc, OSError):
        if exc.errno in FULL_ERRNOS:
            return DbTrouble.FULL
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return DbTrouble.READ_ONLY
        return DbTrouble.OTHER
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    for prefix, kind in _BY_NAME:
        if name.startswith(prefix):
            return kind
    text = str(exc).lower()
    for words, kind in _BY_TEXT:
        if words in text:
            return kind
    return DbTrouble.OTHER


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and trouble(exc) is DbTrouble.BUSY


def is_disk_full(exc: BaseException) -> bool:
    """A full disk, in SQLite's words, the OS's, or FAISS's (which reports short writes)."""
    if isinstance(exc, OSError | sqlite3.Error):
        return trouble(exc) is DbTrouble.FULL
    return isinstance(exc, RuntimeError) and "write" in str(exc).lower() and "!=" in str(exc)


def store_error(
    exc: BaseException, *, kept: str = "Everything committed before is kept", writing: bool = False
) -> ImageFinderError:
    """A database or file-system error in the words every face shows, as the error type each
    face maps (busy, read-only, write failed, damaged). ``kept`` says what was not lost;
    ``writing``: the error came while writing, so what is neither busy nor damaged is a failed
    write."""
    kind = trouble(exc)
    if kind is DbTrouble.OTHER and is_disk_full(exc):
        kind = DbTrouble.FULL
    if writing and kind not in (DbTrouble.BUSY, DbTrouble.DAMAGED, DbTrouble.FULL):
        kind = DbTrouble.IO
    if kind is DbTrouble.FULL:
        return LibraryWriteError(
            "Writing the library failed: the disk is full (or a file size limit was reached). "
            f"{kept}. Free some space, then try again."
        )
    if kind is DbTrouble.IO:
        return LibraryWriteError(
            f"Writing the library failed ({exc}); the disk may be full, or the drive failing. "
            f"{kept}. Free some space, then try again."
        )
    if kind is DbTrouble.BUSY:
        return LibraryBusyError(
            "The library is busy (another process holds it); nothing was lost: try again."
        )
    if kind is DbTrouble.READ_ONLY:
        return LibraryReadOnlyError(f"The library cannot be written ({exc}); it was not changed.")
    if kind is DbTrouble.DAMAGED:
        return LibraryDamagedError(f"The library database is damaged ({exc}).")
    return ImageFinderError(f"The library database failed ({exc}).")
