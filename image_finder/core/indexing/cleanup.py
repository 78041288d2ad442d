"""Removing duplicates safely: to the system trash (never a permanent delete) or into a folder,
with the library updated at once, each file checked first, and every action logged."""

from __future__ import annotations

import configparser
import errno
import logging
import os
import shutil
import sqlite3
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import Item, display_name
from image_finder.core.pictures.scanning import Skipped, file_hash
from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    done: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    target: str = ""  # the folder files were moved into, or "" for the trash
    error: str = ""  # why it stopped before the end (a full disk): the rest was not moved


def _unchanged(item: Item) -> str | None:
    """Why ``item``'s file must not be moved now, or None when it is what was indexed."""
    try:
        st = os.stat(item.path)
    except FileNotFoundError:
        return "no longer there"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if (st.st_size, st.st_mtime_ns) == (item.size, item.mtime_ns):
        return None
    try:
        if st.st_size == item.size and file_hash(item.path) == item.content_hash:
            return None  # touched, same bytes
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return "changed since it was indexed: re-scan its folder, then review it again"


def _why(exc: OSError) -> str:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "on a read-only medium or not yours to change: nothing was moved"
    return f"could not be moved ({exc.strerror or exc})"


def trash_images(library: Library, items: Sequence[Item]) -> CleanupReport:
    """Send the files of ``items`` to the system trash and take them out of the library.

    The writer lock is taken before anything moves (LibraryBusyError, nothing moved, while
    another process writes); each file leaves the library in the same step as it goes to the
    trash, so a kill at any moment leaves no entry for a trashed file that the next indexing
    run does not put right, and every file moved is in the report."""
    from send2trash import send2trash
    from send2trash.exceptions import TrashPermissionError

    def trash(item: Item) -> None:
        try:
            send2trash(item.path)
        except TrashPermissionError as exc:
            raise _NotMoved(f"the trash cannot take it ({exc})") from exc
        except OSError as exc:
            raise _NotMoved(_why(exc)) from exc
        log.info("moved to the trash: %s", display_name(item.path))

    return _each(library, items, trash, CleanupReport())


def move_images(library: Library, items: Sequence[Item], folder: str) -> CleanupReport:
    """Move the files of ``items`` into ``folder`` (names made unique, nothing overwritten) and
    take them out of the library, each in one step as :func:`trash_images` does."""
    target = Path(folder)
    report = CleanupReport(target=str(target))
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        report.skipped = [Skipped(i.path, _why(exc)) for i in items]
        return report

    def move(item: Item) -> None:
        destination = _free_name(target / os.path.basename(item.path))
        try:
            shutil.move(item.path, destination)
        except OSError as exc:
            raise _NotMoved(_why(exc)) from exc
        log.info("moved %s to %s", display_name(item.path), display_name(str(destination)))

    return _each(library, items, move, report)


class _NotMoved(Exception):
    """A file was not moved, for the reason given."""


def _each(
    library: Library, items: Sequence[Item], action: Callable[[Item], None], report: CleanupReport
) -> CleanupReport:
    with library.writing():
        for n, item in enumerate(items):
            reason = _unchanged(item)
            if reason is None:
                moved: list[Item] = []
                try:
                    with library.removing(item.id):
                        action(item)
                        moved.append(item)
                except _NotMoved as exc:
                    reason = str(exc)
                except (ImageFinderError, sqlite3.Error, OSError) as exc:  # the library failed
                    log.exception("stopped moving files")
                    # a file moved before its entry could go is listed: the next indexing run
                    # takes the entry out
                    report.done += moved
                    report.error = f"stopped: the library could not be updated ({exc})"
                    left = items[n + len(moved) :]
                    report.skipped += [Skipped(i.path, "not moved: stopped") for i in left]
                    break
                else:
                    report.done.append(item)
                    continue
            log.warning("not moved: %s: %s", display_name(item.path), reason)
            report.skipped.append(Skipped(item.path, reason))
    return report


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate


def trash_folder() -> Path:
    """The freedesktop.org trash of the user's home (Linux and other XDG desktops): the one
    send2trash moves files into (it reads XDG_DATA_HOME once, when first imported)."""
    from send2trash import plat_other

    return Path(plat_other.HOMETRASH)


def restore_from_trash(paths: Sequence[str]) -> list[str]:
    """Put files just sent to the trash back where they were (freedesktop.org trash only:
    elsewhere the system's own trash restores them). Returns the paths restored."""
    trash = trash_folder()
    info_dir = trash / "info"
    if not info_dir.is_dir():
        return []
    wanted = set(paths)
    newest: dict[str, tuple[str, Path]] = {}
    for info in info_dir.glob("*.trashinfo"):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(info, encoding="utf-8")
            original = urllib.parse.unquote(parser["Trash Info"]["Path"])
            when = parser["Trash Info"].get("DeletionDate", "")
        except (KeyError, configparser.Error, UnicodeDecodeError):
            continue
        if original in wanted and (original not in newest or when > newest[original][0]):
            newest[original] = (when, info)
    restored = []
    for original, (_, info) in newest.items():
        stored = trash / "files" / info.name[: -len(".trashinfo")]
        if os.path.exists(original) or not stored.exists():
            continue
        try:
            os.makedirs(os.path.dirname(original), exist_ok=True)
            shutil.move(str(stored), original)
            info.unlink()
        except OSError as exc:
            log.warning("could not restore %s from the trash: %s", display_name(original), exc)
            continue
        log.info("restored from the trash: %s", display_name(original))
        restored.append(original)
    return restored
