"""Index jobs: their state, a live stream of their progress (server-sent events), cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from image_finder.core.app.jobs import Job
from image_finder.server.deps import ManageAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.jobs import job_json
from image_finder.server.service import Service

router = APIRouter(prefix="/jobs", tags=["jobs"])

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0


def _job(service: Service, job_id: str) -> Job:
    job = service.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"No job {job_id}.")
    return job


@router.get("", summary="Index jobs, running and recent")
def list_jobs(service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    return {"jobs": [job_json(j) for j in service.jobs.jobs()]}


@router.get("/{job_id}", summary="A job's state, done, total, rate and time left")
def get_job(job_id: str, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    return job_json(_job(service, job_id))


async def _events(request: Request, job: Job) -> AsyncIterator[str]:
    seen = -1
    quiet = 0.0
    while True:
        if job.version != seen:
            seen = job.version
            kind = "end" if job.state.finished else "progress"
            yield f"event: {kind}\nid: {seen}\ndata: {json.dumps(job_json(job))}\n\n"
            quiet = 0.0
            if job.state.finished:
                return
        elif quiet >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS


@router.get(
    "/{job_id}/events",
    summary="The job's progress as server-sent events ('progress', then one 'end')",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def job_events(
    job_id: str, request: Request, service: ServiceDep, _: Any = ManageAccess
) -> StreamingResponse:
    job = _job(service, job_id)
    return StreamingResponse(
        _events(request, job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.delete("/{job_id}", summary="Cancel a job: what it committed stays")
def cancel_job(job_id: str, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    _job(service, job_id)
    job = service.jobs.cancel(job_id)
    assert job is not None
    return job_json(job)
