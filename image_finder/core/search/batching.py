"""Searches from many callers at once, embedded together (micro-batching).

A server's requests each decode their own image (in their own thread, several at a time),
then hand it to one :class:`SearchQueue`. Its thread waits a few milliseconds for more to
arrive, embeds all of them in one forward pass of the model and searches each through the
one route every face takes, :meth:`Searcher.search`. On a GPU a pass of 32 images costs
little more than a pass of one; on a CPU the gain per image is smaller (see MAX_BATCH_CPU),
and what concurrent clients gain there is mostly that one request's upload, decoding and
search overlap the model's work for others.

The queue is bounded: :meth:`SearchQueue.reserve` refuses a search past ``max_pending`` (a
server answers 429) before anything is read or decoded, so that a flood of uploads cannot run
the process out of memory.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.search.query_images import PreparedImage, embed_prepared, prepare_image
from image_finder.core.search.searcher import (
    Query,
    QueryKind,
    Searcher,
    SearchOptions,
    SearchOutcome,
)

log = logging.getLogger(__name__)

BATCH_WAIT_SECONDS = 0.004  # how long the first search of a batch waits for others
# Searches embedded in one forward pass. On a CPU a batch gains little and past 8 loses: per
# image, ViT-B/16 int8 takes 42 ms alone, 41 ms in 8, 50 ms in 16; EfficientNet-Lite0 10, 6.5
# and 12.7 ms (2 cores, AVX-512). A GPU gains up to far larger batches.
MAX_BATCH_CPU = 8
MAX_BATCH_GPU = 32
MAX_PENDING = 32  # searches admitted at once (reading, decoding, waiting or running)


class QueueFullError(ImageFinderError):
    """Too many searches are waiting: try again in a moment."""


@dataclass(frozen=True)
class PreparedSearch:
    """One search, its image (if any) decoded and ready for the model."""

    query: Query
    options: SearchOptions
    image: PreparedImage | None = None  # None: nothing to embed (a library item, words)


class SearchQueue:
    """One thread that runs every search of one :class:`Searcher`, embedding the images of
    searches that arrive together in one batch."""

    def __init__(
        self,
        searcher: Searcher,
        *,
        max_pending: int = MAX_PENDING,
        max_batch: int | None = None,
        wait: float = BATCH_WAIT_SECONDS,
        decoders: int = 2,
    ) -> None:
        self.searcher = searcher
        self.max_pending = max_pending
        cpu = getattr(searcher.extractor, "device", "cpu") == "cpu"
        self.max_batch = max_batch or (MAX_BATCH_CPU if cpu else MAX_BATCH_GPU)
        self.wait = wait
        self.batches = 0  # forward passes run (for tests and benchmarks)
        self.batched = 0  # searches they embedded
        self._pending = 0
        self._lock = threading.Lock()
        self._decoding = threading.BoundedSemaphore(max(1, decoders))
        self._queue: queue.SimpleQueue[tuple[PreparedSearch, Future[SearchOutcome]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="search-queue", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    @contextlib.contextmanager
    def reserve(self) -> Iterator[None]:
        """A place for one search, held while it is read, decoded and run. Raises
        QueueFullError when ``max_pending`` searches hold one."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise QueueFullError(
                    f"{self._pending} searches are waiting; try again in a moment."
                )
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1

    def prepare(self, query: Query, options: SearchOptions) -> PreparedSearch:
        """Decode the query's image, at most ``decoders`` at a time (a decoded photo can take
        far more memory than its file). Runs in the caller's thread; raises ImageLoadError."""
        decoded = query.kind in (QueryKind.FILE, QueryKind.IMAGE)
        if query.text or query.compound or not decoded:
            return PreparedSearch(query, options)  # embedded in the search (examples: each)
        with self._decoding:
            image = prepare_image(query.source, options, self.searcher.extractor)
        return PreparedSearch(query, options, image)

    def submit(self, search: PreparedSearch) -> Future[SearchOutcome]:
        future: Future[SearchOutcome] = Future()
        self._queue.put((search, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.wait
            closing = False
            while len(batch) < self.max_batch:
                timeout = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=timeout)
                        if timeout > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            self._run_batch(batch)
            if closing:
                return

    def _run_batch(self, batch: list[tuple[PreparedSearch, Future[SearchOutcome]]]) -> None:
        live = [(s, f) for s, f in batch if f.set_running_or_notify_cancel()]
        with_images = [(s, f) for s, f in live if s.image is not None]
        features = {}
        if with_images:
            try:
                embedded = embed_prepared(
                    [s.image for s, _ in with_images if s.image is not None],
                    self.searcher.extractor,
                )
            except Exception as exc:  # the model failed: every search of the batch says so
                log.exception("embedding a batch of %d queries failed", len(with_images))
                for _, future in with_images:
                    future.set_exception(exc)
                live = [(s, f) for s, f in live if s.image is None]
            else:
                features = {id(s): e for (s, _), e in zip(with_images, embedded, strict=True)}
                self.batches += 1
                self.batched += len(with_images)
        for search, future in live:
            try:
                outcome = self.searcher.search(
                    search.query, search.options, features.get(id(search))
                )
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(outcome)
