"""POST /search: by an uploaded image, by words, or by a library item."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from image_finder.core.app import options as app_options
from image_finder.core.app.options import MAX_K
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.search.conditions import Conditions
from image_finder.core.search.searcher import Query, SearchOptions, SearchOutcome
from image_finder.server.deps import SearchAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.ids import item_id
from image_finder.server.service import Service

router = APIRouter(tags=["search"])

MAX_TEXT_CHARS = 500  # words of one search
MAX_NAME_CHARS = 200  # a concept's name, a date, a camera
MAX_EXAMPLES = 100  # library items to search with, and to leave out
MAX_FIELD_BYTES = 64 * 1024  # a form's text field (filters as JSON)
BODY_SECONDS = 30.0  # a request body must have come by then (408)
SEARCH_SECONDS = 30.0  # a search not answered by then is given up (503)

ITEMS = "/api/v1/items"


def part_links(item_id: int, part: dict[str, Any] | None) -> dict[str, str]:
    """The file a part is of, by its kind: a moment's video, a page's document."""
    kind = (part or {}).get("kind")
    if kind == "time":
        return {"video": f"{ITEMS}/{item_id}/video"}
    if kind == "page":
        return {"document": f"{ITEMS}/{item_id}/document"}
    return {}


class Filters(BaseModel):
    """Conditions on the files; all must hold."""

    model_config = ConfigDict(extra="forbid")

    taken_after: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="YYYY-MM-DD[THH:MM]"
    )
    taken_before: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="YYYY-MM-DD (the whole day)"
    )
    min_width: int | None = Field(default=None, ge=0)
    min_height: int | None = Field(default=None, ge=0)
    min_megapixels: float | None = Field(default=None, ge=0)
    min_bytes: int | None = Field(default=None, ge=0)
    max_bytes: int | None = Field(default=None, ge=0)
    formats: list[str] = Field(
        default_factory=list, max_length=32, description="jpeg, png, webp, heic, raw…"
    )
    orientation: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="landscape, portrait or square"
    )
    camera: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="a part of the make or model"
    )
    concept: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="pictures likely to show a concept"
    )
    kind: Literal["photo", "video", "page", "medical"] | None = Field(
        default=None, description="only photos, videos' moments, pages or medical images"
    )
    min_duration: float | None = Field(default=None, ge=0, description="videos of at least (s)")
    max_duration: float | None = Field(default=None, ge=0, description="videos of at most (s)")
    modality: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="DICOM: CT, MR… (comma)"
    )
    body_part: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="DICOM: a part of the body part"
    )
    series: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="DICOM: a part of the series name"
    )

    def conditions(self) -> Conditions:
        try:
            return Conditions.from_values(
                **self.model_dump(exclude={"formats"}), formats=",".join(self.formats)
            )
        except ImageFinderError as exc:
            raise ApiError(422, "invalid", f"filters: {exc}") from exc


class SearchBody(BaseModel):
    """A search by words or by a library item (JSON), or the fields beside an uploaded
    image (multipart)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        default=None,
        max_length=MAX_TEXT_CHARS,
        description=f'words: "dog", "sports car -red" (at most {MAX_TEXT_CHARS} characters)',
    )
    item: int | None = Field(default=None, description="the id of a library item to search with")
    concept: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="a concept's name, to search by"
    )
    like: list[int] = Field(
        default_factory=list,
        max_length=MAX_EXAMPLES,
        description=f"more library items, searched with (at most {MAX_EXAMPLES})",
    )
    unlike: list[int] = Field(
        default_factory=list,
        max_length=MAX_EXAMPLES,
        description=f"library items to leave out (at most {MAX_EXAMPLES})",
    )
    filters: Filters | None = None
    k: int | None = Field(default=None, ge=1, description=f"results wanted (at most {MAX_K})")
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    folder: str | None = Field(
        default=None, max_length=4096, description="only results inside this library folder"
    )
    rotations: bool = Field(default=False, description="also find rotated and mirrored copies")
    crops: bool = Field(default=False, description="also find the pictures the query was cut from")


