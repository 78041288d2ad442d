"""The records the library stores and hands out, and how paths are stored."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


def encode_path(path: str | os.PathLike[str]) -> bytes:
    """Paths are stored as the file system's bytes, so undecodable names survive a round trip."""
    return os.fsencode(path)


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw)


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"
}  # fmt: skip


def display_name(path: str) -> str:
    """A printable form of a path: bytes that are not valid UTF-8 replaced, and control
    characters (a terminal's escape codes, newlines) written as escapes, so that a file name
    can neither break a line nor drive the terminal."""
    return os.fsencode(path).decode("utf-8", "replace").translate(_CONTROL)


def path_json(path: str, key: str = "path") -> dict[str, str]:
    """A path for JSON output, losslessly: ``{key: text}``, plus ``{key}_bytes`` (the path's
    bytes in base64) when the name is not valid UTF-8, so that the text alone names no file."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "replace")
    if text.encode("utf-8") == raw:
        return {key: text}
    return {key: text, f"{key}_bytes": base64.b64encode(raw).decode("ascii")}


@dataclass(frozen=True)
class Part:
    """Where in its file an item is: a video's moment (``kind`` "time", ``at`` its seconds),
    a document's page ("page", its number from 1). A whole file (a photo) has no part. Stored
    as ``key`` ("time:83.200", "page:12"); every JSON shape carries ``to_json`` (``{"kind":
    "time", "seconds": 83.2}``, ``{"kind": "page", "number": 12}``). A DICOM file's frame
    ("frame") is a number too."""

    kind: str
    at: float

    KINDS = {"time": "seconds", "page": "number", "frame": "number"}  # noqa: RUF012

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown part kind {self.kind!r}")

    @classmethod
    def time(cls, seconds: float) -> Part:
        return cls("time", round(float(seconds), 3))

    @classmethod
    def page(cls, number: int) -> Part:
        return cls("page", int(number))

    @classmethod
    def frame(cls, number: int) -> Part:
        return cls("frame", int(number))

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.at:.3f}" if self.kind == "time" else f"{self.kind}:{self.at:g}"

    @classmethod
    def from_key(cls, key: str | None) -> Part | None:
        if not key:
            return None
        kind, _, at = key.partition(":")
        return cls(kind, float(at))

    def to_json(self) -> dict[str, Any]:
        at: float | int = self.at if self.kind == "time" else int(self.at)
        return {"kind": self.kind, self.KINDS[self.kind]: at}

    @property
    def label(self) -> str:
        """How a face shows it: 01:23 (1:02:03 past an hour), or p. 3."""
        if self.kind != "time":
            return f"{'p.' if self.kind == 'page' else 'frame'} {int(self.at)}"
        whole = int(self.at)
        hours, rest = divmod(whole, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


@dataclass(frozen=True)
class Item:
    id: int
    path: str
    filename: str
    folder: str
    size: int
    mtime_ns: int
    content_hash: str
    indexed_at: float
    model: str
    width: int | None = None  # pixels, as displayed (EXIF orientation applied)
    height: int | None = None
    part: Part | None = None  # where in the file (a video's moment); None: the whole file

    @property
    def label(self) -> str:
        """The file's name, with the part where there is one ("harbour.mp4 · 01:23")."""
        return f"{self.filename} · {self.part.label}" if self.part else self.filename


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def item_json(item: Item) -> dict[str, Any]:
    """A library item as every face's JSON shows it (search results, duplicates, the API)."""
    return {
        "id": item.id,
        **path_json(item.path),
        "filename": item.filename,
        "width": item.width,
        "height": item.height,
        "bytes": item.size,
        "modified": iso_time(item.mtime_ns / 1e9),
        "indexed_at": iso_time(item.indexed_at),
        "part": item.part.to_json() if item.part else None,
    }


@dataclass(frozen=True)
class Scan:
    """What is shown of a medical image (a DICOM file's or frame): never its patient."""

    modality: str
    body_part: str
    study_date: float | None
    series: str  # the series description
    series_uid: str  # groups the series' slices in results; never shown

    def to_json(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "body_part": self.body_part,
            "study_date": iso_time(self.study_date)[:10] if self.study_date else None,
            "series": self.series,
        }


@dataclass(frozen=True)
class FolderInfo:
    id: int
    path: str
    images: int
    added_at: float
    last_indexed: float | None
    complete: bool = True  # the last indexing run of this folder finished
    files_found: int | None = None  # image files that run found (None: not known)

    @property
    def online(self) -> bool:
        return os.path.isdir(self.path)


class StoredFile(NamedTuple):
    """What the store knows of one file, to compare with the disk."""

    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True)
class FileFacts:
    """What indexing learnt of a file's content when it embedded it."""

    size: int
    mtime_ns: int
    content_hash: str
    width: int | None = None  # pixels, as displayed
    height: int | None = None
    layout: bytes | None = None  # brightness layout (core/pictures/layout.py)
    page_print: bytes | None = None  # a page's (core/pictures/page_print.py)
    pdq: bytes | None = None  # a photo's or a moment's PDQ hash and quality (pictures/pdq.py)


@dataclass(frozen=True)
class NewImage:
    folder_id: int
    path: str
    facts: FileFacts
    part: Part | None = None  # a video's moment; None: the whole file


@dataclass(frozen=True)
class Reembedded:
    image_id: int
    facts: FileFacts


@dataclass(frozen=True)
class Moved:
    """A file found under a new path with the content of a stored one: its vector is kept."""

    image_id: int
    folder_id: int
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Touched:
    """A file whose time changed but whose content did not."""

    image_id: int
    size: int
    mtime_ns: int
