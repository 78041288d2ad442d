"""Files with parts in the Ray job (core/indexing/scale_out.py): a long video spread over
decode tasks, one per segment of ``SEGMENT_SECONDS``, a long document over tasks of
``SEGMENT_PAGES`` pages (rendered there), a DICOM file's frames in one task; the parts
gathered back on the driver, whole, before they are written.

A segment's task keeps the moments from its first keyframe at or after its start to the
first at or after its end (core/pictures/video.py), so the segments leave no gap; each moment
is a row like a photo's, with its part. The driver holds a video's rows until every segment
has sent all of its own (each row says how many its segment made), then writes them in one
upsert, its old moments replaced; a segment that fails skips the whole video with its reason,
so a catalogue never holds part of a video.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import FileFacts, Part
from image_finder.core.pictures.scanning import Skipped
from image_finder.core.pictures.steps import PictureSteps
from image_finder.core.pictures.video import is_video_name
from image_finder.core.stores.catalogue import CatalogueRow

SEGMENT_SECONDS = 300.0  # of video per decode task
SEGMENT_PAGES = 64  # of a document per decode task
WHOLE = -1.0  # a segment's end: to the end of the video


def segments(path: str, length: float = SEGMENT_SECONDS) -> list[tuple[float, float]]:
    """The segments (start, end) a video's decoding is spread over, ``length`` seconds each:
    one for a short video, or one whose length the driver cannot read (a URI: its task reads
    it whole)."""
    from image_finder.core.pictures.video import probe

    if "://" in path:
        return [(0.0, WHOLE)]
    try:
        duration = probe(path).duration
    except ImageLoadError:
        return [(0.0, WHOLE)]  # its task says why
    count = max(1, int(duration // length) + (duration % length > 1.0))
    starts = [n * length for n in range(count)]
    return [(a, b) for a, b in zip(starts, [*starts[1:], WHOLE], strict=True)]


def page_segments(path: str) -> list[tuple[float, float]]:
    """The pages (first, last) a document's rendering is spread over."""
    from image_finder.core.pictures.documents import is_tiff_name, page_count, tiff_page_count

    try:
        count = tiff_page_count(path) if is_tiff_name(path) else page_count(path)
    except ImageLoadError:
        return [(1.0, WHOLE)]  # its task says why
    starts = list(range(1, count + 1, SEGMENT_PAGES))
    return [(float(a), float(min(count, a + SEGMENT_PAGES - 1))) for a in starts]


def _with_parts(path: str) -> bool:
    from image_finder.core.pictures.parts import has_parts, has_parts_name

    return has_parts_name(path) if "://" in path else has_parts(path)


def work_items(files: list[str], length: float = SEGMENT_SECONDS) -> list[dict[str, Any]]:
    """The decode tasks' input rows: each photo, each segment (of ``length`` seconds) of
    each video, each run of pages of each document, each multi-frame DICOM file."""
    from image_finder.core.pictures.parts import is_paged

    items: list[dict[str, Any]] = []
    for path in files:
        if not _with_parts(path):
            items.append({"path": path, "start": 0.0, "end": WHOLE, "segment": 0, "segments": 1,
                          "parts": False})  # fmt: skip
            continue
        if is_video_name(path):
            parts = segments(path, length)
        elif is_paged(path) and "://" not in path:
            parts = page_segments(path)
        else:
            parts = [(1.0, WHOLE)]
        items += [{"path": path, "start": a, "end": b, "segment": n, "segments": len(parts),
                   "parts": True}
                  for n, (a, b) in enumerate(parts)]  # fmt: skip
    return items


@contextlib.contextmanager
def _local(path: str) -> Iterator[str]:
    """A local path to the video at ``path`` (one on a ``pyarrow.fs`` URI copied to a temporary
    file first: FFmpeg seeks in it)."""
    if "://" not in path:
        yield path
        return
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(path)
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(inner)[1]) as copy:
        with fs.open_input_stream(inner) as source:
            while chunk := source.read(1 << 22):
                copy.write(chunk)
        copy.flush()
        yield copy.name


def _pictures(
    local: str, start: float, end: float | None
) -> tuple[Iterator[tuple[Part, Any]], tuple[int, int]]:
    """A segment's parts with their pictures: a video's moments, a document's pages, a DICOM
    file's frames; and the file's own size (a video's)."""
    from image_finder.core.pictures import dicom
    from image_finder.core.pictures.parts import is_paged
    from image_finder.core.pictures.video import moments, probe

    if is_video_name(local):
        facts = probe(local)
        found = moments(local, start=start, end=end)
        return ((Part.time(m.seconds), m.image) for m in found), (facts.width, facts.height)
    if is_paged(local):
        from image_finder.core.pictures.documents import pages

        last = end if end is not None else float("inf")
        kept = (p for p in pages(local, first=int(start)) if p.number <= last)
        return ((Part.page(p.number), p.image) for p in kept), (0, 0)
    return ((Part.frame(n), image) for n, image in dicom.frames(local)), (0, 0)


