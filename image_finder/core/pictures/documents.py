"""Documents as pictures: the pages of a PDF, each rendered with pypdfium2 (PDFium inside its
wheels) as an upright RGB picture, and the pages of a multi-page TIFF (scans, faxes),
numbered from 1.

A page is rendered at most ``PAGE_SIDE`` pixels on its longer side (the models need far
less), on white, with its annotations (filled forms) drawn. PDFium is not thread-safe: a
document's pages are rendered in worker processes (at most ``RENDER_PROCESSES``, a few chunks
of pages ahead of the reader: memory stays bounded however long the document), which also
keeps a PDF that crashes PDFium from taking the application with it; the single pages the
faces ask for are rendered in this process, under one lock.

Every failure is an :class:`ImageLoadError` with a reason a user can read: a PDF that needs a
password, a damaged one, one without pages.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_finder.core.common.errors import ImageLoadError

if TYPE_CHECKING:
    from PIL import Image

DOCUMENT_EXTENSIONS = frozenset({".pdf"})
TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
PAGE_SIDE = 640  # px: a page is rendered at most this large
RENDER_PROCESSES = max(1, min(4, os.cpu_count() or 1))
CHUNK = 8  # pages a worker renders per task (the document opened once)
PARENT_POLL = 0.5  # s: how often a worker checks that the process that started it is alive
_pdfium = threading.Lock()  # PDFium is not thread-safe
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def is_document_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(name))[1].lower() in DOCUMENT_EXTENSIONS


def is_tiff_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(name))[1].lower() in TIFF_EXTENSIONS


def tiff_page_count(path: str | os.PathLike[str]) -> int:
    """How many pages a TIFF holds (0: it cannot be read; its reason comes when it is)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    except Exception:
        return 0


def tiff_pages(
    path: str | os.PathLike[str],
    *,
    side: int = PAGE_SIDE,
    numbers: list[int] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    first: int = 1,
) -> Iterator[Page]:
    """A multi-page TIFF's pages (a scan's, a fax's: 1-bit, grey or colour), each as RGB at
    most ``side`` pixels on its longer side (``numbers`` only, where given)."""
    from PIL import Image, ImageSequence

    from image_finder.core.pictures.images import load_image

    where = os.fspath(path)
    try:
        with Image.open(where) as im:
            for number, frame in enumerate(ImageSequence.Iterator(im), start=1):
                if cancelled():
                    return
                if number < first or (numbers and number not in numbers):
                    continue
                page = load_image(frame.copy())
                page.thumbnail((side, side), Image.Resampling.LANCZOS)
                yield Page(number, page)
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(where, f"a page cannot be read ({exc})") from exc


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


Rendered = list[tuple[int, int, int, bytes]]  # (number, width, height, RGB pixels)


def _render_chunk(path: str, first: int, last: int, side: int) -> Rendered:
    """In a worker process: pages ``first``..``last`` (from 1), as raw RGB pixels."""
    import pypdfium2 as pdfium

    out: Rendered = []
    document = _open(path)
    try:
        for number in range(first, last + 1):
            try:
                image = _render(document, number - 1, side)
            except pdfium.PdfiumError as exc:
                raise ImageLoadError(path, f"page {number} cannot be drawn ({exc})") from exc
            out.append((number, image.width, image.height, image.tobytes()))
    finally:
        document.close()
    return out


def _follow_parent(parent: int) -> None:
    """In a worker: end when the process that started it is gone (killed, crashed), which a
    worker waiting for its next task would not notice (it holds its queue's both ends)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _workers() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            import multiprocessing

            # spawned, not forked: the parent runs threads (the model's, the faces')
            _pool = ProcessPoolExecutor(
                RENDER_PROCESSES,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_follow_parent,
                initargs=(os.getpid(),),
            )
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def _reset_workers() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def pages(
    path: str | os.PathLike[str],
    *,
    side: int = PAGE_SIDE,
    cancelled: Callable[[], bool] = lambda: False,
    first: int = 1,
) -> Iterator[Page]:
    """The document's pages in order from page ``first``, each rendered (see the module's
    notes): a PDF's in worker processes, a TIFF's here."""
    where = os.fspath(path)
    if is_tiff_name(where):
        yield from tiff_pages(where, side=side, cancelled=cancelled, first=first)
        return
    count = page_count(where)
    starts = range(max(1, first), count + 1, CHUNK)
    chunks = [(a, min(count, a + CHUNK - 1)) for a in starts]
    ahead: deque[Future[Rendered]] = deque()
    pool = _workers()
    try:
        for first, last in chunks:
            ahead.append(pool.submit(_render_chunk, where, first, last, side))
            if len(ahead) < 2 * RENDER_PROCESSES:
                continue
            yield from _pages_of(ahead.popleft(), where)
            if cancelled():
                return
        while ahead:
            yield from _pages_of(ahead.popleft(), where)
            if cancelled():
                return
    finally:
        for future in ahead:
            future.cancel()


def _pages_of(future: Future[Rendered], where: str) -> Iterator[Page]:
    from PIL import Image

    try:
        rendered = future.result()
    except BrokenProcessPool as exc:
        _reset_workers()
        raise ImageLoadError(where, "PDFium crashed while drawing it") from exc
    for number, width, height, pixels in rendered:
        yield Page(number, Image.frombytes("RGB", (width, height), pixels))


def page_picture(path: str | os.PathLike[str], number: int) -> Image.Image:
    """Page ``number`` (from 1) of the document, rendered."""
    if is_tiff_name(path):
        for page in tiff_pages(path, numbers=[number]):
            return page.image
        raise ImageLoadError(os.fspath(path), f"it has no page {number}")
    with _pdfium:
        document = _open(path)
        try:
            if not 1 <= number <= len(document):
                raise ImageLoadError(os.fspath(path), f"it has no page {number}")
            return _render(document, number - 1, PAGE_SIDE)
        finally:
            document.close()


def page_text(path: str | os.PathLike[str], number: int) -> str:
    """Page ``number``'s text layer ("" for a page without one: a scan)."""
    with _pdfium:
        document = _open(path)
        try:
            if not 1 <= number <= len(document):
                raise ImageLoadError(os.fspath(path), f"it has no page {number}")
            page = document[number - 1]
            try:
                text: str = page.get_textpage().get_text_range()
            finally:
                page.close()
            return text.replace("\r\n", "\n").strip()
        finally:
            document.close()
