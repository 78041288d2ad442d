"""Reading the text of the library's items (core/pictures/text_reading.py), after they are
indexed: what each photo, video moment and page says, kept per item (``item_text``) and
searched through SQLite's FTS5 (core/stores/side_data.py). A page with a text layer keeps its
layer; DICOM files are never read (text burned into a medical image names its patient).

Items are read in batches, each written in one transaction: a cancel or a crash loses at most
the batch in flight, and the next run goes on with the items not read yet (a library of an
earlier version too). A picture that cannot be read gets an empty text, so that it is not
tried on every run; its text is read again when the file changes (re-embedding forgets it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import Part, display_name
from image_finder.core.indexing.progress import (
    CancelCallback,
    IndexPhase,
    IndexProgress,
    ProgressCallback,
)
from image_finder.core.pictures.text_reading import MAX_SIDE, Line, has_text, read_text
from image_finder.core.stores.library import Library

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

BATCH = 8  # items read per write


def fill_texts(library: Library, notify: ProgressCallback, is_cancelled: CancelCallback) -> int:
    """Read the text of every item that has none yet; how many were read. Holds the
    library's writer lock while it reads (LibraryBusyError while another process writes)."""
    with library.writing():
        todo = library.side_data.missing_texts()
        if not todo:
            return 0
        log.info("reading the text of %d items", len(todo))
        notify(IndexProgress(IndexPhase.READING, 0, len(todo)))
        done = 0
        for start in range(0, len(todo), BATCH):
            if is_cancelled():
                break
            rows = [_text_of(*row) for row in todo[start : start + BATCH]]
            library.side_data.set_texts(rows)
            done += len(rows)
            notify(IndexProgress(IndexPhase.READING, done, len(todo), current=todo[start][1]))
        return done


def _lines_json(lines: Iterable[Line]) -> str:
    return json.dumps([[line.text, round(line.score, 3), *(round(v, 4) for v in line.box)]
                       for line in lines])  # fmt: skip


def _text_of(image_id: int, path: str, key: str | None, fmt: str) -> tuple[int, str, str, str]:
    """(id, source, text, lines) of one item: "layer", "read", or "none"."""
    if fmt == "dicom":
        return image_id, "none", "", "[]"  # never read: burned-in text names the patient
    part = Part.from_key(key)
    try:
        layer = _layer(path, part)
        if layer:
            return image_id, "layer", layer, "[]"
        return (image_id, *picture_text(_picture(path, part), part))
    except (ImageLoadError, OSError) as exc:
        log.warning("no text read of %s: %s", display_name(path), exc)
        return image_id, "none", "", "[]"


def picture_text(picture: Image.Image, part: Part | None) -> tuple[str, str, str]:
    """(source, text, lines) of a picture (the ``part`` it is of, if any): a page is read,
    anything else only where the cheap test finds text. Raises ImageLoadError."""
    paged = part is not None and part.kind == "page"
    if not paged and not has_text(picture):  # the cheap test: most photos stop here
        return "none", "", "[]"
    found = read_text(picture)
    return "read" if found.lines else "none", found.text, _lines_json(found.lines)


def item_text(
    path: str, part: Part | None, picture: Image.Image, data: bytes = b""
) -> tuple[str, str]:
    """(source, text) of an item whose picture is at hand (the Ray job's decode tasks; the
    file's ``data`` where read): a DICOM file's never read, a document's page by its layer
    where it has one. Never raises: a picture that cannot be read says nothing."""
    from image_finder.core.pictures.dicom import is_dicom

    if (part is not None and part.kind == "frame") or is_dicom(data or path):
        return "none", ""
    try:
        layer = _layer(path, part)
        if layer:
            return "layer", layer
        source, text, _ = picture_text(picture, part)
        return source, text
    except (ImageLoadError, OSError) as exc:
        log.warning("no text read of %s: %s", display_name(path), exc)
        return "none", ""


def _layer(path: str, part: Part | None) -> str:
    from image_finder.core.pictures.documents import is_document_name, page_text

    if part is None or part.kind != "page" or not is_document_name(path):
        return ""
    return page_text(path, int(part.at))


def _picture(path: str, part: Part | None) -> Image.Image:
    """The item's picture, large enough to read (a page rendered at MAX_SIDE)."""
    from image_finder.core.pictures import documents
    from image_finder.core.pictures.parts import part_picture

    if part is not None and part.kind == "page":
        if documents.is_tiff_name(path):
            return next(documents.tiff_pages(path, side=MAX_SIDE, numbers=[int(part.at)])).image
        return next(documents.pages(path, side=MAX_SIDE, first=int(part.at))).image
    return part_picture(path, part)
