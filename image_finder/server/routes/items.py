"""Library items by id: their facts, thumbnails, original files, and similar pictures.

Files are found only through the library: a client names an item by its id, never by a path,
and a file is read only if it lies inside one of the library's folders."""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from image_finder.core.app.options import MAX_K
from image_finder.core.app.text import stored_text
from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.paths import inside
from image_finder.core.common.records import Item, item_json, path_json
from image_finder.core.pictures.dicom import is_dicom
from image_finder.core.pictures.images import looks_like_a_picture
from image_finder.core.search.searcher import Query
from image_finder.server.deps import SearchAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.ids import parse_id
from image_finder.server.routes.search import (
    ITEMS,
    SearchBody,
    part_links,
    run_search,
    search_options,
)
from image_finder.server.service import Service
from image_finder.server.thumbnails import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, picture_png

router = APIRouter(prefix="/items", tags=["items"])


def find_item(service: Service, item_id: str) -> Item:
    """The item ``item_id`` names (404 for anything else: a path, a negative number…)."""
    number = parse_id(item_id)
    if number is None:
        raise ApiError(404, "not_found", "No such library item.")
    item = service.store.items([number]).get(number)
    if item is None:
        raise ApiError(404, "not_found", f"No library item {item_id}.")
    return item


def library_file(service: Service, item: Item) -> str:
    """The item's file, if it is a regular file inside one of the library's folders (its real
    place too: a link out of the library is not followed)."""
    folders = [f.path for f in service.store.folders()]
    real = os.path.realpath(item.path)
    within = any(inside(item.path, f) and inside(real, os.path.realpath(f)) for f in folders)
    if not within or not os.path.isfile(real):
        raise ApiError(404, "not_found", f"The file of item {item.id} is not in the library now.")
    return real


def item_body(item: Item) -> dict[str, Any]:
    return {
        **item_json(item),
        **path_json(item.folder, "folder"),
        "thumbnail": f"{ITEMS}/{item.id}/thumbnail",
        "image": f"{ITEMS}/{item.id}/image",
        "similar": f"{ITEMS}/{item.id}/similar",
        **part_links(item.id, item.part.to_json() if item.part else None),
    }


@router.get("/{item_id}", summary="A library item's facts")
def get_item(item_id: str, service: ServiceDep, _: Any = SearchAccess) -> dict[str, Any]:
    return item_body(find_item(service, item_id))


@router.get("/{item_id}/text", summary="The text written in a library item, as read")
def get_text(item_id: str, service: ServiceDep, _: Any = SearchAccess) -> dict[str, Any]:
    """``source``: "layer" (a document's own text), "read", "none" (nothing read in it), or
    null (not read yet); ``lines``: each line read with its confidence and box."""
    item = find_item(service, item_id)
    found = stored_text(service.store, item.id)
    if found is None:
        return {"id": item.id, "source": None, "text": "", "lines": []}
    body = found.to_json()
    del body["part"]
    return {"id": item.id, **body}


def _thumbnail(service: Service, item_id: str, size: int, fmt: str) -> Any:
    item = find_item(service, item_id)
    library_file(service, item)
    try:
        return service.thumbnails.get(item, size, fmt)
    except ImageLoadError as exc:
        raise ApiError(422, "unreadable_image", f"Item {item.id}: {exc.reason}.") from exc


@router.get(
    "/{item_id}/thumbnail",
    summary="A thumbnail (JPEG, or WebP when asked for or accepted), with an ETag",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/webp": {}}}, 304: {}},
)
async def get_thumbnail(
    item_id: str,
    request: Request,
    service: ServiceDep,
    size: int = DEFAULT_SIZE,
    format: str | None = None,
    _: Any = SearchAccess,
) -> Response:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ApiError(422, "invalid", f"size: from {MIN_SIZE} to {MAX_SIZE} pixels")
    if format not in (None, "jpeg", "webp"):
        raise ApiError(422, "invalid", "format: jpeg or webp")
    fmt = format or ("webp" if "image/webp" in request.headers.get("accept", "") else "jpeg")
    thumbnail = await run_in_threadpool(_thumbnail, service, item_id, size, fmt)
    headers = {"ETag": thumbnail.etag, "Cache-Control": "private, max-age=3600", "Vary": "Accept"}
    if request.headers.get("if-none-match") == thumbnail.etag:
        return Response(status_code=304, headers=headers)
    return Response(thumbnail.data, media_type=thumbnail.media_type, headers=headers)


@router.get(
    "/{item_id}/image",
    summary="The original file's bytes",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}}},
)
def get_image(item_id: str, service: ServiceDep, _: Any = SearchAccess) -> StreamingResponse:
    item = find_item(service, item_id)
    path = library_file(service, item)
    if is_dicom(path):  # its picture, never the file: a DICOM file names its patient
        _open_indexed(item, path, picture=False).close()
        return _as_png(item, path)
    media_type = mimetypes.guess_type(item.filename)[0] or "application/octet-stream"
    if not media_type.startswith("image/") or media_type == "image/svg+xml":
        media_type = "application/octet-stream"
    name = quote(item.filename.encode("utf-8", "replace"))
    stream = _open_indexed(item, path)
    return StreamingResponse(
        _chunks(stream),
        media_type=media_type,
        headers={
            "Content-Length": str(item.size),
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get(
    "/{item_id}/video",
    summary="The video a moment is of, seekable (HTTP Range requests)",
    response_class=StreamingResponse,
    responses={200: {"content": {"video/*": {}}}, 206: {}, 416: {}},
)
def get_video(
    item_id: str, request: Request, service: ServiceDep, _: Any = SearchAccess
) -> StreamingResponse:
    item = find_item(service, item_id)
    if item.part is None or item.part.kind != "time":
        raise ApiError(404, "not_found", f"Item {item.id} is not a video's moment.")
    media_type = mimetypes.guess_type(item.filename)[0] or ""
    if not media_type.startswith("video/"):
        media_type = VIDEO_TYPES.get(os.path.splitext(item.filename)[1].lower(), "video/mp4")
    return _ranged(item, request, service, media_type)


@router.get(
    "/{item_id}/document",
    summary="The document a page is of, seekable (HTTP Range requests); open it at #page=N",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}}, 206: {}, 416: {}},
)
def get_document(
    item_id: str, request: Request, service: ServiceDep, _: Any = SearchAccess
) -> StreamingResponse:
    item = find_item(service, item_id)
    if item.part is None or item.part.kind != "page":
        raise ApiError(404, "not_found", f"Item {item.id} is not a document's page.")
    return _ranged(item, request, service, "application/pdf")


