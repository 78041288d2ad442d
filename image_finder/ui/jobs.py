"""Indexing jobs as the controller queues them, and the progress of consecutive watch jobs
shown as one (Qt-free)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from image_finder.core.indexing.indexer import IndexProgress
    from image_finder.core.indexing.watch import WatchBatch


@dataclass(frozen=True)
class IndexJob:
    folders: tuple[str, ...]
    rebuild: bool = False
    watch: WatchBatch | None = None  # the changes a watched folder saw


class JoinedProgress:
    """Watch jobs that follow one another (a long copy seen in parts) count on from the one
    before, so that the progress shown is that of one job."""

    def __init__(self) -> None:
        self._base = 0  # images of the watch jobs before
        self._last_total = 0

    def relay(self, progress: IndexProgress) -> IndexProgress:
        from image_finder.core.indexing.indexer import IndexPhase

        if progress.phase is not IndexPhase.EMBEDDING:
            return progress
        self._last_total = progress.total
        if not self._base:
            return progress
        return dataclasses.replace(
            progress, done=progress.done + self._base, total=progress.total + self._base
        )

    def job_done(self, finished: IndexJob | None, following: IndexJob | None) -> None:
        """``finished`` ended and ``following`` is next (None: nothing queued)."""
        watch_follows_watch = (
            finished is not None and finished.watch is not None
            and following is not None and following.watch is not None
        )  # fmt: skip
        self._base = self._base + self._last_total if watch_follows_watch else 0
        self._last_total = 0
