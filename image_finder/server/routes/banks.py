"""Hash banks over HTTP (core/app/banks.py): banks listed, made, filled from an uploaded list
and removed; a picture matched (an upload: never a path, never a URL) or library items; the
matches recorded as pictures were indexed, paged, and a reviewer's decision on each,
attributed to the token that made it. Reading banks and matching need a ``match`` token;
changing banks a ``manage`` one."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.server.deps import ManageAccess, MatchAccess, ServiceDep, token_owner
from image_finder.server.errors import ApiError
from image_finder.server.ids import item_id
from image_finder.server.service import Service

router = APIRouter(tags=["banks"])

MAX_IDS = 500
EVENTS_POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0


def _banks(service: Service) -> Any:
    from image_finder.core.app.banks import open_banks

    try:
        return open_banks(service.store)
    except ImageFinderError as exc:
        raise ApiError(409, "catalogue", str(exc)) from exc


def _refused(exc: ImageFinderError) -> ApiError:
    status = 404 if str(exc).startswith("no bank named") else 422
    return ApiError(status, "not_found" if status == 404 else "invalid", str(exc))


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(422, "invalid", "The body must be JSON.") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "The body must be a JSON object.")
    return data


async def _upload(request: Request, *names: str) -> tuple[str, bytes]:
    """The one file of a multipart form (under one of ``names``)."""
    form = await request.form()
    for name in names:
        upload = form.get(name)
        if isinstance(upload, UploadFile):
            data = await upload.read()
            if not data:
                raise ApiError(
                    422, "invalid", f"The uploaded file {upload.filename or ''} is empty."
                )
            return upload.filename or "upload", data
    raise ApiError(422, "invalid", f"Send the file as a multipart part named {names[0]!r}.")


@router.get("/banks", summary="The hash banks, with their counts and thresholds")
def list_banks(service: ServiceDep, _: Any = MatchAccess) -> dict[str, Any]:
    with _banks(service) as banks:
        return {"banks": [b.to_json() for b in banks.banks()]}


@router.post("/banks", status_code=201, summary="A new, empty bank")
async def create_bank(request: Request, service: ServiceDep, _: Any = ManageAccess) -> Any:
    body = await _body(request)

    def make() -> dict[str, Any]:
        with _banks(service) as banks:
            try:
                return dict(banks.create(
                    str(body.get("name", "")), watch=bool(body.get("watch", False)),
                    pdq_distance=int(body.get("pdq_distance", 31)),
                    vector_score=body.get("vector_score"),
                ).to_json())  # fmt: skip
            except ImageFinderError as exc:
                status = 409 if "exists already" in str(exc) else 422
                raise ApiError(
                    status, "conflict" if status == 409 else "invalid", str(exc)
                ) from exc

    return await run_in_threadpool(make)


@router.delete("/banks/{name}", summary="Remove a bank and its entries")
def remove_bank(name: str, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    with _banks(service) as banks:
        try:
            return {"removed": banks.remove(name).name}
        except ImageFinderError as exc:
            raise _refused(exc) from exc


@router.post("/banks/{name}/hashes", summary="Add an uploaded hash list: all of it or none")
async def import_hashes(name: str, request: Request, service: ServiceDep,
                        _: Any = ManageAccess) -> dict[str, Any]:  # fmt: skip
    from image_finder.core.banks.lists import read_lines

    filename, data = await _upload(request, "file", "list")

    def add() -> dict[str, Any]:
        text = io.StringIO(data.decode("utf-8-sig", errors="replace"))
        with _banks(service) as banks:
            try:
                counted = banks.import_hashes(name, read_lines(text, filename))
            except ImageFinderError as exc:
                raise _refused(exc) from exc
            return {"bank": name, **counted.to_json()}

    return await run_in_threadpool(add)


@router.get("/banks/{name}/hashes", summary="A bank's hashes as CSV (hash,label)",
            response_class=Response)  # fmt: skip
def export_hashes(name: str, service: ServiceDep, _: Any = MatchAccess) -> Response:
    from image_finder.core.app.banks import export_list

    out = io.StringIO()
    with _banks(service) as banks:
        try:
            banks.get(name)
        except ImageFinderError as exc:
            raise _refused(exc) from exc
        export_list(banks, name, out)
    return Response(out.getvalue(), media_type="text/csv")


@router.post("/match", summary="Match an uploaded picture, or library items, against the banks")
async def match(request: Request, service: ServiceDep, _: Any = MatchAccess) -> dict[str, Any]:
    from image_finder.core.app import banks as app

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    names = [str(n) for n in request.query_params.getlist("bank")]
    if kind == "application/json":
        body = await _body(request)
        raw = body.get("ids")
        if not isinstance(raw, list) or not raw or len(raw) > MAX_IDS:
            raise ApiError(422, "invalid", f'"ids": a list of 1 to {MAX_IDS} item ids.')
        ids = [item_id(str(v), "ids") for v in raw]
        names = [str(n) for n in body.get("banks", names)]

        def of_items() -> list[Any]:
            library = service.require_library()
            with _banks(service) as banks:
                return app.match_items(library, banks, ids, names)

        try:
            found = await run_in_threadpool(of_items)
        except ImageFinderError as exc:
            raise _refused(exc) from exc
    else:
        _, data = await _upload(request, "file", "photo")
        service.require_model()

        def of_upload() -> list[Any]:
            with _banks(service) as banks:
                return app.match_picture(banks, data, names, service.extractor())

        try:
            found = await run_in_threadpool(of_upload)
        except ImageLoadError as exc:
            raise ApiError(422, "unreadable_image", f"The upload: {exc.reason}.") from exc
        except ImageFinderError as exc:
            raise _refused(exc) from exc
    return {"matches": [_public(m.to_json()) for m in found]}


def _public(match: dict[str, Any]) -> dict[str, Any]:
    """A match of an upload names no path (there is none)."""
    return match if match.get("path") != "upload" else {**match, "path": None}


@router.get("/matches", summary="The matches recorded as pictures were indexed, newest first")
def matches(service: ServiceDep, offset: int = 0, limit: int = 100,
            _: Any = MatchAccess) -> dict[str, Any]:  # fmt: skip
    from image_finder.core.app.banks import recorded_matches

    if offset < 0 or not 1 <= limit <= 500:
        raise ApiError(422, "invalid", "offset ≥ 0, limit from 1 to 500")
    library = service.require_library()
    return {"matches": recorded_matches(library, offset, limit), "offset": offset,
            "limit": limit}  # fmt: skip


@router.get(
    "/matches/events",
    summary="The matches as they are recorded, as server-sent events ('match')",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def match_events(request: Request, service: ServiceDep, after: int | None = None,
                 _: Any = MatchAccess) -> StreamingResponse:  # fmt: skip
    """From the match after ``after`` (or the ``Last-Event-ID`` a reconnecting client sends;
    else from now on): each event's id is the match's, so a client that reconnects misses
    none. Matches recorded by other processes (``watch``, the window) come too."""
    from image_finder.core.app.banks import recorded_matches

    library = service.require_library()
    resumed = request.headers.get("last-event-id", "")
    if resumed.isdigit():
        after = int(resumed)
    if after is None:
        newest = recorded_matches(library, 0, 1)
        after = newest[0]["id"] if newest else 0

    async def events(seen: int) -> AsyncIterator[str]:
        quiet = 0.0
        while not await request.is_disconnected():
            found = await run_in_threadpool(recorded_matches, library, 0, 100, seen)
            for match in found:
                seen = match["id"]
                yield f"event: match\nid: {seen}\ndata: {json.dumps(match)}\n\n"
            if found:
                quiet = 0.0
                continue
            if quiet >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet = 0.0
            await asyncio.sleep(EVENTS_POLL_SECONDS)
            quiet += EVENTS_POLL_SECONDS

    return StreamingResponse(
        events(after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/webhooks", summary="The webhooks the matches go to, and how deliveries stand")
def list_webhooks(service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    """Their addresses, counts and failures, never their secrets. They are added on the
    server's machine (image-finder-cli webhook add URL): the server sends to no address a
    client gives."""
    from image_finder.core.app.banks import webhooks

    return {"webhooks": [h.to_json() for h in webhooks(service.require_library())]}


@router.post("/matches/{match_id}/decision", summary="Confirm or dismiss a match")
async def decide(match_id: int, request: Request, service: ServiceDep, _: Any = MatchAccess,
                 who: str = Depends(token_owner)) -> dict[str, Any]:  # fmt: skip
    from image_finder.core.app.banks import decide as record

    body = await _body(request)
    library = service.require_library()

    def write() -> dict[str, Any]:
        try:
            return record(library, match_id, str(body.get("decision", "")), who or "public")
        except ImageFinderError as exc:
            status = 404 if str(exc).startswith("no match") else 422
            raise ApiError(status, "not_found" if status == 404 else "invalid", str(exc)) from exc

    return await run_in_threadpool(write)
