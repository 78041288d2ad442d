"""Concepts: learn one (from library items, or from uploaded pictures of one's own that are
embedded for the concept alone and never added to the library), forget one. Listing them is
``GET /concepts`` in routes/tune.py."""

from __future__ import annotations

import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from image_finder.core.common.errors import ImageLoadError
from image_finder.server.deps import ManageAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.ids import item_id
from image_finder.server.service import Service

router = APIRouter(prefix="/concepts", tags=["concepts"])

MAX_EXAMPLES = 200  # library items, each way
MAX_UPLOADED = 50  # pictures of one's own in one request


def _ids(values: Any, field: str) -> list[int]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list) or len(values) > MAX_EXAMPLES:
        raise ApiError(422, "invalid", f"{field}: a list of at most {MAX_EXAMPLES} item ids")
    return [item_id(str(v), field) for v in values]


def _learn(service: Service, name: str, like: list[int], unlike: list[int],
           uploads: list[tuple[str, bytes]]) -> dict[str, Any]:  # fmt: skip
    from image_finder.core.app.jobs import JobKind
    from image_finder.core.app.work import learn_work

    library = service.require_library()
    if service.jobs.active:
        raise ApiError(409, "busy", "An indexing job is running; wait for it to finish.")
    found = library.items(like + unlike)
    missing = [i for i in like + unlike if i not in found]
    if missing:
        raise ApiError(404, "not_found", f"No library item {missing[0]}.")
    outside, skipped = None, []
    if uploads:
        extractor = service.extractor()
        vectors = []
        for filename, data in uploads:
            try:
                vectors.append(extractor.embed_images([io.BytesIO(data)])[0])
            except ImageLoadError as exc:
                skipped.append({"filename": filename, "reason": exc.reason})
        if not vectors:
            raise ApiError(422, "unreadable_image", "None of the uploaded pictures can be read.")
        import numpy as np

        outside = np.stack(vectors)
    work = learn_work(library, name, like, unlike, vectors=outside)
    concept = service.jobs.run(JobKind.LEARN, work)
    return {**concept.to_json(), "skipped": skipped}


@router.post("", status_code=201, summary="Learn a concept from examples (items or uploads)")
async def add_concept(request: Request, service: ServiceDep, _: Any = ManageAccess) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: list[tuple[str, bytes]] = []
    if kind == "multipart/form-data":
        form = await request.form(max_files=MAX_UPLOADED, max_fields=8)
        fields: dict[str, Any] = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        for upload in form.getlist("image"):
            if isinstance(upload, UploadFile):
                uploads.append((upload.filename or "upload", await upload.read()))
    elif kind == "application/json":
        try:
            fields = json.loads(await request.body())
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "bad_json", "The body is not valid JSON.") from exc
        if not isinstance(fields, dict):
            raise ApiError(422, "invalid", "The body must be a JSON object.")
    else:
        raise ApiError(415, "unsupported_media_type", "Send JSON, or multipart with 'image' parts.")
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(422, "invalid", "name: what the examples show")
    like = _ids(fields.get("like", []), "like")
    unlike = _ids(fields.get("unlike", []), "unlike")
    return await run_in_threadpool(_learn, service, name, like, unlike, uploads)


@router.delete("/{name}", summary="Forget a concept")
def remove_concept(name: str, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    library = service.require_library()
    with library.writing():
        if not library.side_data.remove_concept(" ".join(name.split())):
            raise ApiError(404, "not_found", f"No concept {name!r}.")
    return {"removed": name}
