"""Conditions that narrow a search: when a picture was taken, its pixel and file size, format,
orientation and camera; a video's length; a medical image's modality, body part and series
(its study date is its date). Each works alone or with the others (all must hold).

They are checked against a table of every image's facts held in memory (numpy columns, read
once per change of the library), so that a condition costs well under a millisecond at 100,000
images; the search then runs over the matching ids only (core/stores/vector_index.py).
"""

from __future__ import annotations

import dataclasses
import enum
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.pictures.video import VIDEO_EXTENSIONS

if TYPE_CHECKING:
    from image_finder.core.stores.library import Library

SQUARE_TOLERANCE = 0.05  # width and height within 5% of each other: square
KEEP_MATCHES = 8


class Orientation(enum.Enum):
    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"
    SQUARE = "square"

    @classmethod
    def named(cls, text: str) -> Orientation:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ImageFinderError(f"orientation {text!r}: landscape, portrait or square") from None


KNOWN_FORMATS = ("jpeg", "png", "webp", "heic", "avif", "gif", "tiff", "bmp", "raw", "pdf", "dicom")
FORMAT_ALIASES = {"jpg": "jpeg", "heif": "heic", "tif": "tiff"}


def parse_formats(text: str) -> frozenset[str]:
    """'jpeg,png' -> {'jpeg', 'png'}; unknown names are refused with the known ones."""
    names = {FORMAT_ALIASES.get(n, n) for n in (p.strip().lower() for p in text.split(",")) if n}
    unknown = sorted(names - set(KNOWN_FORMATS))
    if unknown or not names:
        raise ImageFinderError(
            f"format {', '.join(unknown) or text!r}: one or more of {', '.join(KNOWN_FORMATS)}"
        )
    return frozenset(names)


