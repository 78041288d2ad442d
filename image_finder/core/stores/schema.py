"""The library database's tables, and the migrations that bring an older one up to date."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from image_finder.core.common.dberrors import DbTrouble, trouble
from image_finder.core.common.errors import (
    DISK_FULL,
    ImageFinderError,
    LibraryBusyError,
    LibraryDamagedError,
    LibraryReadOnlyError,
    LibraryVersionError,
    LibraryWriteError,
    NotALibraryError,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 14

# Schema changes, each run in the same transaction as the version bump: version -> statements
# that bring a library of that version to the next.
_TEXT_VECTORS = """CREATE TABLE IF NOT EXISTS text_vectors (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    vector BLOB NOT NULL
)"""

# A match of an indexed item in a watched hash bank: once per item and bank; the file's path
# and part are kept (an item removed later leaves its match readable); a decision (confirmed,
# dismissed) names the one who made it.
_BANK_MATCHES = """CREATE TABLE IF NOT EXISTS bank_matches (
    id INTEGER PRIMARY KEY,
    image_id INTEGER REFERENCES images(id) ON DELETE SET NULL,
    path BLOB NOT NULL,
    part TEXT,
    bank TEXT NOT NULL,
    label TEXT NOT NULL,
    signal TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    entry TEXT NOT NULL,
    found_at REAL NOT NULL,
    decision TEXT,
    decided_by TEXT,
    decided_at REAL,
    UNIQUE (image_id, bank)
)"""

# The text read in pictures (core/indexing/texts.py), searched through FTS5: the index follows
# the table by triggers, and an item removed takes its text along (ON DELETE CASCADE). Kept
# apart from SCHEMA: a trigger's body holds semicolons.
_TEXTS = (
    """CREATE TABLE IF NOT EXISTS item_text (
    id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    lines TEXT NOT NULL
)""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS text_search USING fts5(text, content='item_text',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    # the words the index holds, for matching a word typed with a typo
    "CREATE VIRTUAL TABLE IF NOT EXISTS text_words USING fts5vocab(text_search, 'row')",
    "CREATE TRIGGER IF NOT EXISTS item_text_added AFTER INSERT ON item_text BEGIN"
    " INSERT INTO text_search(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS item_text_removed AFTER DELETE ON item_text BEGIN"
    " INSERT INTO text_search(text_search, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS item_text_changed AFTER UPDATE ON item_text BEGIN"
    " INSERT INTO text_search(text_search, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO text_search(rowid, text) VALUES (new.id, new.text); END",
)

_CONCEPTS = """CREATE TABLE IF NOT EXISTS concepts (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    weights BLOB NOT NULL,
    bias REAL NOT NULL,
    positives INTEGER NOT NULL,
    negatives INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    examples TEXT
)"""

# The library's adapter (core/learning/adapter.py): one at most. ``images.adapted`` holds every
# vector through it, beside the original; ``active`` says which of the two is searched.
_ADAPTER = """CREATE TABLE IF NOT EXISTS adapter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    model TEXT NOT NULL,
    weights BLOB NOT NULL,
    bias BLOB NOT NULL,
    labels TEXT NOT NULL,
    created REAL NOT NULL,
    map_before REAL NOT NULL,
    map_after REAL NOT NULL,
    held_out INTEGER NOT NULL,
    trained_on INTEGER NOT NULL,
    seconds REAL NOT NULL,
    active INTEGER NOT NULL
)"""

