"""What a library holds and how it is searched: the fields of ``status --json`` and of the
API's ``GET /status``, from one place."""

from __future__ import annotations

from typing import Any

from image_finder.core.common.records import FolderInfo, iso_time, path_json
from image_finder.core.config.settings import Settings
from image_finder.core.embedding import precision
from image_finder.core.embedding.models import device_hint
from image_finder.core.stores.library import Library
from image_finder.core.stores.store import Store


def _iso_or_none(timestamp: float | None) -> str | None:
    return iso_time(timestamp) if timestamp else None


def folder_json(folder: FolderInfo) -> dict[str, Any]:
    return {
        **path_json(folder.path),
        "images": folder.images,
        "online": folder.online,
        "complete": folder.complete,
        "files_found": folder.files_found,
        "last_indexed": _iso_or_none(folder.last_indexed),
    }


def library_status(
    library: Library, settings: Settings, folders: list[FolderInfo] | None = None
) -> dict[str, Any]:
    """The library's status. Imports no torch (scripts poll it): the device is the one the
    settings would give, the precision the one recorded for this library."""
    folders = library.folders() if folders is None else folders
    info = library.vector_index.info()
    device = device_hint(settings.device)
    in_use, why = precision.recorded_plan(library, settings.precision, device)
    nprobe = settings.nprobe or info["nprobe"]
    return {
        "library": str(library.folder),
        "images": library.count(),  # what is searched: photos, videos' moments, pages…
        **library.file_counts(),
        "folders": [folder_json(f) for f in folders],
        "model": library.model or settings.model,
        "device": device,
        "precision": in_use,
        "precision_reason": why,
        "text_model": library.text_model,
        "text_indexed": library.text_counts()[0],
        "index_type": info["index_type"],
        "n_regions": info["n_regions"],
        "nprobe": nprobe if info["n_regions"] else 0,
        "bytes_on_disk": library.bytes_on_disk(),
        "read_only": library.read_only,
        "adapter": adapter.to_json() if (adapter := library.adapter) else None,
        "last_indexed": _iso_or_none(library.last_indexed()),
    }


def store_status(store: Store, settings: Settings) -> dict[str, Any]:
    """The status of either store: a library's, or a catalogue's in the library status's
    fields where they mean the same."""
    library = store.as_library()
    if library is not None:
        return library_status(library, settings)
    return catalogue_status(store, settings)


def catalogue_status(catalogue: Store, settings: Settings) -> dict[str, Any]:
    """A catalogue's status, in the library status's fields where they mean the same."""
    device = device_hint(settings.device)
    return {
        **catalogue.describe(),
        "images": catalogue.count(),
        "folders": [folder_json(f) for f in catalogue.folders()],
        "model": catalogue.model,
        "dim": catalogue.dim,
        "device": device,
        "index_type": "milvus",
        "read_only": True,
        "adapter": None,
        "text_model": None,
    }
