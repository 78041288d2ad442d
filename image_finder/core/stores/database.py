"""A library's database as its parts share it: the SQLite connection and its lock, the meta
table, and the write transaction (only under the writer lock). The library, its side data and
its vector spaces each hold this one object; none reaches into another's insides."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.faults import checkpoint
from image_finder.core.stores.library_files import Snapshot, reader_connection

if TYPE_CHECKING:
    from image_finder.core.stores.adapted_vectors import AdaptedVectors


class LibraryDatabase:
    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        lock: threading.RLock,
        *,
        read_only: bool,
        writer_held: Callable[[], bool],
    ) -> None:
        self.path = path
        self.connection = connection
        self.lock = lock  # the library's one lock: every read and write takes it
        self.read_only = read_only
        self._writer_held = writer_held

    @property
    def writer_held(self) -> bool:
        return self._writer_held()

    def count(self) -> int:
        with self.lock:
            return int(self.connection.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    @contextlib.contextmanager
    def snapshot(self, *, original: bool = False) -> Iterator[Snapshot]:
        """The stored vectors as they are now (those searched, or the model's own), read on a
        connection of its own: a consistent view that holds none of the library's locks,
        whatever commits meanwhile."""
        db = reader_connection(self.path, self.read_only)
        try:
            db.execute("BEGIN")
            active = db.execute("SELECT active FROM adapter").fetchone()
            column = "adapted" if active and active[0] and not original else "vector"
            row = db.execute("SELECT value FROM meta WHERE key='dim'").fetchone()
            generation = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            count = db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
            yield Snapshot(db, int(generation[0]), int(row[0]) if row else 0, int(count), column)
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.execute("COMMIT")
            db.close()

    # -- meta ---------------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A meta value (the caller holds the lock, or takes it: see ``meta_value``)."""
        row = self.connection.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: object) -> None:
        self.connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def meta_value(self, key: str) -> str | None:
        with self.lock:
            return self.meta(key)

    def set_meta_values(self, values: dict[str, object]) -> None:
        """Record facts about the library (the index's training, say); writer only."""
        self.check_writer()
        with self.lock:
            for key, value in values.items():
                self.set_meta(key, value)

    @property
    def model(self) -> str | None:
        return self.meta_value("model")

    @property
    def dim(self) -> int | None:
        value = self.meta_value("dim")
        return int(value) if value else None

    @property
    def generation(self) -> int:
        return int(self.meta_value("generation") or 0)

    def bump_generation(self) -> int:
        """The next generation, recorded (inside a transaction)."""
        generation = int(self.meta("generation", "0") or 0) + 1
        self.set_meta("generation", generation)
        return generation

    # -- writing ------------------------------------------------------------------------------

    def check_writer(self) -> None:
        if not self._writer_held():
            raise ImageFinderError("internal error: library written without the writer lock")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write, all or nothing, under the writer lock."""
        self.check_writer()
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
                checkpoint("before_commit")
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            else:
                self.connection.execute("COMMIT")
                checkpoint("after_commit")


class LibraryIndexHost:
    """What the library's vector index reads of it (``vector_index.IndexHost``): the database
    and the space searched, not the library itself."""

    def __init__(self, folder: Path, database: LibraryDatabase, spaces: AdaptedVectors) -> None:
        self.folder = folder
        self._database = database
        self._spaces = spaces

    @property
    def generation(self) -> int:
        return self._database.generation

    @property
    def dim(self) -> int | None:
        return self._database.dim

    @property
    def space(self) -> str:
        return self._spaces.space

    @property
    def writer_held(self) -> bool:
        return self._database.writer_held

    def count(self) -> int:
        return self._database.count()

    def snapshot(self) -> contextlib.AbstractContextManager[Snapshot]:
        return self._database.snapshot()

    def meta_value(self, key: str) -> str | None:
        return self._database.meta_value(key)

    def set_meta_values(self, values: dict[str, object]) -> None:
        self._database.set_meta_values(values)