# The items: a whole file (``part`` NULL), or a part of one (a video's moment: records.Part's
# key). A file's items share its path, size, time and content hash (and a video's length).
_IMAGES_V9 = """CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    path BLOB NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at REAL NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    width INTEGER,
    height INTEGER,
    layout BLOB,
    taken_at REAL,
    format TEXT,
    camera TEXT,
    adapted BLOB,
    part TEXT
)"""
_SCAN_COLUMNS = ("modality", "body_part", "series", "series_uid")  # a DICOM file's (11)
_NEWER = ",\n".join(
    f"    {c}"
    for c in ("duration REAL", *(f"{c} TEXT" for c in _SCAN_COLUMNS), "page_print BLOB", "pdq BLOB")
)
_IMAGES = _IMAGES_V9.replace("    part TEXT\n)", f"    part TEXT,\n{_NEWER}\n)")
_IMAGE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS images_folder ON images(folder_id)",
    "CREATE INDEX IF NOT EXISTS images_hash ON images(content_hash)",
    "CREATE UNIQUE INDEX IF NOT EXISTS images_item ON images(path, ifnull(part, ''))",
)
_V8_COLUMNS = (
    "id, folder_id, path, filename, size, mtime_ns, content_hash, indexed_at, model, vector,"
    " width, height, layout, taken_at, format, camera, adapted"
)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (  # 2: pixel size recorded at indexing, shown even when the drive is offline
        "ALTER TABLE images ADD COLUMN width INTEGER",
        "ALTER TABLE images ADD COLUMN height INTEGER",
    ),
    2: (  # 3: brightness layout (core/pictures/layout.py); NULL for pictures indexed before
        "ALTER TABLE images ADD COLUMN layout BLOB",
    ),
    3: (  # 4: whether the last indexing run of a folder finished, and how many files it found
        "ALTER TABLE folders ADD COLUMN complete INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE folders ADD COLUMN files_found INTEGER",
    ),
    4: (  # 5: a second vector set, of a text-image model (CLIP), for searching by words
        _TEXT_VECTORS,
    ),
    5: (  # 6: what narrows a search (core/search/conditions.py); NULL format: not read yet
        "ALTER TABLE images ADD COLUMN taken_at REAL",
        "ALTER TABLE images ADD COLUMN format TEXT",
        "ALTER TABLE images ADD COLUMN camera TEXT",
    ),
    6: (  # 7: concepts, classifiers learned from examples and kept by name (learning/concepts)
        _CONCEPTS.replace(",\n    examples TEXT", ""),
    ),
    7: (  # 8: an adapter tuned on labelled pictures; concepts keep their examples' ids
        "ALTER TABLE images ADD COLUMN adapted BLOB",
        "ALTER TABLE concepts ADD COLUMN examples TEXT",
        _ADAPTER,
    ),
    8: (  # 9: items that are parts of files (a video's moments): a path is no longer unique,
        # a (path, part) is. The table is rebuilt; the vectors for words, whose rows would go
        # with the old table's (ON DELETE CASCADE), are kept aside and put back.
        _IMAGES_V9.replace("EXISTS images (", "EXISTS images_v9 ("),
        f"INSERT INTO images_v9 ({_V8_COLUMNS}) SELECT {_V8_COLUMNS} FROM images",
        "CREATE TEMP TABLE kept_text_vectors AS SELECT * FROM text_vectors",
        "DROP TABLE text_vectors",
        "DROP TABLE images",
        "ALTER TABLE images_v9 RENAME TO images",
        _TEXT_VECTORS,
        "INSERT INTO text_vectors SELECT * FROM kept_text_vectors",
        "DROP TABLE kept_text_vectors",
        *_IMAGE_INDEXES,
    ),
    9: (  # 10: a video's length in seconds (conditions: duration), read with its facts
        "ALTER TABLE images ADD COLUMN duration REAL",
    ),
    10: tuple(  # 11: a DICOM file's modality, body part, series description and series UID
        f"ALTER TABLE images ADD COLUMN {c} TEXT"
        for c in _SCAN_COLUMNS  # (conditions, groups)
    ),
    11: (  # 12: a document page's print (core/pictures/page_print.py)
        "ALTER TABLE images ADD COLUMN page_print BLOB",
    ),
    12: _TEXTS,  # 13: the text read in pictures
    13: (  # 14: a picture's PDQ hash and quality (core/pictures/pdq.py); NULL: not hashed yet;
        # the matches found in watched hash banks (core/banks/watch.py)
        "ALTER TABLE images ADD COLUMN pdq BLOB",
        _BANK_MATCHES,
    ),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    added_at REAL NOT NULL,
    last_indexed REAL,
    complete INTEGER NOT NULL DEFAULT 1,
    files_found INTEGER
);
"""
SCHEMA += _IMAGES + ";\n" + ";\n".join(_IMAGE_INDEXES) + ";\n"
SCHEMA += _TEXT_VECTORS + ";\n" + _CONCEPTS + ";\n" + _ADAPTER + ";\n" + _BANK_MATCHES + ";\n"


BUSY_RETRY_SECONDS = 30.0


def open_database(db_path: Path, backup: Path) -> tuple[sqlite3.Connection, bool]:
    """Open (create, or migrate) the library database. Returns the connection and whether it
    is read-only (a library on a read-only medium opens for searching).

    Busy is never damage: while another process creates or writes the database, opening waits
    and retries (up to ``BUSY_RETRY_SECONDS``), then says the library is busy. Only corruption
    (SQLite's CORRUPT and NOTADB, a failed read of the tables) is reported as damage, and so
    is an empty database file beside a backup: that is a library that lost its contents, not
    a new one."""
    _refuse_emptied(db_path, backup)
    folder = db_path.parent
    if not os.access(folder, os.W_OK) or (db_path.exists() and not os.access(db_path, os.W_OK)):
        return _open_read_only(db_path, backup), True
    deadline = time.monotonic() + BUSY_RETRY_SECONDS
    pause = 0.005
    while True:
        try:
            return _open_writable(db_path), False
        except sqlite3.DatabaseError as exc:
            kind = trouble(exc)
            if kind is DbTrouble.BUSY and time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
                continue
            raise _open_error(db_path, backup, exc, kind) from exc


def _open_writable(db_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(
        db_path, timeout=BUSY_RETRY_SECONDS, check_same_thread=False, isolation_level=None
    )
    try:
        # Changing the journal mode answers SQLITE_BUSY at once, without the busy timeout,
        # while another connection creates the database: the caller retries.
        if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        version = _check_version(db)
        if version < SCHEMA_VERSION:  # new or older: the one write a reader may make
            _create_or_migrate(db, version, db_path)
        db.execute("SELECT COUNT(*) FROM images").fetchone()  # reads the tables' pages
    except BaseException:
        db.close()
        raise
    return db


def _open_read_only(db_path: Path, backup: Path) -> sqlite3.Connection:
    """A library on a read-only medium: opened as it is, never written (``immutable``: no
    other process can change a file on a read-only medium, so SQLite needs no -shm file)."""
    if not db_path.exists():
        raise NotALibraryError(
            f"{db_path.parent} holds no Image Finder library, and none can be created there: "
            "the folder is read-only. Choose another folder with --data-dir."
        )
    immutable = "&immutable=1" if not os.access(db_path.parent, os.W_OK) else ""
    uri = f"{db_path.resolve().as_uri()}?mode=ro{immutable}"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_RETRY_SECONDS, check_same_thread=False,
                             isolation_level=None)  # fmt: skip
        try:
            version = _check_version(db)
            if version < SCHEMA_VERSION:
                raise LibraryReadOnlyError(
                    f"This library was written by an older version of Image Finder (schema "
                    f"{version}) and lies on a read-only medium, so it cannot be brought up to "
                    "date here: open it once where it can be written."
                )
            db.execute("SELECT COUNT(*) FROM images").fetchone()
        except BaseException:
            db.close()
            raise
    except sqlite3.DatabaseError as exc:
        raise _open_error(db_path, backup, exc, trouble(exc)) from exc
    return db


def _check_version(db: sqlite3.Connection) -> int:
    version = _schema_version(db)
    if version > SCHEMA_VERSION:
        raise LibraryVersionError(
            f"This library was written by a newer version of Image Finder (schema "
            f"{version}; this version reads up to {SCHEMA_VERSION}). It has not been "
            "changed: update Image Finder to use it."
        )
    return version


def _refuse_emptied(db_path: Path, backup: Path) -> None:
    """A database file that exists but holds nothing, while a backup exists, is a library that
    lost its contents (a crash, a full disk, a careless copy): never a fresh start."""
    try:
        empty = db_path.stat().st_size == 0
    except FileNotFoundError:
        if backup.exists():  # deleted, or lost in a move: the backup is what is left of it
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(backup.stat().st_mtime))
            raise LibraryDamagedError(
                f"The library database {db_path} is missing, but its backup from {when} is "
                "there: restore it to go on (nothing was created in its place). To start a "
                "new library instead, move the backup aside.",
                backup_exists=True,
            ) from None
        return
    if empty and backup.exists():
        raise LibraryDamagedError(
            _damage_message(db_path, backup, "the file is empty (0 bytes)"), backup_exists=True
        )


def _open_error(
    db_path: Path, backup: Path, exc: sqlite3.DatabaseError, kind: DbTrouble
) -> ImageFinderError:
    if kind is DbTrouble.DAMAGED:
        return LibraryDamagedError(
            _damage_message(db_path, backup, str(exc)), backup_exists=backup.exists()
        )
    if kind is DbTrouble.BUSY:
        return LibraryBusyError(
            f"The library {db_path.parent} is busy: another Image Finder process kept it locked "
            f"for {BUSY_RETRY_SECONDS:.0f} s ({exc}). Nothing was changed; try again."
        )
    if kind is DbTrouble.FULL:
        return LibraryWriteError(f"Opening the library {db_path.parent} failed: {DISK_FULL}")
    if kind is DbTrouble.IO:
        return LibraryWriteError(
            f"Opening the library {db_path.parent} failed ({exc}): the disk may be full, or the "
            "drive failing. It has not been changed."
        )
    if kind is DbTrouble.READ_ONLY:
        return LibraryReadOnlyError(
            f"The library {db_path.parent} cannot be written ({exc}); it was not changed."
        )
    return ImageFinderError(
        f"The library database {db_path} could not be opened ({exc}). It has not been changed."
    )


def _create_or_migrate(db: sqlite3.Connection, version: int, db_path: Path) -> None:
    with db:
        db.execute("BEGIN IMMEDIATE")
        version = _schema_version(db)  # another process may have been first
        if version == 0:
            for statement in SCHEMA.split(";"):  # executescript would commit early
                if statement.strip():
                    db.execute(statement)
            for statement in _TEXTS:
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            db.execute("INSERT INTO meta VALUES ('generation', '0')")
            db.execute("INSERT INTO meta VALUES ('created_at', ?)", (time.time(),))
        for old in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
            log.info("migrating %s from schema %d to %d", db_path, old, old + 1)
            for statement in MIGRATIONS[old]:
                db.execute(statement)
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(old + 1),))


def _damage_message(db_path: Path, backup: Path, exc: object) -> str:
    if backup.exists():
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(backup.stat().st_mtime))
        remedy = (
            f"A backup from {when} exists: restore it to go on. Images indexed since then "
            "are indexed again."
        )
    else:
        remedy = "No backup exists: move the file aside to start a new library."
    return f"The library database {db_path} is damaged ({exc}). It has not been changed. " + remedy


def _schema_version(db: sqlite3.Connection) -> int:
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0
