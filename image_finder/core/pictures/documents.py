"""Documents as pictures: the pages of a PDF, each rendered with pypdfium2 (PDFium inside its
wheels) as an upright RGB picture, numbered from 1.

A page is rendered at most ``PAGE_SIDE`` pixels on its longer side (the models need far
less), on white, with its annotations (filled forms) drawn. PDFium is not thread-safe: every
call into it in this process is made under one lock.

Every failure is an :class:`ImageLoadError` with a reason a user can read: a PDF that needs a
password, a damaged one, one without pages.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_finder.core.common.errors import ImageLoadError

if TYPE_CHECKING:
    from PIL import Image

DOCUMENT_EXTENSIONS = frozenset({".pdf"})
PAGE_SIDE = 640  # px: a page is rendered at most this large
_pdfium = threading.Lock()  # PDFium is not thread-safe


def is_document_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(name))[1].lower() in DOCUMENT_EXTENSIONS


@dataclass(frozen=True)
class Page:
    number: int  # from 1
    image: Image.Image  # RGB


def _open(path: str | os.PathLike[str]) -> Any:
    import pypdfium2 as pdfium

    where = os.fspath(path)
    if os.path.isfile(where) and os.path.getsize(where) == 0:
        raise ImageLoadError(where, "an empty file")
    try:
        document = pdfium.PdfDocument(where)
    except FileNotFoundError as exc:
        raise ImageLoadError(where, "file not found") from exc
    except PermissionError as exc:
        raise ImageLoadError(where, "permission denied") from exc
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ImageLoadError(where, "encrypted: it needs a password") from exc
        raise ImageLoadError(where, f"not a PDF that can be read ({exc})") from exc
    if len(document) == 0:
        document.close()
        raise ImageLoadError(where, "no pages in it")
    return document


def page_count(path: str | os.PathLike[str]) -> int:
    with _pdfium:
        document = _open(path)
        try:
            return len(document)
        finally:
            document.close()


def _render(document: Any, index: int, side: int) -> Image.Image:
    page = document[index]
    try:
        width, height = page.get_size()  # points
        scale = side / max(width, height, 1.0)
        bitmap = page.render(scale=scale, draw_annots=True, may_draw_forms=True)
        image: Image.Image = bitmap.to_pil().convert("RGB")
        return image
    finally:
        page.close()


def pages(
    path: str | os.PathLike[str],
    *,
    side: int = PAGE_SIDE,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[Page]:
    """The document's pages in order, each rendered (see the module's notes)."""
    import pypdfium2 as pdfium

    with _pdfium:
        document = _open(path)
        count = len(document)
    try:
        for index in range(count):
            if cancelled():
                return
            with _pdfium:
                try:
                    image = _render(document, index, side)
                except pdfium.PdfiumError as exc:
                    raise ImageLoadError(
                        os.fspath(path), f"page {index + 1} cannot be drawn ({exc})"
                    ) from exc
            yield Page(index + 1, image)
    finally:
        with _pdfium:
            document.close()


def page_picture(path: str | os.PathLike[str], number: int) -> Image.Image:
    """Page ``number`` (from 1) of the document, rendered."""
    with _pdfium:
        document = _open(path)
        try:
            if not 1 <= number <= len(document):
                raise ImageLoadError(os.fspath(path), f"it has no page {number}")
            return _render(document, number - 1, PAGE_SIDE)
        finally:
            document.close()
