"""GET /status: what the library holds, as ``image-finder-cli status --json`` prints it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from image_finder import __version__
from image_finder.core.stores.status import store_status
from image_finder.server.deps import SearchAccess, ServiceDep, request_token

router = APIRouter(tags=["status"])


@router.get("/status", summary="What the library holds, and whether the model is ready")
async def status(
    request: Request, service: ServiceDep, scope: Any = SearchAccess
) -> dict[str, Any]:
    server = {
        "version": __version__,
        "model_state": service.model_state.value,
        "model_error": service.model_error or None,
        "public_search": service.config.public_search,
        "signed_in": scope is not None,
        "scope": scope.value if scope is not None else None,
        "jobs_running": service.jobs.active,
    }
    if scope is None and not request_token(request):  # public search, nobody signed in
        images = await run_in_threadpool(service.store.count)
        return {"images": images, "model": service.model_name, "server": server}
    data = await run_in_threadpool(store_status, service.store, service.settings)
    return {**data, "capabilities": service.store.capabilities.to_json(), "server": server}
