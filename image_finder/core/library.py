"""One image library on disk: SQLite metadata and vectors, plus a FAISS index beside it.

Layout of a library folder::

    library.sqlite3          metadata and every vector (the source of truth), WAL mode
    index-<generation>.faiss the search index, rebuilt from the stored vectors whenever missing,
                             damaged or older than the database
    writer.lock              held (flock) by the one process allowed to write

Consistency: every change to the set of vectors happens in one SQLite transaction that also
bumps ``generation``. The FAISS file is written to a temporary name and renamed into place
with that generation in its name, so a crash at any moment leaves either a current index or
one that is recognisably stale, and a stale one is rebuilt from the stored vectors (no image is
decoded again).

Index type follows the library size (see :func:`index_plan`):

* fewer than ``IVF_MIN_VECTORS`` vectors: exact search (``IndexFlatIP`` in an ``IndexIDMap2``);
* from there on: ``IndexIVFFlat`` with inner product and ``n_regions = min(2 * sqrt(N), N / 39)``
  so that every region trains on at least 39 points (k-means on 64 points per region, 10
  iterations: a million vectors train in about a minute on two cores);
* the IVF index is retrained when N has doubled or halved since it was trained, and goes back
  to exact search below ``IVF_MIN_VECTORS / 2`` (hysteresis avoids flapping);
* after each training, the default ``nprobe`` is calibrated on 256 stored vectors: the smallest
  power of two whose recall@10 against exact search is at least ``NPROBE_TARGET_RECALL`` with
  95% confidence (the lower bound of the sample's confidence interval, so that queries from
  outside the sample reach the target too).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from image_finder.core.errors import (
    ImageFinderError,
    LibraryBusyError,
    LibraryDamagedError,
    LibraryVersionError,
    LibraryWriteError,
    ModelMismatchError,
)
from image_finder.core.faults import checkpoint

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
DB_NAME = "library.sqlite3"
BACKUP_NAME = "library.sqlite3.backup"
LOCK_NAME = "writer.lock"
INDEX_PREFIX = "index-"
INDEX_SUFFIX = ".faiss"

IVF_MIN_VECTORS = 20_000
MIN_POINTS_PER_REGION = 39
# k-means trains on at most this many points per region (faiss would take 256): training time
# grows with points x regions, and 64 per region already places the centroids well.
TRAINING_POINTS_PER_REGION = 64
KMEANS_ITERATIONS = 10
NPROBE_TARGET_RECALL = 0.95
CALIBRATION_QUERIES = 256

# Schema changes, each run in the same transaction as the version bump: version -> statements
# that bring a library of that version to the next.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (  # 2: pixel size recorded at indexing, shown even when the drive is offline
        "ALTER TABLE images ADD COLUMN width INTEGER",
        "ALTER TABLE images ADD COLUMN height INTEGER",
    ),
    2: (  # 3: brightness layout (core/layout.py); NULL for pictures indexed before
        "ALTER TABLE images ADD COLUMN layout BLOB",
    ),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    added_at REAL NOT NULL,
    last_indexed REAL
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    path BLOB NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at REAL NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    width INTEGER,
    height INTEGER,
    layout BLOB
);
CREATE INDEX IF NOT EXISTS images_folder ON images(folder_id);
CREATE INDEX IF NOT EXISTS images_hash ON images(content_hash);
"""


def encode_path(path: str | os.PathLike[str]) -> bytes:
    """Paths are stored as the file system's bytes, so undecodable names survive a round trip."""
    return os.fsencode(path)


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw)


