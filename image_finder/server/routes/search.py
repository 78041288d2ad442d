"""POST /search: by an uploaded image, by words, or by a library item."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from image_finder.core.search import Query, SearchOptions, SearchOutcome
from image_finder.server.config import MAX_K
from image_finder.server.deps import SearchAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.service import Service

router = APIRouter(tags=["search"])

ITEMS = "/api/v1/items"


class SearchBody(BaseModel):
    """A search by words or by a library item (JSON), or the fields beside an uploaded
    image (multipart)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, description='words: "dog", "sports car -red"')
    item: int | None = Field(default=None, description="the id of a library item to search with")
    k: int | None = Field(default=None, ge=1, description=f"results wanted (at most {MAX_K})")
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    folder: str | None = Field(default=None, description="only results inside this library folder")
    rotations: bool = Field(default=False, description="also find rotated and mirrored copies")
    crops: bool = Field(default=False, description="also find the pictures the query was cut from")


def outcome_json(outcome: SearchOutcome) -> dict[str, Any]:
    """The core's search result object, with the URLs of each result's thumbnail and image."""
    data = outcome.to_json()
    for result in data["results"]:
        result["thumbnail"] = f"{ITEMS}/{result['id']}/thumbnail"
        result["image"] = f"{ITEMS}/{result['id']}/image"
    return data


def search_options(service: Service, body: SearchBody) -> SearchOptions:
    settings = service.settings
    folder = None
    if body.folder:
        folder = os.path.abspath(os.path.expanduser(body.folder))
        known = [f.path for f in service.library.folders()]
        if not any(folder == f or folder.startswith(os.path.join(f, "")) for f in known):
            raise ApiError(422, "invalid", f"folder: {body.folder} is not in the library")
    return SearchOptions(
        top_k=min(MAX_K, body.k or settings.top_k),
        min_score=body.min_score if body.min_score is not None else (settings.min_score or None),
        folder=folder,
        nprobe=settings.nprobe or None,
        rotations=body.rotations,
        crops=body.crops,
    )


async def run_search(service: Service, query: Query, options: SearchOptions) -> dict[str, Any]:
    """Decode in a worker thread, then embed and search in the queue's batches: the event
    loop never waits for either."""
    queue = service.queue
    prepared = await run_in_threadpool(queue.prepare, query, options)
    outcome = await asyncio.wrap_future(queue.submit(prepared))
    return outcome_json(outcome)


def _body(data: dict[str, Any]) -> SearchBody:
    try:
        return SearchBody.model_validate(data)
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ApiError(422, "invalid", message) from exc


async def _read(request: Request, service: Service) -> tuple[Query, SearchBody]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = await request.json()
        except ValueError as exc:
            raise ApiError(400, "bad_json", f"The body is not valid JSON ({exc}).") from exc
        if not isinstance(data, dict):
            raise ApiError(422, "invalid", "The body must be a JSON object.")
        body = _body(data)
        if body.item is not None:
            found = await run_in_threadpool(service.library.items, [body.item])
            item = found.get(body.item)
            if item is None:
                raise ApiError(404, "not_found", f"No library item {body.item}.")
            query = Query.item(item)
            return (query.with_words(body.text) if body.text else query), body
        if not (body.text or "").strip():
            raise ApiError(
                422, "invalid", 'Give "text" (words) or "item" (an id), or upload an image.'
            )
        return Query.words(body.text or ""), body
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=16)
        upload = form.get("image")
        fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
        body = _body(fields)
        if not isinstance(upload, UploadFile):
            if body.text:
                return Query.words(body.text), body
            raise ApiError(422, "invalid", 'The form needs an "image" file part (or "text").')
        data = await upload.read()
        if not data:
            raise ApiError(422, "invalid", "The uploaded image is empty.")
        query = Query.image(data, upload.filename or "Uploaded image")
        return (query.with_words(body.text) if body.text else query), body
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
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
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
    queue = service.queue  # 503 while the model loads
    with queue.reserve():  # 429 past the bound, before the body is read
        query, body = await _read(request, service)
        options = await run_in_threadpool(search_options, service, body)
        return await run_search(service, query, options)
