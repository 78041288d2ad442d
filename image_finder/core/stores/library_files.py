"""The files of a library folder, and the plain operations on them that need no open
library: making the folder, clearing a failed writer's leftovers, reading and writing the
backup, opening a reader's connection."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from image_finder.core.common.dberrors import is_disk_full
from image_finder.core.common.errors import DISK_FULL, LibraryWriteError, NotALibraryError
from image_finder.core.common.faults import checkpoint

log = logging.getLogger(__name__)

DB_NAME = "library.sqlite3"
BACKUP_NAME = "library.sqlite3.backup"
LOCK_NAME = "writer.lock"
READ_ONLY_NOTICE = (
    "This library lies on a read-only medium (or in a folder you cannot write): it opened "
    "read-only. Searching works; indexing, removing and cleaning up do not."
)
_LEFTOVER_PATTERNS = ("*.tmp", "*.tmp.npz", f"{BACKUP_NAME}.tmp", f"{DB_NAME}.restoring")


def make_library_folder(folder: Path) -> None:
    """Create the library folder if needed; a clear error when the path cannot be one."""
    if not str(folder):
        raise NotALibraryError("The library folder is empty: name a folder (--data-dir DIR).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotALibraryError(f"{folder} is a file, not a library folder.") from None
    except NotADirectoryError:
        raise NotALibraryError(
            f"{folder} cannot be a library folder: a part of its path is a file."
        ) from None
    except OSError as exc:
        if folder.is_dir():
            return  # a read-only medium with the library on it
        raise NotALibraryError(
            f"The library folder {folder} cannot be created ({exc.strerror or exc})."
        ) from None


def remove_leftovers(folder: Path) -> None:
    """Temporary files of a write that failed (a full disk) or was killed: only the writer,
    holding the lock, may remove them."""
    for pattern in _LEFTOVER_PATTERNS:
        for leftover in folder.glob(pattern):
            with contextlib.suppress(OSError):
                leftover.unlink()
                log.info("removed the leftover %s", leftover.name)


def backup_stamp(path: Path) -> tuple[str | None, int] | None:
    """(created_at, generation) of a backup, or None when there is none or it is unreadable."""
    row = _read_backup(path, "SELECT (SELECT value FROM meta WHERE key='created_at'),"
                             " (SELECT value FROM meta WHERE key='generation')")  # fmt: skip
    return (None if row[0] is None else str(row[0]), int(row[1] or 0)) if row else None


def backup_count(path: Path) -> int | None:
    row = _read_backup(path, "SELECT COUNT(*) FROM images")
    return int(row[0]) if row else None


def _read_backup(path: Path, sql: str) -> tuple[Any, ...] | None:
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute(sql).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return tuple(row) if row else None


def write_backup(db: sqlite3.Connection, target: Path) -> None:
    """``db`` copied to ``target`` atomically (a temporary file, synced, then renamed); the
    temporary file is removed if the copy fails, and a full disk is said so."""
    from image_finder.core.stores.vector_index import fsync_dir

    tmp = target.with_name(target.name + ".tmp")
    try:
        copy = sqlite3.connect(tmp)
        try:
            db.backup(copy)
        finally:
            copy.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        checkpoint("backup_copied")
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if is_disk_full(exc):
            raise LibraryWriteError(f"The backup could not be written: {DISK_FULL}") from exc
        raise


def keep_shrunk_backup(target: Path, count: int, removed: int, created_at: str | None) -> str:
    """Move the backup aside (``-kept-<time>``) when it is of another library, or holds more
    than twice the images the library has plus those removed on request since; returns the
    notice to show ('' when it stays to be replaced)."""
    if not target.exists():
        return ""
    theirs = backup_stamp(target)
    their_count = backup_count(target)
    other = theirs is not None and theirs[0] != created_at
    shrunk = their_count is not None and their_count >= 10 and count + removed < their_count / 2
    if not (other or shrunk):
        return ""
    kept = target.with_name(f"{target.name}-kept-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(target, kept)
    reason = "another library" if other else f"{their_count:,} images"
    log.warning("the backup (%s) was kept aside as %s", reason, kept.name)
    return (
        f"The last backup held {reason}; this library has {count:,}. It was kept as {kept} "
        "rather than replaced."
    )


def reader_connection(db_path: Path, read_only: bool) -> sqlite3.Connection:
    """A connection of its own for reading (a snapshot); a read-only medium's database is
    opened as immutable, since nobody can change it."""
    if read_only:
        immutable = "" if os.access(db_path.parent, os.W_OK) else "&immutable=1"
        uri = f"{db_path.resolve().as_uri()}?mode=ro{immutable}"
        return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
    return sqlite3.connect(db_path, timeout=30, isolation_level=None)


class Snapshot:
    """The vectors of one read transaction (a :class:`~vector_index.VectorSource`)."""

    def __init__(
        self, db: sqlite3.Connection, generation: int, dim: int, count: int, column: str = "vector"
    ) -> None:
        self._db = db
        self._column = column  # "vector", or "adapted" (core/stores/adapted_vectors.py)
        self.generation = generation
        self.dim = dim
        self.count = count

    def _decode(self, rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        if not rows:  # none (a sample of a library whose every vector is excluded)
            return ids, np.zeros((0, self.dim), np.float32)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        return ids, vecs.reshape(len(rows), self.dim or vecs.shape[1])

    def chunks(self, size: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        while True:
            rows = self._db.execute(
                f"SELECT id, {self._column} FROM images WHERE id > ? ORDER BY id LIMIT ?",
                (last, size),
            ).fetchall()
            if not rows:
                return
            ids, vecs = self._decode(rows)
            last = int(ids[-1])
            yield ids, vecs

    def sample(self, n: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` stored vectors picked at random, none of ``exclude``: the same pick for the
        same library state (seeded by its generation), so that an index trained and
        calibrated on a sample comes out the same each time."""
        ids = np.fromiter((r[0] for r in self._db.execute("SELECT id FROM images")), np.int64)
        ids = np.setdiff1d(ids, exclude) if exclude is not None and len(exclude) else np.sort(ids)
        rng = np.random.default_rng(self.generation)
        chosen = rng.choice(ids, size=min(n, len(ids)), replace=False) if len(ids) else ids
        found: dict[int, Any] = {}
        for start in range(0, len(chosen), 500):
            part = [int(i) for i in chosen[start : start + 500]]
            marks = ",".join("?" * len(part))
            for row in self._db.execute(
                f"SELECT id, {self._column} FROM images WHERE id IN ({marks})", part
            ):
                found[row[0]] = row
        kept_ids, vecs = self._decode([found[int(i)] for i in chosen if int(i) in found])
        return kept_ids, vecs.copy()
