"""One image library on disk: the SQLite store of metadata and vectors, with its search index.

Layout of a library folder::

    library.sqlite3          metadata and every vector (the source of truth), WAL mode
    index-<generation>.faiss the search index (core/stores/vector_index.py), rebuilt from the stored
                             vectors whenever missing, damaged or older than the database
    writer.lock              held (flock) by the one process allowed to write

Consistency: every change to the set of vectors happens in one SQLite transaction that also
bumps ``generation``; the vector index then follows the batch in memory and is saved under that
generation's name, so a crash at any moment leaves a library that opens.

The store and the index have separate locks: the store's is held for single SQL statements and
short transactions, the index's for searches and batch updates. Training a new index takes
neither (it reads a snapshot), so reading the library never waits for k-means.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import (
    ImageFinderError,
    ModelMismatchError,
)
from image_finder.core.common.records import (
    FolderInfo,
    Item,
    Part,
    Scan,
    StoredFile,
    decode_path,
    display_name,
    encode_path,
)
from image_finder.core.stores.adapted_vectors import AdaptedVectors
from image_finder.core.stores.database import LibraryDatabase, LibraryIndexHost
from image_finder.core.stores.item_writes import ItemWrites
from image_finder.core.stores.library_files import (
    BACKUP_NAME,
    DB_NAME,
    LOCK_NAME,
    READ_ONLY_NOTICE,
    Snapshot,
    backup_stamp,
    keep_shrunk_backup,
    make_library_folder,
    write_backup,
)
from image_finder.core.stores.schema import open_database
from image_finder.core.stores.side_data import SideData
from image_finder.core.stores.store import Capabilities
from image_finder.core.stores.vector_index import IVF_MIN_VECTORS, FaissIndex, VectorIndex
from image_finder.core.stores.writer_lock import Writer

if TYPE_CHECKING:
    from image_finder.core.learning.adapter import Adapter

log = logging.getLogger(__name__)

__all__ = ["BACKUP_NAME", "DB_NAME", "LOCK_NAME", "READ_ONLY_NOTICE", "Library"]
_VECTOR_KEYS = "('model', 'dim', 'precision_check', 'ivf_trained_on')"


class Library:
    """A library folder. Safe to share between threads: every operation takes one lock."""

    def __init__(
        self, folder: str | os.PathLike[str], *, ivf_min_vectors: int = IVF_MIN_VECTORS
    ) -> None:
        self.folder = Path(folder)
        self.ivf_min_vectors = ivf_min_vectors
        make_library_folder(self.folder)
        self.db_path = self.folder / DB_NAME
        self._lock = threading.RLock()
        self._db, self.read_only = open_database(self.db_path, self.folder / BACKUP_NAME)
        self._database = LibraryDatabase(
            self.db_path, self._db, self._lock,
            read_only=self.read_only, writer_held=lambda: self._writer.held,
        )  # fmt: skip
        self.side_data = SideData(self._database)  # layouts, facts, concepts, CLIP vectors
        self.spaces = AdaptedVectors(self._database)  # the model's vectors and the adapter's
        host = LibraryIndexHost(self.folder, self._database, self.spaces)
        self.vector_index: VectorIndex = FaissIndex(host, ivf_min_vectors=ivf_min_vectors)
        self._writer = Writer(
            self.folder, self._lock, self.read_only, lambda: self.vector_index.save(if_loaded=True)
        )
        self._writes = ItemWrites(self._database, self.spaces, self.vector_index, self.check_model)
        # a batch of indexing work in one transaction; one file's items out with an action
        self.apply_changes = self._writes.apply
        self.removing = self._writes.removing

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            writable=not self.read_only, words=True, concepts=True, adapter=True,
            conditions=True, files=True, texts=True,
        )  # fmt: skip

    @property
    def location(self) -> str:
        return str(self.folder)

    def as_library(self) -> Library:
        return self

    def describe(self) -> dict[str, str]:
        return {"library": str(self.folder)}

    @property
    def notices(self) -> list[str]:
        """Things worth telling the user about this library (a rebuilt index file, say)."""
        return [READ_ONLY_NOTICE] * self.read_only + self.vector_index.notices

    # -- opening ------------------------------------------------------------------------------

    def close(self) -> None:
        self.end_writing()
        with self._lock:
            self._db.close()
        self.vector_index.reset()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------------

    @property
    def model(self) -> str | None:
        return self._database.model

    @property
    def dim(self) -> int | None:
        return self._database.dim

    @property
    def generation(self) -> int:
        return self._database.generation

    def meta_value(self, key: str) -> str | None:
        return self._database.meta_value(key)

    def set_meta_values(self, values: dict[str, object]) -> None:
        """Record facts about the library (the index's training, say); writer only."""
        self._database.set_meta_values(values)

    def check_model(self, name: str, dim: int) -> None:
        """Refuse to mix vectors of two models in one library."""
        recorded = self.model
        if recorded is None:
            return
        if recorded != name or self.dim != dim:
            raise ModelMismatchError(
                f"This library was indexed with the model {recorded!r}, but {name!r} is loaded. "
                f"Vectors of different models cannot be compared: switch back to {recorded!r}, "
                "or index the library again with the new model."
            )

    # -- writing ------------------------------------------------------------------------------

    @property
    def writer_held(self) -> bool:
        return self._writer.held

    def writer_elsewhere(self) -> bool:
        """Whether another process is writing to the library now (a check, not a wait)."""
        return self._writer.elsewhere()

    def begin_writing(self) -> None:
        """Take the writer lock (core/stores/writer_lock.py ``Writer.begin``)."""
        self._writer.begin()

    def wait_for_writing(self, cancelled: Callable[[], bool], poll: float = 0.5) -> bool:
        """Take the writer lock, waiting while another process holds it (False: cancelled)."""
        return self._writer.wait(cancelled, poll)

    def end_writing(self) -> None:
        """Save the index, then let other writers in."""
        self._writer.end()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Library]:
        held_before = self._writer.held
        self.begin_writing()
        try:
            yield self
        finally:
            if not held_before:
                self.end_writing()

    def add_folder(self, path: str | os.PathLike[str]) -> FolderInfo:
        """Register a folder. A folder inside one already present is covered by it; a folder
        that contains present ones absorbs them (their images are kept)."""
        folder = os.path.abspath(os.fspath(path))
        for existing in self.folders():
            if folder == existing.path or _is_inside(folder, existing.path):
                return existing
        with self._database.transaction() as db:
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
            self.apply_changes(model=self.model or "", removed=ids, on_request=True)
        with self._database.transaction() as db:
            db.execute("DELETE FROM folders WHERE id=?", (info.id,))
        return len(ids)

    def remove_folders(self, paths: Sequence[str | os.PathLike[str]]) -> list[int]:
        """Take folders out of the library, then refresh the backup, so that restoring it
        never brings them back. Returns how many images each had."""
        with self.writing():
            removed = [self.remove_folder(path) for path in paths]
            self.backup()
        return removed

    def set_folder_indexed(self, folder_id: int, when: float | None = None) -> None:
        """The folder's indexing run finished: it is complete."""
        with self._database.transaction() as db:
            db.execute(
                "UPDATE folders SET last_indexed=?, complete=1 WHERE id=?",
                (when or time.time(), folder_id),
            )

    def set_folder_started(self, folder_ids: Sequence[int], files_found: dict[int, int]) -> None:
        """An indexing run of these folders began (and found so many image files in each): until
        it finishes, each is incomplete, also after a crash or a quit."""
        with self._database.transaction() as db:
            db.executemany(
                "UPDATE folders SET complete=0, files_found=COALESCE(?, files_found) WHERE id=?",
                [(files_found.get(i), i) for i in folder_ids],
            )

    def clear_vectors(self) -> int:
        """Drop every image (folders stay) so that the library can be re-indexed with another
        model. Returns how many were dropped."""
        with self._database.transaction() as db:
            n = int(db.execute("SELECT COUNT(*) FROM images").fetchone()[0])
            self._writes.count_removed(n)
            db.execute("DELETE FROM images")
            db.execute("DELETE FROM adapter")
            db.execute(f"DELETE FROM meta WHERE key IN {_VECTOR_KEYS}")
            db.execute("UPDATE folders SET last_indexed=NULL")
            self._database.bump_generation()
        self.vector_index.reset()
        self.vector_index.save()
        return n

    def backup(self) -> Path:
        """Copy the database to ``library.sqlite3.backup`` (temp file + rename), the recovery
        point if the database is ever damaged. Vectors are about 0.1% of the photos' size.

        A backup of a library with many more images than this one has (more than half lost,
        without a ``remove`` or a trash move), or of another library, is kept aside as
        ``library.sqlite3.backup-kept-<time>`` rather than replaced."""
        target = self.folder / BACKUP_NAME
        with self._lock:
            notice = keep_shrunk_backup(
                target,
                self.count(),
                int(self._database.meta("removed_on_request", "0") or 0),
                self._database.meta("created_at"),
            )
            if notice:
                self.vector_index.notices.append(notice)
            write_backup(self._db, target)
        if self._writer.held:
            with self._database.transaction():
                self._database.set_meta("removed_on_request", 0)
        return target

    def backup_if_stale(self) -> Path | None:
        """Write a backup when the last one is older than the library's generation (a run
        killed after its last commit, a full disk, a backup of another library)."""
        generation = self.generation
        theirs = backup_stamp(self.folder / BACKUP_NAME)
        if theirs is None and generation == 0:
            return None  # nothing indexed yet: nothing to keep
        if theirs == (self.meta_value("created_at"), generation):
            return None
        return self.backup()

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity check and by comparing index and database."""
        with self._lock:
            problems = [
                str(row[0])
                for row in self._db.execute("PRAGMA integrity_check").fetchall()
                if row[0] != "ok"
            ]
            try:  # the text index agrees with the texts it indexes
                self._db.execute("INSERT INTO text_search(text_search) VALUES('integrity-check')")
            except sqlite3.OperationalError:
                pass  # busy (another process writes): not a damage
            except sqlite3.DatabaseError as exc:
                problems.append(f"the text index: {exc}")
        if not problems:
            info = self.vector_index.info()
            if info["vectors"] != self.count():
                problems.append(
                    f"the index holds {info['vectors']} vectors, the database {self.count()}"
                )
        return problems

    # -- what the store protocol reads from the library's parts --------------------------------

    @property
    def adapter(self) -> Adapter | None:
        return self.spaces.adapter

    @property
    def active_adapter(self) -> Adapter | None:
        return self.spaces.active_adapter

    @property
    def space(self) -> str:
        return self.spaces.space

    def vectors(self, ids: Sequence[int], *, original: bool = False) -> np.ndarray:
        return self.spaces.vectors(ids, original=original)

    def searched(self, vectors: np.ndarray) -> np.ndarray:
        return self.spaces.searched(vectors)

    def layouts(self, ids: Sequence[int]) -> dict[int, bytes]:
        return self.side_data.layouts(ids)

    @property
    def text_model(self) -> str | None:
        return self.side_data.text_model

    def text_counts(self) -> tuple[int, int]:
        return self.side_data.text_counts()

    # -- reading ------------------------------------------------------------------------------

    def count(self) -> int:
        return self._database.count()

    def folders(self) -> list[FolderInfo]:
        rows = self._named(
            "SELECT f.id, f.path, f.added_at, f.last_indexed, f.complete, f.files_found,"
            " (SELECT COUNT(*) FROM images i WHERE i.folder_id = f.id) AS images"
            " FROM folders f ORDER BY f.path"
        )
        return [
            FolderInfo(**{**r, "path": decode_path(r["path"]), "complete": bool(r["complete"])})
            for r in rows
        ]

    def _named(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """The rows of a query, each read by its columns' names."""
        with self._lock:
            cursor = self._db.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def folder_rows(self, folder_id: int) -> Iterator[StoredFile]:
        """Every file in a folder, as stored (a file with parts by the first of them)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT MIN(id), path, size, mtime_ns, content_hash FROM images"
                " WHERE folder_id=? GROUP BY path",
                (folder_id,),
            ).fetchall()
        for r in rows:
            yield StoredFile(r[0], decode_path(r[1]), r[2], r[3], r[4])

    def items(self, ids: Iterable[int]) -> dict[int, Item]:
        id_list = [int(i) for i in ids]
        if not id_list:
            return {}
        marks = ",".join("?" * len(id_list))
        rows = self._named(
            "SELECT i.id, i.path, i.filename, f.path AS folder, i.size, i.mtime_ns,"
            " i.content_hash, i.indexed_at, i.model, i.width, i.height, i.part"
            f" FROM images i JOIN folders f ON f.id = i.folder_id WHERE i.id IN ({marks})",
            id_list,
        )
        return {r["id"]: Item(**{**r, **_decoded(r)}) for r in rows}

    def file_items(self, path: str | os.PathLike[str]) -> list[Item]:
        """The items of one file: itself, or its parts (a video's moments) in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM images WHERE path=?", (encode_path(os.path.abspath(path)),)
            ).fetchall()
        found = self.items(r[0] for r in rows)
        return sorted(found.values(), key=lambda i: (i.part is not None, i.part and i.part.at))

    def item_by_path(self, path: str | os.PathLike[str]) -> Item | None:
        with self._lock:
            row = self._db.execute(  # a file with parts: its first
                "SELECT MIN(id) FROM images WHERE path=? HAVING COUNT(*) > 0",
                (encode_path(os.path.abspath(path)),),
            ).fetchone()
        return self.items([row[0]]).get(row[0]) if row else None

    def same_content_groups(self) -> list[list[int]]:
        """Ids of the whole files that share their content hash with another (byte copies)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT group_concat(id) FROM images WHERE part IS NULL"
                " GROUP BY content_hash HAVING COUNT(*) > 1"
            ).fetchall()
        return [[int(i) for i in str(r[0]).split(",")] for r in rows]

    def file_counts(self) -> dict[str, int]:
        """The files the library holds that are more than a photo, by kind, and their items:
        videos and moments, documents and pages, medical images (DICOM files) and theirs."""
        with self._lock:
            parts = self._db.execute(
                "SELECT substr(part, 1, instr(part, ':') - 1), COUNT(DISTINCT path), COUNT(*)"
                " FROM images WHERE part IS NOT NULL GROUP BY 1"
            ).fetchall()
            scans = self._db.execute(
                "SELECT COUNT(DISTINCT path), COUNT(*) FROM images WHERE format = 'dicom'"
            ).fetchone()
        kinds = {kind: (int(files), int(items)) for kind, files, items in parts}
        return {
            "videos": kinds.get("time", (0, 0))[0],
            "moments": kinds.get("time", (0, 0))[1],
            "documents": kinds.get("page", (0, 0))[0],
            "pages": kinds.get("page", (0, 0))[1],
            "medical": int(scans[0]),
            "medical_images": int(scans[1]),
        }

    def part_ids(self) -> np.ndarray:
        """The ids of the items that are parts of files (a video's moments)."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM images WHERE part IS NOT NULL").fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        return self.side_data.texts(ids)

    def page_prints(self, ids: Sequence[int]) -> dict[int, bytes]:
        return self.side_data.page_prints(ids)

    def page_ids(self) -> np.ndarray:
        return self.side_data.page_ids()

    def scans(self, ids: Sequence[int]) -> dict[int, Scan]:
        return self.side_data.scans(ids)

    def ids_under(self, folder: str) -> np.ndarray:
        prefix = encode_path(os.path.join(os.path.abspath(folder), ""))
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM images WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def snapshot(self, *, original: bool = False) -> contextlib.AbstractContextManager[Snapshot]:
        """The stored vectors as they are now, on a connection of their own (no lock held)."""
        return self._database.snapshot(original=original)

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


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {"path": decode_path(row["path"]), "folder": decode_path(row["folder"]),
            "part": Part.from_key(row["part"])}  # fmt: skip


def _is_inside(path: str, folder: str) -> bool:
    return path.startswith(os.path.join(folder, ""))