def display_name(path: str) -> str:
    """A printable form of a path whose bytes may not be valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


@dataclass(frozen=True)
class Item:
    id: int
    path: str
    filename: str
    folder: str
    size: int
    mtime_ns: int
    content_hash: str
    indexed_at: float
    model: str
    width: int | None = None  # pixels, as displayed (EXIF orientation applied)
    height: int | None = None


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: str
    images: int
    added_at: float
    last_indexed: float | None

    @property
    def online(self) -> bool:
        return os.path.isdir(self.path)


@dataclass(frozen=True)
class IndexPlan:
    kind: str  # "flat" or "ivf"
    n_regions: int


def ideal_regions(n: int) -> int:
    return max(1, min(int(2 * math.sqrt(n)), n // MIN_POINTS_PER_REGION))


def index_plan(
    n: int,
    current: IndexPlan | None = None,
    trained_on: int = 0,
    ivf_min_vectors: int = IVF_MIN_VECTORS,
) -> IndexPlan:
    """The index a library of ``n`` vectors should have, given the one it has."""
    if current is not None and current.kind == "ivf":
        if n < ivf_min_vectors // 2:
            return IndexPlan("flat", 0)
        if trained_on and trained_on / 2 < n < trained_on * 2:
            return current  # regions still fit the data: keep them
        return IndexPlan("ivf", ideal_regions(n))
    if n >= ivf_min_vectors:
        return IndexPlan("ivf", ideal_regions(n))
    return IndexPlan("flat", 0)


class _WriterLock:
    """An advisory lock on ``writer.lock``: released by the OS if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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