def outcome_json(outcome: SearchOutcome) -> dict[str, Any]:
    """The core's search result object, with the URLs of each result's thumbnail and image
    (and of a moment's video)."""
    data = outcome.to_json()
    for result in data["results"]:
        result["thumbnail"] = f"{ITEMS}/{result['id']}/thumbnail"
        result["image"] = f"{ITEMS}/{result['id']}/image"
        result.update(part_links(result["id"], result.get("part")))  # a video, a document
    return data


def search_options(service: Service, body: SearchBody) -> SearchOptions:
    try:
        return app_options.search_options(
            service.store, service.settings, top_k=body.k, min_score=body.min_score,
            folder=body.folder, rotations=body.rotations, crops=body.crops,
        )  # fmt: skip
    except app_options.OptionError as exc:  # a folder's message names no other folder
        wrong = f"{body.folder} is not in the library" if exc.field == "folder" else str(exc)
        raise ApiError(422, "invalid", f"{exc.field}: {wrong}") from exc


async def run_search(
    service: Service, query: Query, options: SearchOptions, request: Request | None = None
) -> dict[str, Any]:
    """Decode in a worker thread, then embed and search in the queue's batches: the event
    loop never waits for either. A search whose client has gone, or that is still waiting
    past SEARCH_SECONDS, is given up (a batch not yet started does not run it)."""
    queue = service.queue
    prepared = await run_in_threadpool(queue.prepare, query, options)
    future = queue.submit(prepared)
    waiting = asyncio.wrap_future(future)
    deadline = time.monotonic() + SEARCH_SECONDS
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=0.25)
        if done:
            return outcome_json(waiting.result())
        if request is not None and await request.is_disconnected():
            future.cancel()
            raise ApiError(400, "client_gone", "The client left before the search finished.")
        if time.monotonic() > deadline:
            future.cancel()
            raise ApiError(503, "timeout", f"The search took over {SEARCH_SECONDS:g} s; try "
                           "again in a moment.", {"Retry-After": "1"})  # fmt: skip


def _body(data: dict[str, Any]) -> SearchBody:
    try:
        _refuse_surrogates(data)
    except RecursionError as exc:
        raise ApiError(400, "bad_json", "The JSON is nested too deeply.") from exc
    try:
        return SearchBody.model_validate(data)
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ApiError(422, "invalid", message) from exc


