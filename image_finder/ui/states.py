"""The controller's state as objects, not flags: the query that waits and why, and the search
in flight (Qt-free)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from image_finder.core.search.searcher import Query


class WaitReason(enum.Enum):
    """Why a query waits instead of running."""

    MODEL = "model"  # the model is loading: it runs once it is ready
    INDEXING = "indexing"  # the library is empty and a folder is being indexed: it runs after
    EMPTY_LIBRARY = "empty"  # the empty library refused it: it runs after the next indexing


@dataclass(frozen=True)
class Waiting:
    """The one query that waits, whether it is a new step in the history, and why."""

    query: Query
    record: bool
    reason: WaitReason

    @property
    def runs_when_ready(self) -> bool:
        """Waits for the model or the indexing job (not for a folder still to be added)."""
        return self.reason is not WaitReason.EMPTY_LIBRARY


@dataclass(frozen=True)
class Request:
    """A search in flight: what it asked, whether it is a new step in the history."""

    generation: int
    query: Query
    record: bool
    started: float
