"""Teaching the library its domain: the concepts it knows, and tuning an adapter on labelled
folders or concepts (a job), or switching between the adapted and the original features. All
under a manage token; a folder named here must be inside the library."""

from __future__ import annotations

import os
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from image_finder.core.common.errors import LibraryReadOnlyError
from image_finder.core.common.paths import inside
from image_finder.core.common.records import display_name
from image_finder.core.learning import adapter
from image_finder.core.stores.library import READ_ONLY_NOTICE
from image_finder.server.deps import ManageAccess, SearchAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.jobs import job_json
from image_finder.server.service import Service

router = APIRouter(tags=["learning"])


class Tune(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels_from_folders: str | None = Field(
        default=None,
        description="a folder of the library: each of its sub-folders is a label",
    )
    labels_from_concepts: list[str] | None = Field(
        default=None, description="saved concepts as labels ([]: all of them)"
    )
    use: Literal["original", "adapted"] | None = Field(
        default=None, description="switch the features searched, at once (no job)"
    )

    @model_validator(mode="after")
    def one_source(self) -> Tune:
        given = [self.labels_from_folders, self.labels_from_concepts, self.use]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give one of labels_from_folders, labels_from_concepts or use")
        return self


def _inside_library(service: Service, path: str) -> str:
    """``path`` if it lies in one of the library's folders (a client's path reads nothing
    else)."""
    path = os.path.normpath(os.path.expanduser(path.strip()))
    if not os.path.isabs(path):
        raise ApiError(422, "invalid", "labels_from_folders: give an absolute path")
    roots = [f.path for f in service.store.folders()]
    if not any(inside(path, r) for r in roots):
        raise ApiError(404, "not_found", f"{display_name(path)} is not in the library")
    return path


@router.get("/concepts", summary="The library's concepts")
def list_concepts(service: ServiceDep, _: Any = SearchAccess) -> dict[str, Any]:
    library = service.store.as_library()
    return {"concepts": [c.to_json() for c in library.side_data.concepts()] if library else []}


@router.get("/adapter", summary="The library's adapter, if any")
def get_adapter(service: ServiceDep, _: Any = SearchAccess) -> dict[str, Any]:
    library = service.store.as_library()
    found = library.adapter if library else None
    return {"adapter": found.to_json() if found else None}


@router.post("/tune", status_code=202, summary="Tune an adapter (a job), or switch features")
def tune(body: Tune, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    library = service.require_library()
    if library.read_only:
        raise LibraryReadOnlyError(READ_ONLY_NOTICE)
    if body.use is not None:
        if service.jobs.active:
            raise ApiError(409, "busy", "A job is running; wait for it or cancel it.")
        from image_finder.core.app.jobs import JobKind
        from image_finder.core.app.work import features_work

        # LibraryBusyError: 409
        changed = service.jobs.run(JobKind.TUNE, features_work(library, body.use == "adapted"))
        return {"features": body.use, "changed": changed}
    if body.labels_from_folders is not None:
        root = _inside_library(service, body.labels_from_folders)
        labels = adapter.labels_from_folders(library, root)
    else:
        labels = adapter.labels_from_concepts(library, body.labels_from_concepts or [])
    adapter.usable_labels(labels)  # refused now rather than as a failed job
    job = service.jobs.start_tune(labels)
    return {"job": job_json(job)}
