"""A face's search request as search options: the settings' defaults, one folder check and
one cap on the number of results, for the window, the command line and the server alike."""

from __future__ import annotations

import os

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.paths import inside
from image_finder.core.common.records import display_name
from image_finder.core.config.settings import Settings
from image_finder.core.pictures.video import MomentRule
from image_finder.core.search.searcher import SearchOptions
from image_finder.core.stores.store import Store

MAX_K = 1000  # results one search may ask for


class OptionError(ImageFinderError):
    """A search option out of range or naming what the store does not hold: ``field`` names
    the option (``k``, ``min_score``, ``nprobe``, ``folder``), ``rule`` what it must be."""

    def __init__(self, field: str, rule: str, message: str = "") -> None:
        super().__init__(message or f"{field} must be {rule}")
        self.field, self.rule = field, rule


def search_options(
    store: Store,
    settings: Settings,
    *,
    top_k: int | None = None,
    min_score: float | None = None,
    folder: str | None = None,
    nprobe: int | None = None,
    rotations: bool | None = None,
    crops: bool | None = None,
) -> SearchOptions:
    """The options of one search: each value given, else the settings'. Raises OptionError
    for a value out of range or a folder that is not in the store."""
    k = top_k if top_k is not None else settings.top_k
    if k < 1:
        raise OptionError("k", f"1 or more (got {k})")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise OptionError(
            "min_score", f"between 0 and 1, 1 being the same picture (got {min_score})"
        )
    if nprobe is not None and nprobe < 1:
        raise OptionError("nprobe", f"1 or more (got {nprobe})")
    return SearchOptions(
        top_k=min(MAX_K, k),
        min_score=min_score if min_score is not None else (settings.min_score or None),
        folder=checked_folder(store, folder) if folder else None,
        nprobe=nprobe or settings.nprobe or None,
        rotations=settings.rotations if rotations is None else rotations,
        crops=settings.crops if crops is None else crops,
        group_parts=not settings.every_moment,
    )


def moment_rule(settings: Settings) -> MomentRule:
    """Which frames of a video indexing keeps, as the settings say (at least one moment every
    ``moment_seconds``; videos indexed before a change keep theirs until indexed again)."""
    return MomentRule(every=settings.validated().moment_seconds)


def checked_folder(store: Store, folder: str) -> str:
    """``folder`` as an absolute path, if it is one of the store's folders or inside one."""
    path = os.path.abspath(os.path.expanduser(folder))
    known = [f.path for f in store.folders()]
    if not any(inside(path, f) for f in known):
        places = ", ".join(display_name(f) for f in known)
        raise OptionError(
            "folder",
            "a library folder or inside one",
            f"{display_name(path)} is not in the library (its folders: {places})",
        )
    return path