def parse_date(text: str, *, end: bool = False) -> float:
    """'2024-01-01' (or '2024-01-01T18:30') -> a timestamp, local time; with ``end``, a date
    alone means the end of that day."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ImageFinderError(
            f"date {text!r}: write it as YYYY-MM-DD (2024-06-30), optionally with a time"
        ) from None
    if end and len(text.strip()) <= 10:
        return datetime.combine(parsed.date(), datetime.max.time()).timestamp()
    return parsed.timestamp()


# what an item is: a photo, a video's moment, a page (of a PDF or a scanned TIFF), a medical
# image (a DICOM file's or frame)
KINDS = ("", "photo", "video", "page", "medical")
KIND_WORDS = {"photo": "photos", "video": "videos", "page": "pages", "medical": "medical images"}
VIDEO_FORMATS = sorted(e.lstrip(".") for e in VIDEO_EXTENSIONS)  # a video's format: its container


@dataclass(frozen=True)
class Conditions:
    """What the files must be. Empty (the default) narrows nothing."""

    taken_after: float | None = None  # EXIF DateTimeOriginal, else the file's modified time
    taken_before: float | None = None
    min_width: int | None = None
    min_height: int | None = None
    min_megapixels: float | None = None
    min_bytes: int | None = None
    max_bytes: int | None = None
    formats: frozenset[str] = field(default_factory=frozenset)
    orientation: Orientation | None = None
    camera: str = ""  # a part of the camera's make and model, any case
    concept: str = ""  # a concept's name: the pictures that likely show it
    kind: str = ""  # one of KINDS ("video": a video's moments); "": all
    min_duration: float | None = None  # seconds: videos at least this long (photos have none)
    max_duration: float | None = None
    modalities: frozenset[str] = field(default_factory=frozenset)  # DICOM: {"CT", "MR"}
    body_part: str = ""  # DICOM: a part of its body part, any case ("chest")
    series: str = ""  # DICOM: a part of its series description, any case

    @classmethod
    def from_values(
        cls,
        *,
        taken_after: str | None = None,
        taken_before: str | None = None,
        min_width: int | None = None,
        min_height: int | None = None,
        min_megapixels: float | None = None,
        min_bytes: int | None = None,
        max_bytes: int | None = None,
        formats: str = "",
        orientation: str | None = None,
        camera: str | None = None,
        concept: str | None = None,
        kind: str | None = None,
        min_duration: str | float | None = None,
        max_duration: str | float | None = None,
        modality: str | None = None,
        body_part: str | None = None,
        series: str | None = None,
    ) -> Conditions:
        """Conditions as a person writes them (dates as YYYY-MM-DD, formats as 'jpeg,png'),
        each checked: ImageFinderError says what is wrong."""
        found = cls(
            taken_after=parse_date(taken_after) if taken_after else None,
            taken_before=parse_date(taken_before, end=True) if taken_before else None,
            min_width=min_width,
            min_height=min_height,
            min_megapixels=min_megapixels,
            min_bytes=min_bytes,
            max_bytes=max_bytes,
            formats=parse_formats(formats) if formats else frozenset(),
            orientation=Orientation.named(orientation) if orientation else None,
            camera=(camera or "").strip(),
            concept=" ".join((concept or "").split()),
            kind=(kind or "").strip().lower(),
            min_duration=parse_duration(min_duration) if min_duration not in (None, "") else None,
            max_duration=parse_duration(max_duration) if max_duration not in (None, "") else None,
            modalities=frozenset(
                m.strip().upper() for m in (modality or "").split(",") if m.strip()
            ),
            body_part=" ".join((body_part or "").split()),
            series=" ".join((series or "").split()),
        )
        found.check()
        return found

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def check(self) -> None:
        """Raise ImageFinderError for values out of range."""
        for name in ("min_width", "min_height", "min_bytes", "max_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ImageFinderError(f"{name.replace('_', '-')} must be 0 or more (got {value})")
        if self.min_megapixels is not None and self.min_megapixels < 0:
            raise ImageFinderError("megapixels must be 0 or more")
        if self.kind not in KINDS:
            raise ImageFinderError(f"kind: {', '.join(KINDS[1:])} (got {self.kind!r})")
        if self.taken_after and self.taken_before and self.taken_after > self.taken_before:
            raise ImageFinderError("taken-after is later than taken-before: nothing can match")
        low, high = self.min_duration, self.max_duration
        if (low is not None and low < 0) or (high is not None and high < 0):
            raise ImageFinderError("a duration must be 0 or more")
        if low is not None and high is not None and low > high:
            raise ImageFinderError("min-duration is longer than max-duration: nothing can match")

    def without(self, part: str) -> Conditions:
        """These conditions less one of :meth:`parts` (by its field name)."""
        names = {"min_size": ("min_width", "min_height")}.get(part, (part,))
        empty = Conditions()
        return dataclasses.replace(self, **{n: getattr(empty, n) for n in names})

    def parts(self) -> Iterator[tuple[str, str]]:
        """(field, words) for each condition set, as chips and summaries show them."""
        if self.taken_after is not None:
            yield "taken_after", f"taken from {_day(self.taken_after)}"
        if self.taken_before is not None:
            yield "taken_before", f"taken until {_day(self.taken_before)}"
        if self.min_width or self.min_height:
            w, h = self.min_width or 0, self.min_height or 0
            yield (
                "min_size",
                f"at least {w} × {h} px"
                if w and h
                else (f"at least {w} px wide" if w else f"at least {h} px high"),
            )
        if self.min_megapixels:
            yield "min_megapixels", f"at least {self.min_megapixels:g} MP"
        if self.min_bytes:
            yield "min_bytes", f"at least {self.min_bytes / 1e6:g} MB"
        if self.max_bytes:
            yield "max_bytes", f"at most {self.max_bytes / 1e6:g} MB"
        if self.formats:
            yield "formats", " or ".join(sorted(f.upper() for f in self.formats))
        if self.orientation:
            yield "orientation", self.orientation.value
        if self.camera:
            yield "camera", f"camera “{self.camera}”"
        if self.concept:
            yield "concept", f"showing {self.concept}"
        yield from self._video_parts()

    def _video_parts(self) -> Iterator[tuple[str, str]]:
        if self.kind:
            yield "kind", f"{KIND_WORDS.get(self.kind, self.kind)} only"
        if self.min_duration is not None:
            yield "min_duration", f"videos from {clock(self.min_duration)}"
        if self.max_duration is not None:
            yield "max_duration", f"videos up to {clock(self.max_duration)}"
        if self.modalities:
            yield "modalities", " or ".join(sorted(self.modalities))
        if self.body_part:
            yield "body_part", f"body part “{self.body_part}”"
        if self.series:
            yield "series", f"series “{self.series}”"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not value:
                continue
            if f.name.startswith("taken_"):
                value = datetime.fromtimestamp(value).isoformat(timespec="seconds")
            elif isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, Orientation):
                value = value.value
            data[f.name] = value
        return data


def parse_duration(text: str | float) -> float:
    """Seconds from "90", "1:30" or "1:02:03" (hours, minutes, seconds)."""
    if isinstance(text, int | float):
        return float(text)
    fields_ = text.strip().split(":")
    try:
        if len(fields_) > 3 or not all(f.strip() for f in fields_):
            raise ValueError(text)
        seconds = 0.0
        for value in fields_:
            seconds = seconds * 60 + float(value)
    except ValueError:
        raise ImageFinderError(
            f"a duration is seconds or [H:]M:SS, as 90 or 1:30 (got {text!r})"
        ) from None
    return seconds


def clock(seconds: float) -> str:
    """A duration as a person reads it: 1:30, 1:02:03."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _day(timestamp: float) -> str:
    return date.fromtimestamp(timestamp).isoformat()


