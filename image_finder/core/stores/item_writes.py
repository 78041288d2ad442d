"""The library's writes of items: a batch of indexing work committed in one transaction, then
the vector index brought along; one file's items taken out with an action on the file.

An item is a whole file (a photo) or a part of one (a video's moments, records.Part): a
file's items share its path, size, time and content hash, so a move, a touch or a removal
of a file applies to all of them at once, whichever of its items the caller names. A file
whose content changed has its parts replaced in the same transaction (the old ones removed,
the new ones added): never half of each.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from image_finder.core.common.faults import checkpoint
from image_finder.core.common.records import (
    Moved,
    NewImage,
    Reembedded,
    Touched,
    display_name,
    encode_path,
)

if TYPE_CHECKING:
    from image_finder.core.stores.adapted_vectors import AdaptedVectors
    from image_finder.core.stores.database import LibraryDatabase
    from image_finder.core.stores.vector_index import VectorIndex

# what the vectors' model fixes, forgotten with the last vector
MODEL_KEYS = "('model', 'dim', 'precision_check')"
_SAME_FILE = "path=(SELECT path FROM images WHERE id=?)"


class ItemWrites:
    def __init__(
        self,
        database: LibraryDatabase,
        spaces: AdaptedVectors,
        vector_index: VectorIndex,
        check_model: Callable[[str, int], None],
    ) -> None:
        self._database = database
        self._spaces = spaces
        self._index = vector_index
        self._check_model = check_model

    def apply(
        self,
        *,
        model: str,
        added: Sequence[NewImage] = (),
        added_vectors: np.ndarray | None = None,
        reembedded: Sequence[Reembedded] = (),
        reembedded_vectors: np.ndarray | None = None,
        moved: Sequence[Moved] = (),
        touched: Sequence[Touched] = (),
        removed: Sequence[int] = (),
        on_request: bool = False,
    ) -> list[int]:
        """Commit one batch of indexing work atomically, then bring the vector index along.
        ``added_vectors`` and ``reembedded_vectors`` have one row per record; ``moved``,
        ``touched`` and ``removed`` name a file by any of its items and apply to all of them.
        Returns the ids of the added items. ``on_request``: the removals are the user's
        (remove, trash), which the backup's shrink guard allows for."""
        vectors_change = bool(added or reembedded or removed)
        added_rows = _rows(added_vectors, len(added))
        re_rows = _rows(reembedded_vectors, len(reembedded))
        new_ids: list[int] = []
        with self._database.transaction() as db:
            if added or reembedded:
                dim = (added_rows if added else re_rows).shape[1]
                if self._database.meta("model") is None:
                    self._database.set_meta("model", model)
                    self._database.set_meta("dim", dim)
                self._check_model(model, dim)
            gone = self._items_of(db, removed)  # before the additions: a file's new parts stay
            if gone:
                db.executemany("DELETE FROM images WHERE id=?", [(i,) for i in gone])
            now = time.time()
            added_adapted = self._spaces.adapted_rows(added_rows)
            re_adapted = self._spaces.adapted_rows(re_rows)
            for record, vec, adapted in zip(added, added_rows, added_adapted, strict=True):
                new_ids.append(_insert(db, record, vec, adapted, model, now))
            for change, vec, adapted in zip(reembedded, re_rows, re_adapted, strict=True):
                db.execute("DELETE FROM text_vectors WHERE image_id=?", (change.image_id,))
                db.execute("DELETE FROM item_text WHERE id=?", (change.image_id,))  # read again
                f = change.facts
                db.execute(
                    "UPDATE images SET size=?, mtime_ns=?, content_hash=?, indexed_at=?, model=?,"
                    " vector=?, adapted=?, width=?, height=?, layout=?, pdq=? WHERE id=?",
                    (f.size, f.mtime_ns, f.content_hash, now, model, _blob(vec), adapted,
                     f.width, f.height, f.layout, f.pdq, change.image_id),
                )  # fmt: skip
            paths = _paths(db, [m.image_id for m in moved] + [t.image_id for t in touched])
            db.executemany(
                "UPDATE images SET folder_id=?, path=?, filename=?, size=?, mtime_ns=?"
                " WHERE path=?",
                [
                    (m.folder_id, encode_path(m.path), _filename(m.path), m.size, m.mtime_ns,
                     paths[m.image_id])
                    for m in moved if m.image_id in paths
                ],
            )  # fmt: skip
            db.executemany(
                "UPDATE images SET size=?, mtime_ns=? WHERE path=?",
                [(t.size, t.mtime_ns, paths[t.image_id]) for t in touched if t.image_id in paths],
            )
            if gone:
                self._forget_model_if_empty(db)
                if on_request:  # in rows, as the backup's guard counts them
                    self.count_removed(len(gone))
            generation = self._database.bump_generation() if vectors_change else None
        if generation is not None:
            changed = np.asarray([r.image_id for r in reembedded], dtype=np.int64)
            self._index.apply(
                generation,
                np.concatenate([np.asarray(gone, dtype=np.int64), changed]),
                [
                    (np.asarray(new_ids, dtype=np.int64), self._spaces.searched(added_rows)),
                    (changed, self._spaces.searched(re_rows)),
                ],
            )
        return new_ids

    @staticmethod
    def _items_of(db: sqlite3.Connection, ids: Sequence[int]) -> list[int]:
        """Every item of the files that ``ids`` name (a video's parts with any one of them)."""
        found: set[int] = set()
        for image_id in ids:
            rows = db.execute(f"SELECT id FROM images WHERE {_SAME_FILE}", (image_id,))
            found.update(int(r[0]) for r in rows)
        return sorted(found)

    @contextlib.contextmanager
    def removing(self, image_id: int) -> Iterator[None]:
        """Take a file's items out of the library in the same step as the caller's action on
        the file (a move to the trash): committed if the action succeeds, rolled back if not."""
        with self._database.transaction() as db:
            gone = self._items_of(db, [image_id])
            db.executemany("DELETE FROM images WHERE id=?", [(i,) for i in gone])
            self._forget_model_if_empty(db)
            self.count_removed(len(gone))
            generation = self._database.bump_generation()
            yield
            checkpoint("file_moved")
        self._index.apply(generation, np.asarray(gone, np.int64), [])

    def count_removed(self, n: int) -> None:
        self._database.set_meta(
            "removed_on_request", int(self._database.meta("removed_on_request", "0") or 0) + n
        )

    @staticmethod
    def _forget_model_if_empty(db: sqlite3.Connection) -> None:
        if db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0:
            db.execute(f"DELETE FROM meta WHERE key IN {MODEL_KEYS}")
            db.execute("DELETE FROM adapter")  # it was trained on that model's vectors


def _paths(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, bytes]:
    """The stored path of each item (read before any of them moves)."""
    found = {}
    for image_id in ids:
        row = db.execute("SELECT path FROM images WHERE id=?", (image_id,)).fetchone()
        if row is not None:
            found[image_id] = row[0]
    return found


def _insert(
    db: sqlite3.Connection,
    record: NewImage,
    vector: np.ndarray,
    adapted: bytes | None,
    model: str,
    now: float,
) -> int:
    f = record.facts
    cur = db.execute(
        "INSERT INTO images (folder_id, path, filename, size, mtime_ns, content_hash,"
        " indexed_at, model, vector, adapted, width, height, layout, part, page_print, pdq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.folder_id, encode_path(record.path), _filename(record.path), f.size,
         f.mtime_ns, f.content_hash, now, model, _blob(vector), adapted, f.width, f.height,
         f.layout, record.part.key if record.part else None, f.page_print, f.pdq),
    )  # fmt: skip
    return int(cur.lastrowid or 0)


def _rows(vectors: np.ndarray | None, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros((0, 0), np.float32)
    if vectors is None or len(vectors) != n:
        raise ValueError(f"expected {n} vectors")
    return vectors


def _filename(path: str) -> str:
    return display_name(os.path.basename(path))


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()