class Library:
    """A library folder. Safe to share between threads: every operation takes one lock."""

    def __init__(
        self, folder: str | os.PathLike[str], *, ivf_min_vectors: int = IVF_MIN_VECTORS
    ) -> None:
        self.folder = Path(folder)
        self.ivf_min_vectors = ivf_min_vectors
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = self.folder / DB_NAME
        self._lock = threading.RLock()
        self._writer = _WriterLock(self.folder / LOCK_NAME)
        self._db = self._connect()
        self._index: Any = None  # faiss.Index, loaded on first use
        self._index_generation = -1
        self._nprobe_calibrated = 16
        self.notices: list[str] = []

    # -- opening ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.db_path, timeout=30, check_same_thread=False, isolation_level=None
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            version = self._schema_version(db)
            if version > SCHEMA_VERSION:
                db.close()
                raise LibraryVersionError(
                    f"This library was written by a newer version of Image Finder (schema "
                    f"{version}; this version reads up to {SCHEMA_VERSION}). It has not been "
                    "changed: update Image Finder to use it."
                )
            if version < SCHEMA_VERSION:  # new or older: the one write a reader may make
                self._create_or_migrate(db, version)
            db.execute("SELECT COUNT(*) FROM images").fetchone()  # reads the tables' pages
        except LibraryVersionError:
            raise
        except sqlite3.DatabaseError as exc:
            raise LibraryDamagedError(self._damage_message(exc)) from exc
        return db

    def _create_or_migrate(self, db: sqlite3.Connection, version: int) -> None:
        with db:
            db.execute("BEGIN IMMEDIATE")
            version = self._schema_version(db)  # another process may have been first
            if version == 0:
                for statement in _SCHEMA.split(";"):  # executescript would commit early
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
                db.execute("INSERT INTO meta VALUES ('generation', '0')")
                db.execute("INSERT INTO meta VALUES ('created_at', ?)", (time.time(),))
            for old in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                log.info("migrating %s from schema %d to %d", self.db_path, old, old + 1)
                for statement in _MIGRATIONS[old]:
                    db.execute(statement)
                db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(old + 1),))

    def _damage_message(self, exc: Exception) -> str:
        backup = self.folder / BACKUP_NAME
        if backup.exists():
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(backup.stat().st_mtime))
            remedy = (
                f"A backup from {when} exists: restore it with 'image-finder-cli recover' "
                "(or the window's Restore button). Images indexed since then are indexed again."
            )
        else:
            remedy = "No backup exists: move the file aside to start a new library."
        return (
            f"The library database {self.db_path} is damaged ({exc}). It has not been changed. "
            + remedy
        )

    @staticmethod
    def _schema_version(db: sqlite3.Connection) -> int:
        has_meta = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            return 0
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self.end_writing()
            self._db.close()
            self._index = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------------

    def _meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else default

    def _set_meta(self, key: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    @property
    def model(self) -> str | None:
        with self._lock:
            return self._meta("model")

    @property
    def dim(self) -> int | None:
        with self._lock:
            value = self._meta("dim")
            return int(value) if value else None

    @property
    def generation(self) -> int:
        with self._lock:
            return int(self._meta("generation", "0") or 0)

    @property
    def auto_nprobe(self) -> int:
        with self._lock:
            stored = self._meta("nprobe_auto")
            return int(stored) if stored else self._nprobe_calibrated

    def check_model(self, name: str, dim: int) -> None:
        """Refuse to mix vectors of two models in one library."""
        recorded = self.model
        if recorded is None:
            return
        if recorded != name or self.dim != dim:
            raise ModelMismatchError(
                f"This library was indexed with the model {recorded!r}, but {name!r} is loaded. "
                f"Vectors of different models cannot be compared: switch back to {recorded!r}, "
                "or re-index the library with the new model (image-finder-cli index --rebuild)."
            )

    # -- writing ------------------------------------------------------------------------------

    def begin_writing(self) -> None:
        """Take the library's writer lock (raises LibraryBusyError if another process has it)."""
        with self._lock:
            if not self._writer.held:
                self._writer.acquire()

    def end_writing(self) -> None:
        """Save the index if the database moved past it, then let other writers in."""
        with self._lock:
            if self._writer.held:
                try:
                    if self._index is not None:
                        self.save_index()
                except Exception:  # the next open rebuilds it from the stored vectors
                    log.warning("could not save the index of %s", self.folder, exc_info=True)
                finally:
                    self._writer.release()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Library]:
        held_before = self._writer.held
        self.begin_writing()
        try:
            yield self
        finally:
            if not held_before:
                self.end_writing()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if not self._writer.held:
            raise ImageFinderError("internal error: library written without the writer lock")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                checkpoint("before_commit")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
                checkpoint("after_commit")

    def _bump_generation(self, db: sqlite3.Connection) -> int:
        generation = int(self._meta("generation", "0") or 0) + 1
        self._set_meta("generation", generation)
        return generation

    def add_folder(self, path: str | os.PathLike[str]) -> FolderInfo:
        """Register a folder. A folder inside one already present is covered by it; a folder
        that contains present ones absorbs them (their images are kept)."""
        folder = os.path.abspath(os.fspath(path))
        for existing in self.folders():
            if folder == existing.path or _is_inside(folder, existing.path):
                return existing
        with self._transaction() as db:
            cur = db.execute(
                "INSERT INTO folders (path, added_at) VALUES (?, ?)",
                (encode_path(folder), time.time()),
            )
            new_id = int(cur.lastrowid or 0)
            for existing in self.folders():
                if existing.id != new_id and _is_inside(existing.path, folder):
                    db.execute(
                        "UPDATE images SET folder_id=? WHERE folder_id=?", (new_id, existing.id)
                    )
                    db.execute("DELETE FROM folders WHERE id=?", (existing.id,))
        return self.folder_info(folder)  # type: ignore[return-value]

    def folder_info(self, path: str) -> FolderInfo | None:
        folder = os.path.abspath(path)
        return next((f for f in self.folders() if f.path == folder), None)

    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Take a folder and its images out of the library. Returns the number of images."""
        info = self.folder_info(os.fspath(path))
        if info is None:
            raise ImageFinderError(f"{display_name(os.fspath(path))} is not in the library")
        ids = [row[0] for row in self.folder_rows(info.id)]
        if ids:
            self.apply_changes(model=self.model or "", removed=ids)
        with self._transaction() as db:
            db.execute("DELETE FROM folders WHERE id=?", (info.id,))
        return len(ids)

    def _forget_model_if_empty(self, db: sqlite3.Connection) -> None:
        if db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0:
            db.execute("DELETE FROM meta WHERE key IN ('model', 'dim')")

    def set_folder_indexed(self, folder_id: int, when: float | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE folders SET last_indexed=? WHERE id=?", (when or time.time(), folder_id)
            )

    def apply_changes(
        self,
        *,
        model: str,
        added: Sequence[tuple[Any, ...]] = (),
        added_vectors: np.ndarray | None = None,
        reembedded: Sequence[tuple[Any, ...]] = (),
        reembedded_vectors: np.ndarray | None = None,
        moved: Sequence[tuple[int, int, str, int, int]] = (),
        touched: Sequence[tuple[int, int, int]] = (),
        removed: Sequence[int] = (),
    ) -> list[int]:
        """Commit one batch of indexing work atomically. Returns the ids of added images.

        added: (folder_id, path, size, mtime_ns, content_hash[, width, height[, layout]]) with
        ``added_vectors`` rows;
        reembedded: (id, size, mtime_ns, content_hash[, width, height[, layout]]) with
        ``reembedded_vectors`` rows;
        moved: (id, folder_id, new_path, size, mtime_ns) keeping the stored vector;
        touched: (id, size, mtime_ns) for files whose content did not change;
        removed: ids.
        """
        now = time.time()
        vectors_change = bool(added or reembedded or removed)
        new_ids: list[int] = []
        with self._transaction() as db:
            if added or reembedded:
                dim = (added_vectors if added else reembedded_vectors).shape[1]  # type: ignore[union-attr]
                if self._meta("model") is None:
                    self._set_meta("model", model)
                    self._set_meta("dim", dim)
                self.check_model(model, dim)
            for row, vec in zip(added, _rows(added_vectors, len(added)), strict=True):
                folder_id, path, size, mtime, digest, *extra = row
                width, height, layout = _extra(extra)
                cur = db.execute(
                    "INSERT INTO images (folder_id, path, filename, size, mtime_ns, content_hash,"
                    " indexed_at, model, vector, width, height, layout)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        folder_id,
                        encode_path(path),
                        display_name(os.path.basename(path)),
                        size,
                        mtime,
                        digest,
                        now,
                        model,
                        _blob(vec),
                        width,
                        height,
                        layout,
                    ),
                )
                new_ids.append(int(cur.lastrowid or 0))
            for row, vec in zip(
                reembedded, _rows(reembedded_vectors, len(reembedded)), strict=True
            ):
                image_id, size, mtime, digest, *extra = row
                width, height, layout = _extra(extra)
                db.execute(
                    "UPDATE images SET size=?, mtime_ns=?, content_hash=?, indexed_at=?, model=?,"
                    " vector=?, width=?, height=?, layout=? WHERE id=?",
                    (size, mtime, digest, now, model, _blob(vec), width, height, layout, image_id),
                )
            for image_id, folder_id, path, size, mtime in moved:
                db.execute(
                    "UPDATE images SET folder_id=?, path=?, filename=?, size=?, mtime_ns=?"
                    " WHERE id=?",
                    (
                        folder_id,
                        encode_path(path),
                        display_name(os.path.basename(path)),
                        size,
                        mtime,
                        image_id,
                    ),
                )
            for image_id, size, mtime in touched:
                db.execute(
                    "UPDATE images SET size=?, mtime_ns=? WHERE id=?", (size, mtime, image_id)
                )
            if removed:
                db.executemany("DELETE FROM images WHERE id=?", [(i,) for i in removed])
                self._forget_model_if_empty(db)
            generation = self._bump_generation(db) if vectors_change else None
        if vectors_change:
            with self._lock:
                if self._index is not None and self._index_generation == (generation or 0) - 1:
                    changed = [r[0] for r in reembedded]
                    self._index.remove_ids(np.asarray(list(removed) + changed, dtype=np.int64))
                    if added:
                        self._index.add_with_ids(added_vectors, np.asarray(new_ids, dtype=np.int64))
                    if reembedded:
                        self._index.add_with_ids(
                            reembedded_vectors, np.asarray(changed, dtype=np.int64)
                        )
                    self._index_generation = generation or 0
                else:
                    self._index = None  # stale: rebuilt on next use
        return new_ids

    def clear_vectors(self) -> int:
        """Drop every image (folders stay) so that the library can be re-indexed with another
        model. Returns how many were dropped."""
        with self._transaction() as db:
            n = int(db.execute("SELECT COUNT(*) FROM images").fetchone()[0])
            db.execute("DELETE FROM images")
            db.execute("DELETE FROM meta WHERE key IN ('model', 'dim', 'ivf_trained_on')")
            db.execute("UPDATE folders SET last_indexed=NULL")
            self._bump_generation(db)
        with self._lock:
            self._index = None
        self.save_index()
        return n

    def backup(self) -> Path:
        """Copy the database to ``library.sqlite3.backup`` (temp file + rename), the recovery
        point if the database is ever damaged. Vectors are about 0.1% of the photos' size."""
        target = self.folder / BACKUP_NAME
        tmp = target.with_name(target.name + ".tmp")
        with self._lock:
            copy = sqlite3.connect(tmp)
            try:
                self._db.backup(copy)
            finally:
                copy.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return target

    @staticmethod
    def restore_backup(folder: str | os.PathLike[str]) -> Path:
        """Put the last backup in place of a damaged database. The damaged file is kept beside
        it (``library.sqlite3.damaged-<time>``); the index is rebuilt from the backup's vectors.
        Returns where the damaged file went."""
        folder = Path(folder)
        backup = folder / BACKUP_NAME
        if not backup.exists():
            raise ImageFinderError(f"There is no backup in {folder}.")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = folder / f"{DB_NAME}.damaged-{stamp}"
        lock = _WriterLock(folder / LOCK_NAME)
        lock.acquire()
        try:
            for suffix in ("", "-wal", "-shm"):
                source = folder / (DB_NAME + suffix)
                if source.exists():
                    os.replace(source, kept.with_name(kept.name + suffix))
            tmp = folder / (DB_NAME + ".restoring")
            shutil.copyfile(backup, tmp)
            os.replace(tmp, folder / DB_NAME)
            for index_file in folder.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"):
                index_file.unlink()
        finally:
            lock.release()
        log.warning("restored %s from its backup; the damaged file is %s", folder, kept)
        return kept

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity check and by comparing index and database."""
        with self._lock:
            problems = [
                str(row[0])
                for row in self._db.execute("PRAGMA integrity_check").fetchall()
                if row[0] != "ok"
            ]
        if not problems:
            info = self.index_info()
            if info["vectors"] != self.count():
                problems.append(
                    f"the index holds {info['vectors']} vectors, the database {self.count()}"
                )
        return problems

    # -- reading ------------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def folders(self) -> list[FolderInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT f.id, f.path, f.added_at, f.last_indexed,"
                " (SELECT COUNT(*) FROM images i WHERE i.folder_id = f.id)"
                " FROM folders f ORDER BY f.path"
            ).fetchall()
        return [FolderInfo(r[0], decode_path(r[1]), r[4], r[2], r[3]) for r in rows]

    def folder_rows(self, folder_id: int) -> Iterator[tuple[int, str, int, int, str]]:
        """(id, path, size, mtime_ns, content_hash) of every image in a folder."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, size, mtime_ns, content_hash FROM images WHERE folder_id=?",
                (folder_id,),
            ).fetchall()
        for r in rows:
            yield r[0], decode_path(r[1]), r[2], r[3], r[4]

    def items(self, ids: Iterable[int]) -> dict[int, Item]:
        id_list = [int(i) for i in ids]
        if not id_list:
            return {}
        marks = ",".join("?" * len(id_list))
        with self._lock:
            rows = self._db.execute(
                "SELECT i.id, i.path, i.filename, f.path, i.size, i.mtime_ns, i.content_hash,"
                " i.indexed_at, i.model, i.width, i.height"
                f" FROM images i JOIN folders f ON f.id = i.folder_id"
                f" WHERE i.id IN ({marks})",
                id_list,
            ).fetchall()
        return {r[0]: Item(r[0], decode_path(r[1]), r[2], decode_path(r[3]), *r[4:]) for r in rows}

    def item_by_path(self, path: str | os.PathLike[str]) -> Item | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM images WHERE path=?", (encode_path(os.path.abspath(path)),)
            ).fetchone()
        return self.items([row[0]]).get(row[0]) if row else None

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(ids), self.dim or 0), np.float32)
        with self._lock:
            for n, image_id in enumerate(ids):
                row = self._db.execute(
                    "SELECT vector FROM images WHERE id=?", (int(image_id),)
                ).fetchone()
                if row is None:
                    raise ImageFinderError(f"image {image_id} is not in the library")
                out[n] = np.frombuffer(row[0], np.float32)
        return out

    def missing_layouts(self, folder_ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, path) of the images in those folders indexed before layouts were stored (an
        empty layout marks one whose file could not be read for it: not listed)."""
        marks = ",".join("?" * len(folder_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, path FROM images WHERE layout IS NULL AND folder_id IN ({marks})",
                [int(f) for f in folder_ids],
            ).fetchall()
        return [(r[0], decode_path(r[1])) for r in rows]

    def set_layouts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Store brightness layouts (id, layout) for images already indexed."""
        with self._transaction() as db:
            db.executemany("UPDATE images SET layout=? WHERE id=?", [(b, i) for i, b in rows])

    def layouts(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored brightness layouts (core/layout.py) of those images that have one (not
        those indexed before layouts were stored, nor those whose file could not be read)."""
        out: dict[int, bytes] = {}
        id_list = [int(i) for i in ids]
        with self._lock:
            for start in range(0, len(id_list), 500):
                chunk = id_list[start : start + 500]
                rows = self._db.execute(
                    f"SELECT id, layout FROM images WHERE id IN ({','.join('?' * len(chunk))})"
                    " AND length(layout) > 0",
                    chunk,
                ).fetchall()
                out.update((r[0], bytes(r[1])) for r in rows)
        return out

    def ids_under(self, folder: str) -> np.ndarray:
        prefix = encode_path(os.path.join(os.path.abspath(folder), ""))
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM images WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def bytes_on_disk(self) -> int:
        total = 0
        for entry in self.folder.iterdir():
            with contextlib.suppress(OSError):
                total += entry.stat().st_size
        return total

    def last_indexed(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(last_indexed) FROM folders").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def _iter_vectors(self, chunk: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) chunks straight from SQLite, so memory stays near one chunk."""
        last = -1
        dim = self.dim or 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, vector FROM images WHERE id > ? ORDER BY id LIMIT ?",
                    (last, chunk),
                ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, dim)
            last = int(ids[-1])
            yield ids, vecs

    def _sample_vectors(
        self, n: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` stored vectors picked at random, none of whose ids is in ``exclude``."""
        with self._lock:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS sample_exclude(id INTEGER)")
            self._db.execute("DELETE FROM sample_exclude")
            if exclude is not None:
                self._db.executemany(
                    "INSERT INTO sample_exclude VALUES (?)", ((int(i),) for i in exclude)
                )
            rows = self._db.execute(
                "SELECT id, vector FROM images WHERE id NOT IN (SELECT id FROM sample_exclude)"
                " ORDER BY random() LIMIT ?",
                (n,),
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        return ids, vecs.copy()

    # -- the FAISS index ----------------------------------------------------------------------

    def index_info(self) -> dict[str, Any]:
        index = self.index()
        faiss = _faiss()

        ivf = faiss.try_extract_index_ivf(index) if index is not None else None
        return {
            "index_type": "IndexIVFFlat" if ivf is not None else "IndexFlatIP",
            "n_regions": int(ivf.nlist) if ivf is not None else 0,
            "nprobe": self.auto_nprobe if ivf is not None else 0,
            "vectors": int(index.ntotal) if index is not None else 0,
        }

    def _index_files(self) -> list[Path]:
        """Index files, oldest generation first."""

        def generation(path: Path) -> int:
            try:
                return int(path.name[len(INDEX_PREFIX) : -len(INDEX_SUFFIX)])
            except ValueError:
                return -1

        return sorted(self.folder.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"), key=generation)

    def _index_file(self, generation: int) -> Path:
        return self.folder / f"{INDEX_PREFIX}{generation}{INDEX_SUFFIX}"

    def index(self) -> Any:
        """The current FAISS index, loaded or rebuilt as needed; None for an empty library."""
        with self._lock:
            generation = self.generation
            if self._index is not None and self._index_generation == generation:
                return self._index
            if self.dim is None:
                self._index, self._index_generation = None, generation
                return None
            loaded = self._load_index_file(generation)
            if loaded is not None:
                self._index, self._index_generation = loaded, generation
                return self._index
            if self._writer.held:
                self._rebuild(generation)
                self.save_index()
            else:
                # A reader builds from one snapshot, so that a writer's commits during the
                # build cannot mix two states of the library.
                self._db.execute("BEGIN")
                try:
                    self._rebuild(self.generation)
                finally:
                    self._db.execute("COMMIT")
            return self._index

    def _load_index_file(self, generation: int) -> Any:
        faiss = _faiss()

        path = self._index_file(generation)
        if not path.exists():
            # Older than the database: a writer is at work, or one stopped mid-run.
            log.info("no index for generation %d in %s; building it", generation, self.folder)
            return None
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError on any damage
            log.warning("cannot read %s (%s); rebuilding from stored vectors", path, exc)
            self._notice(
                "The search index file was damaged; it was rebuilt from the stored vectors."
            )
            return None
        if index.ntotal != self.count() or index.d != self.dim:
            log.warning(
                "%s holds %d vectors, the database %d; rebuilding", path, index.ntotal, self.count()
            )
            self._notice("The search index did not match the library; it was rebuilt.")
            return None
        return index

    def _notice(self, text: str) -> None:
        log.info(text)
        if text not in self.notices:
            self.notices.append(text)

    def _rebuild(self, generation: int, plan: IndexPlan | None = None) -> None:
        """Build the index from the stored vectors (no image is decoded)."""
        faiss = _faiss()

        started = time.perf_counter()
        n = self.count()
        dim = self.dim or 0
        plan = plan or index_plan(n, self._current_plan(), self._trained_on(), self.ivf_min_vectors)
        calibrate = False
        if plan.kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            index = self._trained_ivf(plan)
            if index is None:
                quantizer = faiss.IndexFlatIP(dim)
                index = faiss.IndexIVFFlat(
                    quantizer, dim, plan.n_regions, faiss.METRIC_INNER_PRODUCT
                )
                # The calibration queries are kept out of k-means when there are enough other
                # points, so that they stand for new photos rather than for training points.
                calibration = self._sample_vectors(CALIBRATION_QUERIES)
                wanted = plan.n_regions * TRAINING_POINTS_PER_REGION
                held_out = (
                    calibration[0]
                    if n - len(calibration[0]) >= plan.n_regions * MIN_POINTS_PER_REGION
                    else None
                )
                _, sample = self._sample_vectors(min(n, wanted), exclude=held_out)
                index.cp.niter = KMEANS_ITERATIONS
                checkpoint("ivf_training")
                index.train(sample)
                calibrate = True
        for ids, vecs in self._iter_vectors():
            index.add_with_ids(vecs, ids)
        if calibrate:
            self._nprobe_calibrated = self._calibrate_nprobe(index, *calibration)
            if self._writer.held:  # a reader keeps its calibration in memory only
                with self._lock:
                    self._set_meta("ivf_trained_on", n)
                    self._set_meta("nprobe_auto", self._nprobe_calibrated)
        self._index, self._index_generation = index, generation
        log.info(
            "built %s index of %d vectors in %.2f s", plan.kind, n, time.perf_counter() - started
        )

    def _current_plan(self) -> IndexPlan | None:
        faiss = _faiss()

        candidates = [self._index] if self._index is not None else []
        if not candidates:
            files = self._index_files()
            if files:
                with contextlib.suppress(Exception):
                    candidates.append(faiss.read_index(str(files[-1]), faiss.IO_FLAG_MMAP))
        for index in candidates:
            ivf = faiss.try_extract_index_ivf(index)
            return IndexPlan("ivf", int(ivf.nlist)) if ivf is not None else IndexPlan("flat", 0)
        return None

    def _trained_on(self) -> int:
        with self._lock:
            return int(self._meta("ivf_trained_on", "0") or 0)

    def _trained_ivf(self, plan: IndexPlan) -> Any:
        """An empty copy of the current IVF index when its regions still fit ``plan``."""
        faiss = _faiss()

        source = self._index
        if source is None:
            files = self._index_files()
            if files:
                with contextlib.suppress(Exception):
                    source = faiss.read_index(str(files[-1]))
        if source is None:
            return None
        ivf = faiss.try_extract_index_ivf(source)
        if ivf is None or int(ivf.nlist) != plan.n_regions or source.d != self.dim:
            return None
        if source is self._index:
            source = faiss.clone_index(source)
        source.reset()
        return source

    def _calibrate_nprobe(self, index: Any, ids: np.ndarray, queries: np.ndarray) -> int:
        """Smallest power-of-two nprobe with recall@10 >= target on stored vectors as queries."""
        faiss = _faiss()

        exact = faiss.IndexIDMap2(faiss.IndexFlatIP(queries.shape[1]))
        for chunk_ids, vecs in self._iter_vectors():
            exact.add_with_ids(vecs, chunk_ids)
        k = 11  # the query itself is in the library: compare the 10 after it
        _, truth = exact.search(queries, k)
        ivf = faiss.extract_index_ivf(index)
        nprobe = 1
        while nprobe < ivf.nlist:
            _, found = index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
            per_query = np.array(
                [
                    len(set(t[t != q][:10]) & set(f[f != q][:10])) / 10
                    for q, t, f in zip(ids, truth, found, strict=True)
                ]
            )
            # The sample is small and new photos are not in the library: require the target of
            # the one-sided 95% lower confidence bound, not of the sample mean.
            margin = 1.645 * per_query.std(ddof=1) / math.sqrt(len(per_query))
            if per_query.mean() - margin >= NPROBE_TARGET_RECALL:
                break
            nprobe *= 2
        log.info("calibrated nprobe=%d for %d regions", nprobe, ivf.nlist)
        return min(nprobe, int(ivf.nlist))

    def optimize(self) -> None:
        """Retrain or switch index type when the library size calls for it, then save."""
        with self._lock:
            self.index()
            plan = index_plan(
                self.count(), self._current_plan(), self._trained_on(), self.ivf_min_vectors
            )
            if plan != self._current_plan():
                self._rebuild(self.generation, plan)
            self.save_index()

    def save_index(self) -> None:
        """Write the in-memory index to ``index-<generation>.faiss`` atomically."""
        faiss = _faiss()

        with self._lock:
            if not self._writer.held:
                return
            index = self.index() if self._index is None else self._index
            generation = self._index_generation
            target = self._index_file(generation)
            if index is not None and not target.exists():
                tmp = target.with_name(target.name + ".tmp")
                try:
                    faiss.write_index(index, str(tmp))
                    with open(tmp, "rb+") as f:
                        os.fsync(f.fileno())
                except (RuntimeError, OSError) as exc:  # faiss reports write errors as RuntimeError
                    tmp.unlink(missing_ok=True)
                    raise LibraryWriteError(f"cannot write the search index: {exc}") from exc
                checkpoint("index_written")
                os.replace(tmp, target)
                _fsync_dir(self.folder)
                checkpoint("index_renamed")
            for old in self._index_files():
                if old != target:
                    with contextlib.suppress(OSError):
                        old.unlink()
            for tmp in self.folder.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}.tmp"):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        restrict_to: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query row; ids are -1 where fewer than k exist."""
        faiss = _faiss()

        with self._lock:
            index = self.index()
            if index is None:
                n = len(queries)
                return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
            k = max(1, min(k, int(index.ntotal)))
            selector = faiss.IDSelectorBatch(restrict_to) if restrict_to is not None else None
            ivf = faiss.try_extract_index_ivf(index)
            if ivf is not None:
                params: Any = faiss.SearchParametersIVF(
                    nprobe=max(1, nprobe or self.auto_nprobe), sel=selector
                )
            else:
                params = faiss.SearchParameters(sel=selector) if selector is not None else None
            scores, ids = index.search(np.ascontiguousarray(queries, np.float32), k, params=params)
        return scores, ids


def _rows(vectors: np.ndarray | None, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros((0, 0), np.float32)
    if vectors is None or len(vectors) != n:
        raise ValueError(f"expected {n} vectors")
    return vectors


def _extra(values: Sequence[Any]) -> tuple[Any, Any, Any]:
    """(width, height, layout) from the optional tail of an added or re-embedded row."""
    width, height, layout = (*values, None, None, None)[:3]
    return width, height, layout


def _faiss() -> Any:
    """faiss, imported on first use (its typing stubs are incomplete, so it is typed Any)."""
    import faiss

    return faiss


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def _is_inside(path: str, folder: str) -> bool:
    return path.startswith(os.path.join(folder, ""))


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
