"""Duplicate groups, as ``image-finder-cli duplicates --json`` lists them, a page at a time;
and moving chosen copies to the trash."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from image_finder.core.common.paths import inside
from image_finder.core.common.records import item_json, path_json
from image_finder.server.config import MAX_PER_PAGE
from image_finder.server.deps import ManageAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.jobs import job_json
from image_finder.server.service import Service

router = APIRouter(prefix="/duplicates", tags=["duplicates"])

TIERS = ("identical", "same-video", "same-document", "same", "still", "similar")


def _groups(service: Service, tier: str, threshold: float) -> list[Any]:
    """The groups for this library generation, found once (pages are then cheap)."""
    from image_finder.core.search.duplicates import Tier, find_duplicates

    key = (service.store.generation, tier, threshold)
    cache = service.duplicates_cache
    if key not in cache:
        cache.clear()
        cache[key] = find_duplicates(service.store, threshold=threshold, min_tier=Tier.named(tier))
    return list(cache[key])


@router.get("", summary="Groups of duplicate pictures, largest space to free first")
async def list_duplicates(
    service: ServiceDep,
    tier: str = "similar",
    threshold: float | None = None,
    page: int = 1,
    per_page: int = 20,
    _: Any = ManageAccess,
) -> dict[str, Any]:
    from image_finder.core.search.duplicates import DEFAULT_THRESHOLD

    if tier not in TIERS:
        raise ApiError(422, "invalid", f"tier: one of {', '.join(TIERS)}")
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0.0 < threshold <= 1.0:
        raise ApiError(422, "invalid", "threshold: above 0 and at most 1")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ApiError(422, "invalid", f"page: 1 or more; per_page: 1 to {MAX_PER_PAGE}")
    groups = await run_in_threadpool(_groups, service, tier, threshold)
    start = (page - 1) * per_page
    return {
        "groups": [g.to_json() for g in groups[start : start + per_page]],
        "page": page,
        "per_page": per_page,
        "total_groups": len(groups),
        "pages": math.ceil(len(groups) / per_page),
        "reclaimable_bytes": sum(g.reclaimable for g in groups),
    }


class TrashRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(min_length=1, max_length=10_000, description="library item ids")


@router.post("/trash", summary="Move these library items' files to the system trash")
def trash(body: TrashRequest, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    from image_finder.core.app.jobs import JobKind
    from image_finder.core.app.work import cleanup_work

    if service.jobs.active:
        raise ApiError(409, "busy", "An indexing job is running; wait for it to finish.")
    library = service.require_library()
    found = library.items(body.ids)
    missing = [i for i in body.ids if i not in found]
    if missing:
        raise ApiError(404, "not_found", f"No library items {missing[:10]}.")
    report = service.jobs.run(JobKind.CLEANUP, cleanup_work(library, [found[i] for i in body.ids]))
    service.duplicates_cache.clear()
    if report.done:
        service.last_trashed = [i.path for i in report.done]
    return {
        "trashed": [item_json(i) for i in report.done],
        "skipped": [s.to_json() for s in report.skipped],
        "error": report.error or None,
    }


@router.post("/undo", summary="Put back the files of the last move to the trash, indexed again")
def undo(service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    from image_finder.core.indexing.cleanup import restore_from_trash

    library = service.require_library()
    paths, service.last_trashed = service.last_trashed, []
    if not paths:
        raise ApiError(
            409, "nothing_to_undo", "Nothing was moved to the trash since the last undo."
        )
    restored = restore_from_trash(paths)
    folders = sorted({f.path for f in library.folders() for p in restored if inside(p, f.path)})
    job = service.jobs.start(folders) if folders else None
    return {
        "restored": [path_json(p) for p in restored],
        "not_restored": [path_json(p) for p in paths if p not in set(restored)],
        "job": job_json(job) if job is not None else None,
    }
