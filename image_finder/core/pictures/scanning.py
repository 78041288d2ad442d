"""Finding the image files under a folder, and hashing their content."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from image_finder.core.common.paths import inside
from image_finder.core.common.records import path_json
from image_finder.core.pictures import dicom
from image_finder.core.pictures.images import is_image_name
from image_finder.core.pictures.parts import has_parts_name

_HIDDEN_ATTRIBUTE = 0x2  # FILE_ATTRIBUTE_HIDDEN on Windows
OUTSIDE = "a symbolic link to a place outside the folder: not followed"


@dataclass(frozen=True)
class ScanEntry:
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int = 0  # when the system last changed the file (its own clock, unlike mtime)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {**path_json(self.path), "reason": self.reason}


def is_indexed_name(name: str) -> bool:
    """A file indexing reads by its name: a picture, a video, a document, a DICOM file (one
    without an extension is recognised by its content when a folder is scanned)."""
    return is_image_name(name) or has_parts_name(name) or dicom.is_dicom_name(name)


def _hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attributes & _HIDDEN_ATTRIBUTE)


def scan_folder(
    root: str, within: str | None = None, *, videos: bool = True
) -> Iterator[ScanEntry | Skipped]:
    """Every image file (and video and document, unless ``videos`` is false: files with parts)
    under ``root``, recursively, in a stable order.

    Hidden files and folders are left out. Symbolic links are followed only within ``root``
    (or ``within``, the library folder ``root`` is a part of): a link that resolves outside
    it, to ``/`` say, is reported as :class:`Skipped` and not followed. A folder is entered
    once (a link loop is not followed again). Folders that cannot be read, broken links and
    files that are not regular files (a FIFO, a device) are reported as :class:`Skipped` too.
    """
    try:
        st = os.stat(root)
    except OSError as exc:
        yield Skipped(root, f"folder cannot be read ({exc.strerror or exc})")
        return
    real_root = os.path.realpath(within or root)
    visited = {(st.st_dev, st.st_ino)}
    stack = [root]
    links: list[str] = []  # linked folders wait until the real tree is walked: real paths win
    while stack or links:
        if not stack:
            link = links.pop(0)
            if not inside(os.path.realpath(link), real_root):
                yield Skipped(link, OUTSIDE)
                continue
            try:
                target = os.stat(link)
            except OSError:
                continue
            if (target.st_dev, target.st_ino) in visited:
                continue  # a symlink loop, or a second way into a folder already walked
            visited.add((target.st_dev, target.st_ino))
            stack.append(link)
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(folder, f"folder cannot be read ({exc.strerror or exc})")
            continue
        subfolders: list[str] = []
        for entry in entries:
            try:
                found = _look_at(entry, visited, subfolders, links, real_root, videos)
            except OSError as exc:
                found = Skipped(entry.path, f"cannot be read ({exc.strerror or exc})")
            if found is not None:
                yield found
        stack.extend(reversed(subfolders))


def _look_at(
    entry: os.DirEntry[str],
    visited: set[tuple[int, int]],
    subfolders: list[str],
    links: list[str],
    real_root: str,
    videos: bool,
) -> ScanEntry | Skipped | None:
    """One directory entry: an image file found, a problem, or a folder noted for later."""
    if _hidden(entry):
        return None
    if entry.is_dir(follow_symlinks=True):
        if entry.is_symlink():
            links.append(entry.path)
        else:
            sub = entry.stat(follow_symlinks=False)
            if (sub.st_dev, sub.st_ino) not in visited:
                visited.add((sub.st_dev, sub.st_ino))
                subfolders.append(entry.path)
        return None
    if not _indexed(entry, videos):
        return None
    if entry.is_symlink():
        if not os.path.exists(entry.path):
            return Skipped(entry.path, "broken symbolic link")
        if not inside(os.path.realpath(entry.path), real_root):
            return Skipped(entry.path, OUTSIDE)
    info = entry.stat(follow_symlinks=True)
    if not stat.S_ISREG(info.st_mode):
        return Skipped(entry.path, "not a regular file (a FIFO, socket or device)")
    return ScanEntry(entry.path, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _indexed(entry: os.DirEntry[str], videos: bool) -> bool:
    """Whether the scan lists the file: a picture (a DICOM file too: named so, or without an
    extension and starting as DICOM does), a video or a document unless ``videos`` is false."""
    if is_image_name(entry.name) or dicom.is_dicom_name(entry.name):
        return True
    if videos and has_parts_name(entry.name):
        return True
    if "." in entry.name or entry.name.upper() == "DICOMDIR":  # a DICOMDIR lists, holds none
        return False
    return dicom.has_preamble(entry.path)


def file_hash(path: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
