"""The library database's tables, and the migrations that bring an older one up to date."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from image_finder.core.errors import LibraryDamagedError, LibraryVersionError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5

# Schema changes, each run in the same transaction as the version bump: version -> statements
# that bring a library of that version to the next.
_TEXT_VECTORS = """CREATE TABLE IF NOT EXISTS text_vectors (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    vector BLOB NOT NULL
)"""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (  # 2: pixel size recorded at indexing, shown even when the drive is offline
        "ALTER TABLE images ADD COLUMN width INTEGER",
        "ALTER TABLE images ADD COLUMN height INTEGER",
    ),
    2: (  # 3: brightness layout (core/layout.py); NULL for pictures indexed before
        "ALTER TABLE images ADD COLUMN layout BLOB",
    ),
    3: (  # 4: whether the last indexing run of a folder finished, and how many files it found
        "ALTER TABLE folders ADD COLUMN complete INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE folders ADD COLUMN files_found INTEGER",
    ),
    4: (  # 5: a second vector set, of a text-image model (CLIP), for searching by words
        _TEXT_VECTORS,
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
SCHEMA += _TEXT_VECTORS + ";\n"


def open_database(db_path: Path, backup: Path) -> sqlite3.Connection:
    """Open (create, or migrate) the library database; LibraryDamagedError if unreadable."""
    try:
        db = sqlite3.connect(db_path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        version = _schema_version(db)
        if version > SCHEMA_VERSION:
            db.close()
            raise LibraryVersionError(
                f"This library was written by a newer version of Image Finder (schema "
                f"{version}; this version reads up to {SCHEMA_VERSION}). It has not been "
                "changed: update Image Finder to use it."
            )
        if version < SCHEMA_VERSION:  # new or older: the one write a reader may make
            _create_or_migrate(db, version, db_path)
        db.execute("SELECT COUNT(*) FROM images").fetchone()  # reads the tables' pages
    except LibraryVersionError:
        raise
    except sqlite3.DatabaseError as exc:
        raise LibraryDamagedError(
            _damage_message(db_path, backup, exc), backup_exists=backup.exists()
        ) from exc
    return db


def _create_or_migrate(db: sqlite3.Connection, version: int, db_path: Path) -> None:
    with db:
        db.execute("BEGIN IMMEDIATE")
        version = _schema_version(db)  # another process may have been first
        if version == 0:
            for statement in SCHEMA.split(";"):  # executescript would commit early
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            db.execute("INSERT INTO meta VALUES ('generation', '0')")
            db.execute("INSERT INTO meta VALUES ('created_at', ?)", (time.time(),))
        for old in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
            log.info("migrating %s from schema %d to %d", db_path, old, old + 1)
            for statement in MIGRATIONS[old]:
                db.execute(statement)
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(old + 1),))


def _damage_message(db_path: Path, backup: Path, exc: Exception) -> str:
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
