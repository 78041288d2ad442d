"""Hash banks: named lists of signals of known pictures, kept beside a library in their own
SQLite file (``banks.sqlite``): PDQ hashes with their labels (imported from the lists that
moderation teams share), pictures (a folder's, embedded with the library's model: the
vector signal; their PDQ hashes join the bank's list, labelled with the picture's label or
name) and videos (their vPDQ hashes: imported hash files, or a folder's videos hashed).

Each bank has its own thresholds (a PDQ distance, a vector score), says whether it is
*watched* (checked for every picture indexed) and keeps a generation that changes with its
content, so that a lookup index built from it knows when it is stale. Every change is one
SQLite transaction: an import that fails half-way (a malformed line, a full disk, a kill)
leaves the bank as it was.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.pictures.pdq import BYTES, MATCH_DISTANCE, Pdq

if TYPE_CHECKING:
    from image_finder.core.pictures.vpdq import Frame

FILE = "banks.sqlite"
NAME_CHARS = 64
SCHEMA = """
CREATE TABLE IF NOT EXISTS banks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    watch INTEGER NOT NULL DEFAULT 0,
    pdq_distance INTEGER NOT NULL,
    vector_score REAL,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bank_hashes (
    id INTEGER PRIMARY KEY,  -- the entry's content id (HMA's)
    bank_id INTEGER NOT NULL REFERENCES banks(id) ON DELETE CASCADE,
    hash BLOB NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    UNIQUE (bank_id, hash)
);
CREATE TABLE IF NOT EXISTS bank_pictures (
    id INTEGER PRIMARY KEY,
    bank_id INTEGER NOT NULL REFERENCES banks(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    pdq BLOB,
    UNIQUE (bank_id, name)
);
CREATE TABLE IF NOT EXISTS bank_videos (
    id INTEGER PRIMARY KEY,
    bank_id INTEGER NOT NULL REFERENCES banks(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    frames BLOB NOT NULL,  -- vPDQ: each sampled frame's PDQ hash and quality
    UNIQUE (bank_id, name)
);
"""


@dataclass(frozen=True)
class Bank:
    id: int
    name: str
    created: float
    watch: bool
    pdq_distance: int
    vector_score: float | None  # None: the measured default (core/banks/matching.py)
    generation: int
    hashes: int = 0
    pictures: int = 0
    videos: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "created": round(self.created, 3), "watch": self.watch,
                "pdq_distance": self.pdq_distance, "vector_score": self.vector_score,
                "hashes": self.hashes, "pictures": self.pictures,
                "videos": self.videos}  # fmt: skip


@dataclass(frozen=True)
class BankVideo:
    """A video of a bank, by its vPDQ hash (core/pictures/vpdq.py)."""

    id: int
    bank_id: int
    name: str
    label: str
    frames: list[Frame]


@dataclass(frozen=True)
class BankPicture:
    """A picture of a bank: its features (of ``model``) and PDQ hash."""

    id: int
    bank_id: int
    name: str
    label: str
    model: str
    vector: np.ndarray
    pdq: Pdq | None


@dataclass(frozen=True)
class ImportCount:
    """What an import did: rows read, hashes added, and those already in the bank (or twice
    in the file)."""

    read: int
    added: int
    already: int
    what: str = "hashes"  # or "pictures", "videos"

    def to_json(self) -> dict[str, int]:
        return {"read": self.read, "added": self.added, "already": self.already}


class BankStore:
    """The banks of one library (``folder``: the library's folder)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> BankStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- banks --------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        watch: bool = False,
        pdq_distance: int = MATCH_DISTANCE,
        vector_score: float | None = None,
    ) -> Bank:
        name = _checked_name(name)
        if not 0 <= pdq_distance <= 64:
            raise ImageFinderError("a PDQ distance is between 0 and 64 bits (the reference: 31)")
        if vector_score is not None and not 0.0 < vector_score <= 1.0:
            raise ImageFinderError("a vector score is above 0 and at most 1")
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO banks (name, created, watch, pdq_distance, vector_score)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, time.time(), int(watch), int(pdq_distance), vector_score),
                )
        except sqlite3.IntegrityError:
            raise ImageFinderError(f"a bank named {name!r} exists already") from None
        return self.get(name)

    def update(
        self,
        name: str,
        *,
        watch: bool | None = None,
        pdq_distance: int | None = None,
        vector_score: float | None = None,
    ) -> Bank:
        bank = self.get(name)
        with self._transaction() as db:
            db.execute(
                "UPDATE banks SET watch=?, pdq_distance=?, vector_score=?,"
                " generation=generation+1 WHERE id=?",
                (int(bank.watch if watch is None else watch),
                 bank.pdq_distance if pdq_distance is None else int(pdq_distance),
                 bank.vector_score if vector_score is None else vector_score, bank.id),
            )  # fmt: skip
        return self.get(name)

    def banks(self) -> list[Bank]:
        rows = self._db.execute(
            "SELECT b.id, b.name, b.created, b.watch, b.pdq_distance, b.vector_score,"
            " b.generation, (SELECT count(*) FROM bank_hashes h WHERE h.bank_id = b.id),"
            " (SELECT count(*) FROM bank_pictures p WHERE p.bank_id = b.id),"
            " (SELECT count(*) FROM bank_videos v WHERE v.bank_id = b.id)"
            " FROM banks b ORDER BY b.name"
        ).fetchall()
        return [Bank(r[0], r[1], r[2], bool(r[3]), *r[4:]) for r in rows]

    def get(self, name: str) -> Bank:
        found = [b for b in self.banks() if b.name == name]
        if not found:
            known = ", ".join(b.name for b in self.banks()) or "none yet"
            raise ImageFinderError(f"no bank named {name!r} (banks: {known})")
        return found[0]

    def remove(self, name: str) -> Bank:
        bank = self.get(name)
        with self._transaction() as db:
            db.execute("DELETE FROM banks WHERE id=?", (bank.id,))
        return bank

    # -- hashes -------------------------------------------------------------------------------

    def import_hashes(self, name: str, rows: Iterable[tuple[bytes, str]]) -> ImportCount:
        """Add (hash, label) rows to the bank, all or none (an error from ``rows`` while they
        are read undoes the rows added before); a hash already there keeps its label."""
        bank = self.get(name)
        read = added = 0
        with self._transaction() as db:
            before = db.total_changes
            batch: list[tuple[int, bytes, str]] = []
            for digest, label in rows:
                read += 1
                batch.append((bank.id, digest, label))
                if len(batch) >= 50_000:
                    _insert_hashes(db, batch)
                    batch = []
            _insert_hashes(db, batch)
            added = db.total_changes - before
            db.execute("UPDATE banks SET generation=generation+1 WHERE id=?", (bank.id,))
        return ImportCount(read, added, read - added)

    def hashes(self, name: str) -> Iterator[tuple[bytes, str]]:
        """The bank's (hash, label), in the order of the hashes."""
        bank = self.get(name)
        cursor = self._db.execute(
            "SELECT hash, label FROM bank_hashes WHERE bank_id=? ORDER BY hash", (bank.id,)
        )
        while rows := cursor.fetchmany(10_000):
            yield from ((bytes(r[0]), str(r[1])) for r in rows)

    def all_hashes(self, bank_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """Every hash of those banks as a (n, 32) uint8 array, and each one's entry id."""
        codes: list[bytes] = []
        ids: list[int] = []
        for bank_id in bank_ids:
            cursor = self._db.execute(
                "SELECT id, hash FROM bank_hashes WHERE bank_id=? ORDER BY id", (int(bank_id),)
            )
            while rows := cursor.fetchmany(100_000):
                ids.extend(int(r[0]) for r in rows)
                codes.extend(bytes(r[1]) for r in rows)
        array = np.frombuffer(b"".join(codes), np.uint8).reshape(-1, BYTES)
        return array, np.asarray(ids, np.int64)

    def entry(self, entry_id: int) -> tuple[int, bytes, str] | None:
        """(bank id, hash, label) of a listed hash."""
        row = self._db.execute(
            "SELECT bank_id, hash, label FROM bank_hashes WHERE id=?", (int(entry_id),)
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))

    # -- pictures -----------------------------------------------------------------------------

    def add_pictures(
        self,
        name: str,
        rows: Iterable[tuple[str, str, str, np.ndarray, bytes | None]],
        videos: Iterable[tuple[str, str, list[Frame]]] = (),
    ) -> ImportCount:
        """Add (name, label, model, vector, pdq blob) pictures, and (name, label, vPDQ
        frames) videos, to the bank, all or none; one of a name already there is replaced."""
        bank = self.get(name)
        with self._transaction() as db:
            read, replaced = _put_videos(db, bank.id, videos)
            for picture, label, model, vector, pdq in rows:
                read += 1
                replaced += db.execute(
                    "DELETE FROM bank_pictures WHERE bank_id=? AND name=?", (bank.id, picture)
                ).rowcount
                db.execute(
                    "INSERT INTO bank_pictures (bank_id, name, label, model, vector, pdq)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (bank.id, picture, label, model,
                     np.asarray(vector, np.float32).tobytes(), pdq),
                )  # fmt: skip
                if pdq and Pdq.from_blob(pdq).matchable:  # its hash joins the bank's list
                    _insert_hashes(db, [(bank.id, pdq[:BYTES], label or picture)])
            db.execute("UPDATE banks SET generation=generation+1 WHERE id=?", (bank.id,))
        return ImportCount(read, read - replaced, replaced, "pictures")

    def pictures(self, bank_ids: Iterable[int]) -> list[BankPicture]:
        """The pictures of those banks."""
        out = []
        for bank_id in bank_ids:
            for row in self._db.execute(
                "SELECT id, bank_id, name, label, model, vector, pdq FROM bank_pictures"
                " WHERE bank_id=? ORDER BY id", (int(bank_id),)
            ):  # fmt: skip
                out.append(BankPicture(row[0], row[1], row[2], row[3], row[4],
                                       np.frombuffer(row[5], np.float32),
                                       Pdq.from_blob(row[6]) if row[6] else None))  # fmt: skip
        return out

    # -- videos -------------------------------------------------------------------------------

    def add_videos(self, name: str, rows: Iterable[tuple[str, str, list[Frame]]]) -> ImportCount:
        """Add (name, label, vPDQ frames) videos to the bank, all or none; a video of a name
        already there is replaced."""
        count = self.add_pictures(name, [], rows)
        return ImportCount(count.read, count.added, count.already, "videos")

    def videos(self, bank_ids: Iterable[int]) -> list[BankVideo]:
        """The videos of those banks."""
        from image_finder.core.pictures import vpdq

        out = []
        for bank_id in bank_ids:
            for row in self._db.execute(
                "SELECT id, bank_id, name, label, frames FROM bank_videos WHERE bank_id=?"
                " ORDER BY id", (int(bank_id),)
            ):  # fmt: skip
                out.append(BankVideo(row[0], row[1], row[2], row[3], vpdq.from_blob(row[4])))
        return out


def _put_videos(
    db: sqlite3.Connection, bank_id: int, rows: Iterable[tuple[str, str, list[Frame]]]
) -> tuple[int, int]:
    """(read, replaced)."""
    from image_finder.core.pictures import vpdq

    read = replaced = 0
    for video, label, frames in rows:
        read += 1
        replaced += db.execute(
            "DELETE FROM bank_videos WHERE bank_id=? AND name=?", (bank_id, video)
        ).rowcount
        db.execute(
            "INSERT INTO bank_videos (bank_id, name, label, frames) VALUES (?, ?, ?, ?)",
            (bank_id, video, label, vpdq.to_blob(frames)),
        )
    return read, replaced


def _insert_hashes(db: sqlite3.Connection, batch: list[tuple[int, bytes, str]]) -> None:
    if batch:
        db.executemany(
            "INSERT OR IGNORE INTO bank_hashes (bank_id, hash, label) VALUES (?, ?, ?)", batch
        )


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_CHARS or any(c in name for c in "/\\\n\r\t"):
        raise ImageFinderError(
            f"a bank's name is 1 to {NAME_CHARS} characters, without slashes or line breaks"
        )
    return name