def _refuse_surrogates(value: Any, where: str = "body") -> None:
    """Text that is not Unicode (a lone surrogate, as JSON's \\ud800 allows) is refused."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(422, "invalid", f"{where}: not valid Unicode text") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_surrogates(key, where)
            _refuse_surrogates(item, f"{key}")
    elif isinstance(value, list):
        for item in value[: MAX_EXAMPLES + 1]:
            _refuse_surrogates(item, where)


def _json(raw: bytes | str) -> Any:
    """JSON as the API reads it: a body nested too deeply is refused, not a crash."""
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise ApiError(400, "bad_json", "The JSON is nested too deeply.") from exc
    except ValueError as exc:
        raise ApiError(400, "bad_json", f"The body is not valid JSON ({exc}).") from exc


MAX_UPLOADS = 8  # images in one search (examples and examples to leave out)


async def _items(service: Service, ids: list[int]) -> list[Query]:
    found = await run_in_threadpool(service.store.items, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApiError(404, "not_found", f"No library item {missing[0]}.")
    return [Query.item(found[i]) for i in ids]


async def _compose(
    service: Service, body: SearchBody, images: list[Query], unlike_images: list[Query]
) -> Query:
    """The one query of the request's parts: uploads and items to search with, items and
    uploads to leave out, words, filters."""
    like = images + await _items(
        service, ([body.item] if body.item is not None else []) + body.like
    )
    unlike = unlike_images + await _items(service, body.unlike)
    words = (body.text or "").strip()
    if body.concept and not like:
        query = Query.of_concept(body.concept)
    elif not like:
        if unlike:
            raise ApiError(422, "invalid", '"unlike" leaves pictures out: give what to search')
        if not words:
            raise ApiError(
                422, "invalid", 'Give "text" (words) or "item" (an id), or upload an image.'
            )
        query = Query.words(words)
    else:
        query = Query.together(like).but_not(*unlike)
        query = query.with_words(words) if words else query
    return query.where(body.filters.conditions()) if body.filters else query


def _form_fields(form: Any) -> dict[str, Any]:
    """The form's text fields as the JSON body has them: ids listed ("3,7" or repeated),
    filters as a JSON object."""
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if len(value) > MAX_FIELD_BYTES:
            raise ApiError(422, "invalid", f"{key}: longer than {MAX_FIELD_BYTES:,} characters")
        if key in ("like", "unlike"):
            ids = fields.setdefault(key, [])
            for v in value.split(","):
                if v.strip():
                    ids.append(item_id(v, key))
                if len(ids) > MAX_EXAMPLES:
                    raise ApiError(422, "invalid", f"{key}: at most {MAX_EXAMPLES} item ids")
        elif key == "filters":
            try:
                fields[key] = _json(value)
            except ApiError as exc:
                raise ApiError(422, "invalid", f"filters: not a JSON object ({exc})") from exc
        else:
            fields[key] = value
    return fields


async def _uploads(form: Any, key: str) -> list[Query]:
    queries = []
    for upload in form.getlist(key):
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid", f'"{key}" must be a file part.')
        data = await upload.read()
        if not data:
            raise ApiError(422, "invalid", f"The uploaded image {upload.filename or ''} is empty.")
        queries.append(Query.image(data, upload.filename or "Uploaded image"))
    return queries


async def _read(request: Request, service: Service) -> tuple[Query, SearchBody]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        data = _json(await request.body())
        if not isinstance(data, dict):
            raise ApiError(422, "invalid", "The body must be a JSON object.")
        body = _body(data)
        return await _compose(service, body, [], []), body
    if kind == "multipart/form-data":
        form = await request.form(max_files=MAX_UPLOADS, max_fields=32)
        body = _body(_form_fields(form))
        images, unlike = await _uploads(form, "image"), await _uploads(form, "unlike_image")
        return await _compose(service, body, images, unlike), body
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send multipart/form-data with an 'image' file part, or a JSON body.",
    )


SEARCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one or more images to search with",
                        },
                        "unlike_image": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "images to leave out",
                        },
                        "like": {"type": "string", "description": "item ids: 3,7"},
                        "unlike": {"type": "string", "description": "item ids to leave out"},
                        "filters": {"type": "string", "description": "a JSON object"},
                        "text": {"type": "string"},
                        "k": {"type": "integer", "minimum": 1, "maximum": MAX_K},
                        "min_score": {"type": "number", "minimum": 0, "maximum": 1},
                        "folder": {"type": "string"},
                        "rotations": {"type": "boolean"},
                        "crops": {"type": "boolean"},
                    },
                }
            },
            "application/json": {"schema": SearchBody.model_json_schema()},
        },
    }
}


@router.post(
    "/search",
    summary="Search by an uploaded image (multipart), or by words or a library item (JSON)",
    openapi_extra=SEARCH_BODY,
)
async def search(request: Request, service: ServiceDep, _: Any = SearchAccess) -> dict[str, Any]:
    started = time.perf_counter()
    queue = service.queue  # 503 while the model loads
    try:  # a slow body holds a connection, never a search's place
        query, body = await asyncio.wait_for(_read(request, service), BODY_SECONDS)
    except asyncio.TimeoutError as exc:
        raise ApiError(408, "timeout", f"The request's body took over {BODY_SECONDS:g} s.") from exc
    read = time.perf_counter()
    with queue.reserve():  # 429 past the bound, once the body is in
        options = await run_in_threadpool(search_options, service, body)
        answer = await run_search(service, query, options, request)
    searched = answer["seconds"]  # ranking the library alone
    answer["seconds"] = round(time.perf_counter() - started, 4)  # the whole search
    answer["stages"] = {"read": round(read - started, 4),
                        "decode_and_embed": round(max(0.0, answer["seconds"] - (read - started)
                                                      - searched), 4),
                        "rank": searched}  # fmt: skip
    return answer
