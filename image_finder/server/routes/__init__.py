"""The API's routes, one module per area, all under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from image_finder.server.routes import (
    banks,
    clips,
    concepts,
    duplicates,
    folders,
    items,
    jobs,
    search,
    status,
    tune,
)

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for area in (status, search, clips, items, folders, jobs, duplicates, concepts, tune, banks):
        router.include_router(area.router)
    return router
