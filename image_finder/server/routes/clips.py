"""POST /search/clip: a video clip as the query (core/search/clips.py): the library's videos
that hold it, with the stretch each covers, and the photos that are frames of it.

A clip has its own bounds: the request body's size (the server's upload limit), its length
(``MAX_CLIP_SECONDS``), its picture size, and the time its decoding may take
(``DECODE_SECONDS``): a video made to stall a decoder is refused, not waited for."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from image_finder.core.app.options import MAX_K
from image_finder.core.common.errors import ImageLoadError
from image_finder.core.pictures.video import is_video_name, probe
from image_finder.server.deps import SearchAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.routes.search import ITEMS
from image_finder.server.service import Service

router = APIRouter(tags=["search"])

MAX_CLIP_SECONDS = 300.0
MAX_CLIP_PIXELS = 3840 * 2160  # 4K
DECODE_SECONDS = 30.0
BODY_SECONDS = 60.0


def _check(seconds: float, pixels: int) -> None:
    if seconds > MAX_CLIP_SECONDS:
        limit = f"clips of up to {MAX_CLIP_SECONDS:.0f} s are searched with"
        raise ApiError(422, "clip_too_long", f"The clip is {seconds:.0f} s long; {limit}.")
    if pixels > MAX_CLIP_PIXELS:
        raise ApiError(422, "clip_too_large", "The clip's pictures are larger than 4K.")


def _search(service: Service, data: bytes, name: str, k: int) -> dict[str, Any]:
    from image_finder.core.search.clips import search_clip

    suffix = os.path.splitext(name)[1].lower() if is_video_name(name) else ".video"
    with tempfile.NamedTemporaryFile(suffix=suffix) as clip:
        clip.write(data)
        clip.flush()
        try:
            facts = probe(clip.name)
            _check(facts.duration, facts.width * facts.height)
            outcome = search_clip(service.store, service.extractor(), clip.name, top_k=k,
                                  time_limit=DECODE_SECONDS)  # fmt: skip
        except ImageLoadError as exc:
            raise ApiError(
                422, "unreadable_video", f"The clip cannot be read: {exc.reason}."
            ) from exc
    data_out = outcome.to_json()
    data_out["query"] = name
    for match in data_out["videos"]:
        match["thumbnail"] = f"{ITEMS}/{match['id']}/thumbnail"
        match["video"] = f"{ITEMS}/{match['id']}/video"
    for photo in data_out["photos"]:
        photo["thumbnail"] = f"{ITEMS}/{photo['id']}/thumbnail"
        photo["image"] = f"{ITEMS}/{photo['id']}/image"
    return data_out


@router.post(
    "/search/clip",
    summary="Search with a video clip (multipart 'video'): the videos holding it, and where",
)
async def search_with_clip(
    request: Request, service: ServiceDep, k: int = 12, _: Any = SearchAccess
) -> dict[str, Any]:
    if not 1 <= k <= MAX_K:
        raise ApiError(422, "invalid", f"k: from 1 to {MAX_K}")
    service.require_model()
    if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "Send the clip as multipart 'video'.")
    try:
        form = await asyncio.wait_for(request.form(max_files=1, max_fields=4), BODY_SECONDS)
    except asyncio.TimeoutError as exc:
        raise ApiError(408, "timeout", f"The request's body took over {BODY_SECONDS:g} s.") from exc
    upload = form.get("video")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "invalid", "Upload the clip as the 'video' part.")
    data = await upload.read()
    if not data:
        raise ApiError(422, "invalid", "The uploaded clip is empty.")
    return await run_in_threadpool(_search, service, data, upload.filename or "clip", k)