class FactTable:
    """Every image's facts as numpy columns, for one version of the library's facts."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        n = len(rows)
        columns = list(zip(*rows, strict=True)) if rows else [()] * 13
        self.ids = np.fromiter(columns[0], np.int64, n)
        self.bytes = np.fromiter(columns[1], np.int64, n)
        mtime = np.fromiter(columns[2], np.float64, n) / 1e9
        self.width = np.array([v or 0 for v in columns[3]], np.int64)
        self.height = np.array([v or 0 for v in columns[4]], np.int64)
        taken = np.array([np.nan if v is None else v for v in columns[5]], np.float64)
        self.taken = np.where(np.isnan(taken), mtime, taken)
        self.format = np.array([v or "" for v in columns[6]], dtype=object)
        self.camera = np.array([(v or "").lower() for v in columns[7]], dtype=object)
        self.duration = np.array([np.nan if v is None else v for v in columns[8]], np.float64)
        self.modality = np.array([(v or "").upper() for v in columns[9]], dtype=object)
        self.body_part = np.array([(v or "").lower() for v in columns[10]], dtype=object)
        self.series = np.array([(v or "").lower() for v in columns[11]], dtype=object)
        self.page = np.array([(v or "").startswith("page:") for v in columns[12]], bool)

    def mask(self, c: Conditions) -> np.ndarray:
        keep = np.ones(len(self.ids), bool)
        if c.taken_after is not None:
            keep &= self.taken >= c.taken_after
        if c.taken_before is not None:
            keep &= self.taken <= c.taken_before
        if c.min_width:
            keep &= self.width >= c.min_width
        if c.min_height:
            keep &= self.height >= c.min_height
        if c.min_megapixels:
            keep &= self.width * self.height >= c.min_megapixels * 1e6
        if c.min_bytes:
            keep &= self.bytes >= c.min_bytes
        if c.max_bytes:
            keep &= self.bytes <= c.max_bytes
        if c.formats:
            keep &= np.isin(self.format, list(c.formats))
        if c.orientation is not None:
            keep &= self._orientation(c.orientation)
        if c.camera:
            keep &= _contains(self.camera, c.camera.lower())
        keep &= self._video_mask(c)
        return keep

    def _video_mask(self, c: Conditions) -> np.ndarray:
        keep = np.ones(len(self.ids), bool)
        if c.kind:
            video = np.isin(self.format, VIDEO_FORMATS)
            page = self.page | (self.format == "pdf")
            medical = self.format == "dicom"
            keep &= {"video": video, "page": page, "medical": medical}.get(
                c.kind, ~(video | page | medical)
            )
        if c.modalities:
            keep &= np.isin(self.modality, list(c.modalities))
        if c.body_part:
            keep &= _contains(self.body_part, c.body_part.lower())
        if c.series:
            keep &= _contains(self.series, c.series.lower())
        if c.min_duration is not None:  # photos have no duration: never longer than anything
            keep &= self.duration >= c.min_duration
        if c.max_duration is not None:
            keep &= self.duration <= c.max_duration
        return keep

    def _orientation(self, wanted: Orientation) -> np.ndarray:
        w, h = self.width.astype(np.float64), self.height.astype(np.float64)
        known = (w > 0) & (h > 0)
        square = known & (np.abs(w - h) <= SQUARE_TOLERANCE * np.maximum(w, h))
        if wanted is Orientation.SQUARE:
            return square
        wider = w > h if wanted is Orientation.LANDSCAPE else h > w
        return known & ~square & wider


def _contains(values: np.ndarray, part: str) -> np.ndarray:
    """Which values contain ``part``, testing each distinct value once."""
    distinct = {v: part in v for v in set(values.tolist())}
    return np.fromiter((distinct[v] for v in values.tolist()), bool, len(values))


class FactCache:
    """The fact table of one library, read again only when the library or its facts change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[str, str] | None = None
        self._table: FactTable | None = None
        # the ids of the last few conditions asked (one query re-ranked, Back/Forward, pages)
        self._found: OrderedDict[Conditions, np.ndarray] = OrderedDict()

    def table(self, library: Library) -> FactTable:
        version = library.side_data.facts_version()
        with self._lock:
            if self._table is None or version != self._version:
                self._table = FactTable(library.side_data.fact_rows())
                self._version = version
                self._found.clear()
            return self._table

    def matching(self, library: Library, conditions: Conditions) -> np.ndarray:
        """Ids of the images that meet ``conditions`` (the same array while nothing changed)."""
        table = self.table(library)
        with self._lock:
            found = self._found.get(conditions)
            if found is None:
                found = table.ids[table.mask(conditions)]
                self._found[conditions] = found
                while len(self._found) > KEEP_MATCHES:
                    self._found.popitem(last=False)
            self._found.move_to_end(conditions)
        return found