def _ranged(item: Item, request: Request, service: Any, media_type: str) -> StreamingResponse:
    """The item's file, whole or the one byte range asked for, while it is the one indexed."""
    stream = _open_indexed(item, library_file(service, item), picture=False)
    name = quote(item.filename.encode("utf-8", "replace"))
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"inline; filename*=UTF-8''{name}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    try:
        first, last = _byte_range(request.headers.get("range"), item.size)
    except ApiError:
        stream.close()
        raise
    if first is None:
        headers["Content-Length"] = str(item.size)
        return StreamingResponse(_chunks(stream), media_type=media_type, headers=headers)
    assert last is not None
    stream.seek(first)
    headers["Content-Length"] = str(last - first + 1)
    headers["Content-Range"] = f"bytes {first}-{last}/{item.size}"
    return StreamingResponse(_chunks(stream, limit=last - first + 1), status_code=206,
                             media_type=media_type, headers=headers)  # fmt: skip


VIDEO_TYPES = {".mkv": "video/x-matroska", ".webm": "video/webm", ".mts": "video/mp2t",
               ".m2ts": "video/mp2t", ".ts": "video/mp2t"}  # fmt: skip


def _byte_range(header: str | None, size: int) -> tuple[int | None, int | None]:
    """The one byte range a Range header asks for ((None, None): the whole file). Several
    ranges, or none within the file: 416."""
    if not header:
        return None, None
    refused = ApiError(416, "range", f"Ask for one byte range within the file's {size} bytes.",
                       {"Content-Range": f"bytes */{size}"})  # fmt: skip
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise refused
    start, _, end = spec.strip().partition("-")
    try:
        if not start:  # the last N bytes
            first, last = max(0, size - int(end)), size - 1
        else:
            first, last = int(start), min(size - 1, int(end) if end else size - 1)
    except ValueError as exc:
        raise refused from exc
    if first < 0 or first > last or first >= size:
        raise refused
    return first, last


def _as_png(item: Item, path: str) -> StreamingResponse:
    """The item's picture as a PNG (no metadata): a medical image as a viewer shows it."""
    try:
        data = picture_png(item)
    except ImageLoadError as exc:
        raise ApiError(409, "unreadable", f"Item {item.id} cannot be read: {exc.reason}") from exc
    name = quote((os.path.splitext(item.filename)[0] + ".png").encode("utf-8", "replace"))
    return StreamingResponse(
        iter([data]),
        media_type="image/png",
        headers={
            "Content-Length": str(len(data)),
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
        },
    )


def _open_indexed(item: Item, path: str, *, picture: bool = True) -> BinaryIO:
    """The item's file, opened once and checked on what was opened: a regular file of the size
    and time indexed, whose bytes a picture decoder recognises. A file swapped in since (a
    hard link to another file, an edit) is not served until it is indexed again."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed by _chunks, or here)
    except OSError as exc:
        raise ApiError(404, "not_found", f"The file of item {item.id} cannot be read.") from exc
    try:
        facts = os.fstat(stream.fileno())
        same = (stat.S_ISREG(facts.st_mode) and facts.st_size == item.size
                and facts.st_mtime_ns == item.mtime_ns)  # fmt: skip
        if not same:
            raise ApiError(409, "changed", f"The file of item {item.id} changed since it was "
                           "indexed; it is served again once it is indexed.")  # fmt: skip
        if picture and not looks_like_a_picture(stream, item.filename):
            raise ApiError(409, "changed", f"The file of item {item.id} is not a picture now.")
        stream.seek(0)
    except BaseException:
        stream.close()
        raise
    return stream


def _chunks(stream: BinaryIO, size: int = 1 << 20, limit: int | None = None) -> Iterator[bytes]:
    """The stream's bytes from where it stands (``limit`` of them at most), then closed."""
    left = limit
    with stream:
        while left is None or left > 0:
            chunk = stream.read(size if left is None else min(size, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


@router.get("/{item_id}/similar", summary="The pictures most similar to a library item")
async def get_similar(
    item_id: str,
    service: ServiceDep,
    k: int | None = None,
    min_score: float | None = None,
    folder: str | None = None,
    _: Any = SearchAccess,
) -> dict[str, Any]:
    queue = service.queue
    with queue.reserve():
        item = await run_in_threadpool(find_item, service, item_id)
        if k is not None and k < 1:
            raise ApiError(422, "invalid", f"k: 1 or more (at most {MAX_K})")
        if min_score is not None and not 0 <= min_score <= 1:
            raise ApiError(422, "invalid", "min_score: from 0 to 1")
        body = SearchBody(k=k, min_score=min_score, folder=folder)
        options = await run_in_threadpool(search_options, service, body)
        return await run_search(service, Query.item(item), options)
