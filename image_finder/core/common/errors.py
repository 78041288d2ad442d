"""Error types the user interfaces turn into readable messages."""

from __future__ import annotations


class ImageFinderError(Exception):
    """A problem caused by the user's input or environment, explained in one readable line."""


class ImageLoadError(ImageFinderError):
    """A file could not be read as an image. ``reason`` says why, in words a user understands."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelMismatchError(ImageFinderError):
    """The library was built with another model: its vectors cannot be compared."""


class LibraryBusyError(ImageFinderError):
    """Another process is writing to the library."""


class LibraryDamagedError(ImageFinderError):
    """The library's database cannot be read."""

    def __init__(self, message: str, *, backup_exists: bool = False) -> None:
        super().__init__(message)
        self.backup_exists = backup_exists


class LibraryWriteError(ImageFinderError):
    """The library could not be written (a full disk, a file size limit, a failing drive)."""


class LibraryVersionError(ImageFinderError):
    """The library was written by a newer version of Image Finder."""


class EmptyLibraryError(ImageFinderError):
    """A search was asked of a library that holds no images."""


class UnknownConceptError(ImageFinderError):
    """No concept of that name in the library."""


class LibraryReadOnlyError(ImageFinderError):
    """The library lies on a read-only medium (or in a folder not ours to write): it can be
    searched, not changed."""


class NotALibraryError(ImageFinderError):
    """The folder named as the library holds no library and cannot hold one."""


DISK_FULL = (
    "the disk is full (or a file size limit was reached). Everything committed before is kept. "
    "Free some space, then try again."
)
