"""The library's folders: list, add (which starts an index job), remove. The only routes that
take a path from a client, and only with a manage token."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from image_finder.core.common.errors import LibraryReadOnlyError
from image_finder.core.common.records import display_name, path_json
from image_finder.core.stores.library import READ_ONLY_NOTICE
from image_finder.core.stores.status import folder_json
from image_finder.server.deps import ManageAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.jobs import job_json
from image_finder.server.service import Service

router = APIRouter(prefix="/folders", tags=["folders"])


class AddFolder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="an absolute path on the server's machine")
    rebuild: bool = Field(
        default=False, description="embed every image again (after a model change)"
    )


def _folders(service: Service) -> dict[str, Any]:
    return {
        "folders": [folder_json(f) for f in service.store.folders()],
        "images": service.store.count(),
    }


@router.get("", summary="The library's folders")
def list_folders(service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    return _folders(service)


def _writable(service: Service) -> None:
    if service.store.read_only:
        raise LibraryReadOnlyError(READ_ONLY_NOTICE)


@router.post("", status_code=202, summary="Add a folder (or index it again): answers the job")
def add_folder(body: AddFolder, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    path = os.path.expanduser(body.path.strip())
    if not path:
        raise ApiError(422, "invalid", "path: name the folder")
    if not os.path.isabs(path):
        raise ApiError(422, "invalid", f"path: give an absolute path (got {body.path!r})")
    path = os.path.normpath(path)
    if os.path.isfile(path):
        raise ApiError(422, "invalid", f"{display_name(path)} is a file, not a folder")
    library = service.require_library()
    if not os.path.isdir(path) and library.folder_info(path) is None:
        raise ApiError(404, "not_found", f"folder not found: {display_name(path)}")
    _writable(service)
    service.require_model(matching=not body.rebuild)
    job = service.jobs.start([path], rebuild=body.rebuild)
    return {**path_json(path), "job": job_json(job)}


@router.delete("", summary="Take a folder out of the library (its files stay)")
def remove_folder(path: str, service: ServiceDep, _: Any = ManageAccess) -> dict[str, Any]:
    library = service.require_library()
    _writable(service)
    if service.jobs.active:
        raise ApiError(
            409, "busy", "An indexing job is running; cancel it or wait for it to finish."
        )
    folder = os.path.normpath(os.path.abspath(os.path.expanduser(path)))
    if library.folder_info(folder) is None:
        raise ApiError(404, "not_found", f"{display_name(folder)} is not in the library")
    removed = library.remove_folders([folder])  # LibraryBusyError: 409
    return {**path_json(folder), "removed": removed[0], **_folders(service)}
