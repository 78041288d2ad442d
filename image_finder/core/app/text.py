"""The text a file says, for every face (``image-finder-cli text FILE``; the detail views): a
picture's read by the recogniser (core/pictures/text_reading.py), a document's pages from
their text layer, a page without one (a scan) read."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.core.common.records import Part
from image_finder.core.pictures.text_reading import MAX_SIDE, Line, TextRead, read_text

if TYPE_CHECKING:
    from image_finder.core.stores.store import Store


@dataclass(frozen=True)
class PartText:
    """The text of a file, or of one of its parts (a page)."""

    part: Part | None
    source: str  # "layer": the document's own text; "read": read from the picture; "none"
    text: str
    lines: tuple[Line, ...] = ()
    turned: int = 0
    cut: bool = False  # the time limit left some of it unread

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part.to_json() if self.part else None,
            "source": self.source,
            "text": self.text,
            "lines": [
                {
                    "text": line.text,
                    "score": round(line.score, 3),
                    "box": [round(v, 4) for v in line.box],
                }
                for line in self.lines
            ],
            **({"turned": self.turned} if self.turned else {}),
            **({"cut": True} if self.cut else {}),
        }


def _read(part: Part | None, found: TextRead) -> PartText:
    return PartText(part, "read", found.text, found.lines, found.turned, found.cut)


def stored_text(store: Store, item_id: int) -> PartText | None:
    """The text read in a library item when it was indexed (the detail views), or None: not
    read yet, or a store that keeps no text."""
    library = store.as_library()
    found = library.side_data.texts([item_id]).get(item_id) if library is not None else None
    if found is None:
        return None
    source, text, lines = found
    return PartText(None, source, text,
                    tuple(Line(line[0], float(line[1]), tuple(line[2:6]))
                          for line in json.loads(lines or "[]")))  # fmt: skip


def file_text(path: str, page: int | None = None) -> Iterator[PartText]:
    """The text of ``path``, part by part (only ``page`` of a document, where given). Raises
    ImageLoadError for a file that cannot be read, ImageFinderError for one with no pictures
    to read (a video: its moments' text is read when it is indexed)."""
    from image_finder.core.pictures import documents
    from image_finder.core.pictures.video import is_video_name

    if not os.path.exists(path):
        raise ImageFinderError(f"file not found: {path}")
    if is_video_name(path):
        raise ImageFinderError("a video's text is read from its moments when it is indexed")
    if documents.is_document_name(path) or (documents.is_tiff_name(path) and page):
        yield from _document_text(path, page)
        return
    if page not in (None, 1):
        raise ImageFinderError(f"{os.path.basename(path)} has one page")
    from image_finder.core.pictures.images import load_image

    yield _read(None, read_text(load_image(path)))


def _document_text(path: str, page: int | None) -> Iterator[PartText]:
    from image_finder.core.pictures import documents

    if documents.is_tiff_name(path):  # a scan: read
        for found in documents.tiff_pages(path, side=MAX_SIDE, numbers=[page] if page else None):
            yield _read(Part.page(found.number), read_text(found.image))
        return
    count = documents.page_count(path)
    if page is not None and not 1 <= page <= count:
        raise ImageLoadError(path, f"it has no page {page}")
    for number in [page] if page else range(1, count + 1):
        layer = documents.page_text(path, number)
        if layer:
            yield PartText(Part.page(number), "layer", layer)
            continue
        picture = next(documents.pages(path, side=MAX_SIDE, first=number)).image
        yield _read(Part.page(number), read_text(picture))
