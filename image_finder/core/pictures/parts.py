"""Files whose items are their parts, one place for every kind: a video's moments
(core/pictures/video.py), a PDF's pages and a multi-page TIFF's (core/pictures/documents.py),
a multi-frame DICOM file's frames (core/pictures/dicom.py). A single-page TIFF and a
single-frame DICOM file are whole-file items, as a photo is.

Each new kind of file is added here once; indexing, the Ray job, the thumbnails and the
faces ask this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import Part
from image_finder.core.pictures import dicom
from image_finder.core.pictures.documents import (
    is_document_name,
    is_tiff_name,
    page_count,
    page_picture,
    pages,
    tiff_page_count,
)
from image_finder.core.pictures.video import MomentRule, frame_at, is_video_name, moments, probe

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Found:
    """A file's parts with their pictures, in order, as they are read."""

    pictures: Iterator[tuple[Part, Image.Image]]
    size: tuple[int, int]  # the file's own (a video's displayed size); (0, 0): each its own
    count: int = 0  # how many there are, where known before reading them (a document's pages)


def has_parts_name(name: str | os.PathLike[str]) -> bool:
    """A file whose parts are always its items, by its name: a video, a PDF."""
    return is_video_name(name) or is_document_name(name)


def has_parts(path: str) -> bool:
    """Whether indexing makes the file's parts its items: a video, a PDF, a TIFF of several
    pages, a DICOM file of several frames (the last two read from the file's header)."""
    if has_parts_name(path):
        return True
    if is_tiff_name(path):
        return tiff_page_count(path) > 1
    if dicom.is_dicom(path):
        try:
            return dicom.frame_count(path) > 1
        except ImageLoadError:
            return False  # read as a picture, which says why it cannot be
    return False


def is_paged(path: str) -> bool:
    """A file of pages (a PDF, a TIFF): long ones are indexed resumably, page by page."""
    return is_document_name(path) or is_tiff_name(path)


def file_parts(
    path: str,
    rule: MomentRule,
    cancelled: Callable[[], bool] = lambda: False,
    *,
    first: int = 1,
) -> Found:
    """The file's parts with their pictures, in order (a document's from page ``first``)."""
    if is_paged(path):
        count = tiff_page_count(path) if is_tiff_name(path) else page_count(path)
        found = pages(path, cancelled=cancelled, first=first)
        return Found(((Part.page(p.number), p.image) for p in found), (0, 0), count)
    if dicom.is_dicom(path):
        frames = dicom.frames(path, cancelled=cancelled)
        return Found(((Part.frame(n), image) for n, image in frames), (0, 0))
    facts = probe(path)
    found_moments = moments(path, rule, cancelled=cancelled)
    pictures = ((Part.time(m.seconds), m.image) for m in found_moments)
    return Found(pictures, (facts.width, facts.height))


def part_picture(path: str | os.PathLike[str], part: Part | None, min_size: int = 0) -> Image.Image:
    """The picture of an item: the file's own (a photo, a single-frame DICOM file), or its
    part's (a video's moment, a document's page, a DICOM file's frame)."""
    if part is None:
        from image_finder.core.pictures.images import load_image

        return load_image(path, min_size=min_size)
    if part.kind == "time":
        return frame_at(path, part.at)
    if part.kind == "page":
        return page_picture(path, int(part.at))
    if part.kind == "frame":
        return dicom.picture(os.fspath(path), int(part.at))
    raise ImageLoadError(os.fspath(path), f"no picture for a part of kind {part.kind!r}")
