"""Putting a library's last backup back in place of a damaged database, and the facts a user
needs before agreeing to it."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.stores.library import BACKUP_NAME, DB_NAME, LOCK_NAME
from image_finder.core.stores.vector_index import INDEX_PREFIX, INDEX_SUFFIX
from image_finder.core.stores.writer_lock import WriterLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseFacts:
    """What a database file holds, read without changing it."""

    path: Path
    intact: bool
    saved_at: float | None = None  # the file's time
    images: int | None = None
    folders: int | None = None
    problem: str = ""

    def describe(self) -> str:
        """'540 images in 2 folders, saved 2026-11-28 08:00', or what is wrong with it."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at or 0))
        if not self.intact:
            return f"damaged ({self.problem})" if self.problem else "missing"
        images, folders = self.images or 0, self.folders or 0
        return (
            f"{images:,} image{'' if images == 1 else 's'} in {folders:,} "
            f"folder{'' if folders == 1 else 's'}, saved {when}"
        )


def read_facts(path: Path) -> DatabaseFacts:
    """Open ``path`` read-only and check it (SQLite's quick check, then the counts)."""
    if not path.exists():
        return DatabaseFacts(path, intact=False)
    try:
        # A backup or a copy is read as it lies (no -wal or -shm file is left beside it)
        immutable = "&immutable=1" if path.name != DB_NAME else ""
        db = sqlite3.connect(f"file:{path}?mode=ro{immutable}", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return DatabaseFacts(path, intact=False, problem=str(exc))
    try:
        check = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            return DatabaseFacts(path, intact=False, problem="; ".join(map(str, check[:3])))
        images = int(db.execute("SELECT COUNT(*) FROM images").fetchone()[0])
        folders = int(db.execute("SELECT COUNT(*) FROM folders").fetchone()[0])
    except sqlite3.Error as exc:
        return DatabaseFacts(path, intact=False, problem=str(exc))
    finally:
        db.close()
    return DatabaseFacts(path, True, path.stat().st_mtime, images, folders)


@dataclass(frozen=True)
class RecoveryFacts:
    current: DatabaseFacts
    backup: DatabaseFacts

    def summary(self) -> str:
        """Both sides, as the window's Restore question and the command line show them."""
        return f"Current library: {self.current.describe()}.\nBackup: {self.backup.describe()}."


def recovery_facts(folder: str | os.PathLike[str]) -> RecoveryFacts:
    folder = Path(folder)
    return RecoveryFacts(read_facts(folder / DB_NAME), read_facts(folder / BACKUP_NAME))


class LibraryIntactError(ImageFinderError):
    """A restore was asked for a library whose database is intact."""


def restore_backup(folder: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Put the last backup in place of a damaged database. The damaged file is kept beside
    it (``library.sqlite3.damaged-<time>``); the index is rebuilt from the backup's vectors.
    Returns where the damaged file went.

    An intact database is not replaced unless ``force``: the backup is older, and restoring it
    would bring back what was removed since and drop what was indexed since."""
    folder = Path(folder)
    backup = folder / BACKUP_NAME
    if not backup.exists():
        raise ImageFinderError(f"There is no backup in {folder}.")
    facts = recovery_facts(folder)
    if facts.current.intact and not force:
        raise LibraryIntactError(
            "The library database is intact, so nothing was restored: the backup is older and "
            "would undo what changed since."
        )
    if not facts.backup.intact:
        raise ImageFinderError(
            f"The backup {backup} is damaged too ({facts.backup.problem or 'unreadable'}), so "
            "it was not restored; nothing was changed or deleted. Keep both files: a data "
            "recovery tool may still read them."
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = folder / f"{DB_NAME}.{'replaced' if facts.current.intact else 'damaged'}-{stamp}"
    lock = WriterLock(folder / LOCK_NAME)
    lock.acquire()
    try:
        tmp = folder / (DB_NAME + ".restoring")  # copied and checked before anything moves
        shutil.copyfile(backup, tmp)
        copied = read_facts(tmp)
        if not copied.intact:
            tmp.unlink()
            raise ImageFinderError(
                f"The backup could not be copied intact ({copied.problem or 'unreadable'}); "
                "nothing was changed."
            )
        for suffix in ("", "-wal", "-shm"):
            source = folder / (DB_NAME + suffix)
            if source.exists():
                os.replace(source, kept.with_name(kept.name + suffix))
        os.replace(tmp, folder / DB_NAME)
        for index_file in folder.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"):
            index_file.unlink()
    finally:
        lock.release()
    log.warning("restored %s from its backup; the damaged file is %s", folder, kept)
    return kept