def decode_segment(
    item: dict[str, Any], steps: PictureSteps, read: bool = False
) -> list[dict[str, Any]]:
    """One segment of a file with parts as rows: each part's facts and 8-bit pixels (the
    model's picture steps applied), or one row with the reason it could not be read;
    ``read``: and the text written in each part (core/indexing/texts.py)."""
    import hashlib

    from image_finder.core.indexing.texts import item_text
    from image_finder.core.pictures.layout import signature
    from image_finder.core.pictures.pdq import hash_of

    path, segment = str(item["path"]), int(item["segment"])
    end = None if float(item["end"]) < 0 else float(item["end"])
    rows: list[dict[str, Any]] = []
    try:
        with _local(path) as local:
            before = os.stat(local)
            found, (own_width, own_height) = _pictures(local, float(item["start"]), end)
            digest = ""
            if segment == 0:  # the file's hash, once
                h = hashlib.blake2b(digest_size=16)
                with open(local, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                digest = h.hexdigest()
            for part, image in found:
                width, height = own_width or image.width, own_height or image.height
                if (width > height) != (image.width > image.height):
                    width, height = height, width
                source, text = item_text(local, part, image) if read else ("", "")
                rows.append({
                    "part": part.key, "size": before.st_size,
                    "mtime_ns": before.st_mtime_ns, "hash": digest, "width": width,
                    "height": height, "layout": signature(image),
                    "tensor": np.asarray(steps(image)), "error": "",
                    "text": text, "text_source": source,
                    "pdq": hash_of(image) if part.kind == "time" else b"",
                })  # fmt: skip
    except ImageLoadError as exc:
        rows = [_failed(exc.reason)]
    except Exception as exc:  # one bad file never stops the job
        rows = [_failed(f"cannot be read ({exc})")]
    if not rows:  # a segment with no keyframe of its own says so, or the driver would wait
        rows = [_failed("")]
    for row in rows:
        row.update(path=path, segment=segment, segments=int(item["segments"]),
                   in_segment=len(rows))  # fmt: skip
    return rows


def _failed(reason: str) -> dict[str, Any]:
    """A row with no moment: the reason a segment failed, or "" for a segment that had none."""
    return {"part": "", "size": 0, "mtime_ns": 0, "hash": "", "width": 0, "height": 0,
            "layout": b"", "tensor": np.zeros(0, np.uint8), "error": reason, "text": "",
            "text_source": "", "pdq": b""}  # fmt: skip


@dataclass
class _Pending:
    segments: int
    expected: dict[int, int] = field(default_factory=dict)  # rows each segment made
    seen: dict[int, int] = field(default_factory=dict)
    rows: list[CatalogueRow] = field(default_factory=list)
    digest: str = ""
    error: str = ""

    @property
    def complete(self) -> bool:
        return len(self.expected) == self.segments and all(
            self.seen.get(s, 0) >= n for s, n in self.expected.items()
        )


class Gatherer:
    """The driver's side: embedded rows in, whole files out (see the module's notes)."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def add(self, batch: dict[str, Any]) -> tuple[list[CatalogueRow], list[Skipped], int]:
        """The rows of the files ``batch`` completes, the files skipped, and how many files
        are done."""
        rows: list[CatalogueRow] = []
        skipped: list[Skipped] = []
        done = 0
        for n, path in enumerate(batch["path"]):
            path, error = str(path), str(batch["error"][n])
            part = Part.from_key(str(batch["part"][n]))
            segments = int(batch["segments"][n])
            if part is None and segments == 1 and not _with_parts(path):  # a photo
                done += 1
                if error:
                    skipped.append(Skipped(path, error))
                else:
                    rows.append(CatalogueRow(path, _facts(batch, n), _vector(batch, n),
                                             None, *_said(batch, n)))  # fmt: skip
                continue
            entry = self._pending.setdefault(path, _Pending(segments))
            segment = int(batch["segment"][n])
            entry.expected[segment] = int(batch["in_segment"][n])
            entry.seen[segment] = entry.seen.get(segment, 0) + 1
            if error:
                entry.error = entry.error or error
            elif part is not None:
                entry.digest = entry.digest or str(batch["hash"][n])
                entry.rows.append(CatalogueRow(path, _facts(batch, n), _vector(batch, n), part,
                                               *_said(batch, n)))  # fmt: skip
            if entry.complete:
                del self._pending[path]
                done += 1
                if entry.error or not entry.rows:
                    skipped.append(Skipped(path, entry.error or "no frame could be decoded"))
                    continue
                entry.rows.sort(key=lambda r: r.part.at if r.part else 0.0)
                rows += [replace(r, facts=_with_hash(r.facts, entry.digest)) for r in entry.rows]
        return rows, skipped, done


def _facts(batch: dict[str, Any], n: int) -> FileFacts:
    return FileFacts(int(batch["size"][n]), int(batch["mtime_ns"][n]), str(batch["hash"][n]),
                     int(batch["width"][n]) or None, int(batch["height"][n]) or None,
                     bytes(batch["layout"][n]), pdq=bytes(batch["pdq"][n]))  # fmt: skip


def _with_hash(facts: FileFacts, digest: str) -> FileFacts:
    return replace(facts, content_hash=digest)


def _said(batch: dict[str, Any], n: int) -> tuple[str, str]:
    """(text, source) of a row: what its picture says, where it was read."""
    return str(batch["text"][n]), str(batch["text_source"][n])


def _vector(batch: dict[str, Any], n: int) -> np.ndarray:
    return np.asarray(batch["vector"][n], np.float32)
