"""Putting a library's last backup back in place of a damaged database."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from image_finder.core.errors import ImageFinderError
from image_finder.core.library import BACKUP_NAME, DB_NAME, LOCK_NAME
from image_finder.core.vector_index import INDEX_PREFIX, INDEX_SUFFIX
from image_finder.core.writer_lock import WriterLock

log = logging.getLogger(__name__)


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
    lock = WriterLock(folder / LOCK_NAME)
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
