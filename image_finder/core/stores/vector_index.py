"""The search index over a library's vectors: the seam between the metadata store and the
vector store.

:class:`VectorIndex` is the narrow interface the rest of the core uses (search, apply a batch
of changes, optimise, save, describe). :class:`FaissIndex` implements it with FAISS files beside
the SQLite database; a server-backed store for libraries too big for one machine can implement
the same interface later, reading its vectors from the same :class:`VectorSource`.

Consistency: the SQLite database is the source of truth. The index file is named after the
database ``generation`` it reflects (``index-<generation>.faiss``), written to a temporary name
and renamed into place, so a crash at any moment leaves a current index or one recognisably
stale, and a stale one is rebuilt from the stored vectors (no image is decoded again).

Index type follows the library size (see :func:`index_plan`):

* fewer than ``IVF_MIN_VECTORS`` vectors: exact search (``IndexFlatIP`` in an ``IndexIDMap2``);
* from there on: ``IndexIVFFlat`` with inner product and ``n_regions = min(2 * sqrt(N), N / 39)``
  so that every region trains on at least 39 points (k-means on 64 points per region, 10
  iterations: a million vectors train in about a minute on two cores);
* the IVF index is retrained when N has doubled or halved since it was trained, and goes back
  to exact search below ``IVF_MIN_VECTORS / 2`` (hysteresis avoids flapping);
* after each training, the default ``nprobe`` is calibrated on 256 stored vectors: the smallest
  power of two whose recall@10 against exact search is at least ``NPROBE_TARGET_RECALL`` with
  95% confidence (the lower bound of the sample's confidence interval, so that queries from
  outside the sample reach the target too).

Concurrency: training reads a snapshot of the vectors (its own SQLite read transaction) and
runs without any lock; the new index is swapped in under the index's lock, which searches and
batch updates hold only for milliseconds. Searches meanwhile use the old index, so neither the
window nor a search ever waits for k-means (``benchmarks/ui_responsiveness.py --retrain``).
"""

from __future__ import annotations

import abc
import contextlib
import enum
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from image_finder.core.common.dberrors import is_disk_full
from image_finder.core.common.errors import DISK_FULL, LibraryWriteError
from image_finder.core.common.faults import checkpoint
from image_finder.core.stores.filtered_search import (
    SELECTIVE_SHARE,
    FilteredSearch,
    filtered_nprobe,
)

log = logging.getLogger(__name__)

INDEX_PREFIX = "index-"
INDEX_SUFFIX = ".faiss"

IVF_MIN_VECTORS = 20_000
MIN_POINTS_PER_REGION = 39
# k-means trains on at most this many points per region (faiss would take 256): training time
# grows with points x regions, and 64 per region already places the centroids well.
TRAINING_POINTS_PER_REGION = 64
KMEANS_ITERATIONS = 10
NPROBE_TARGET_RECALL = 0.95
CALIBRATION_QUERIES = 256
DEFAULT_NPROBE = 16


class PlanKind(enum.Enum):
    FLAT = "flat"
    IVF = "ivf"


@dataclass(frozen=True)
class IndexPlan:
    kind: PlanKind
    n_regions: int


def ideal_regions(n: int) -> int:
    return max(1, min(int(2 * math.sqrt(n)), n // MIN_POINTS_PER_REGION))


def index_plan(
    n: int,
    current: IndexPlan | None = None,
    trained_on: int = 0,
    ivf_min_vectors: int = IVF_MIN_VECTORS,
) -> IndexPlan:
    """The index a library of ``n`` vectors should have, given the one it has."""
    if current is not None and current.kind is PlanKind.IVF:
        if n < ivf_min_vectors // 2:
            return IndexPlan(PlanKind.FLAT, 0)
        if trained_on and trained_on / 2 < n < trained_on * 2:
            return current  # regions still fit the data: keep them
        return IndexPlan(PlanKind.IVF, ideal_regions(n))
    if n >= ivf_min_vectors:
        return IndexPlan(PlanKind.IVF, ideal_regions(n))
    return IndexPlan(PlanKind.FLAT, 0)


class VectorSource(Protocol):
    """The stored vectors at one generation of the library, read in one consistent view."""

    generation: int
    dim: int
    count: int

    def chunks(self, size: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, ``size`` at a time."""
        ...

    def sample(self, n: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (ids, vectors) picked at random, none of whose ids is in ``exclude``."""
        ...


class IndexHost(Protocol):
    """What an index needs from the store it belongs to."""

    folder: Path

    @property
    def generation(self) -> int: ...

    @property
    def dim(self) -> int | None: ...

    @property
    def space(self) -> str: ...

    @property
    def writer_held(self) -> bool: ...

    def count(self) -> int: ...

    def snapshot(self) -> contextlib.AbstractContextManager[VectorSource]: ...

    def meta_value(self, key: str) -> str | None: ...

    def set_meta_values(self, values: dict[str, object]) -> None: ...


class VectorIndex(abc.ABC):
    """The narrow interface of a vector store, as the core uses it."""

    @abc.abstractmethod
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        restrict_to: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query row; ids are -1 where fewer than k exist."""

    @abc.abstractmethod
    def apply(
        self, generation: int, removed: np.ndarray, added: list[tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """Follow one committed batch that took the store to ``generation``: ``removed`` ids,
        then each (ids, vectors) of ``added``."""

    @abc.abstractmethod
    def reset(self, *, retrain: bool = False) -> None:
        """Forget what is held (the store dropped every vector, or the vectors searched
        changed: ``retrain``); rebuilt on next use."""

    @abc.abstractmethod
    def ensure(self) -> None:
        """Load or rebuild the index for the store's current generation."""

    @abc.abstractmethod
    def optimize(self) -> None:
        """Retrain or change type when the library size calls for it, then save."""

    @abc.abstractmethod
    def save(self, *, if_loaded: bool = False) -> None:
        """Persist the index for the current generation (writer only); with ``if_loaded``,
        only an index already in memory."""

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """index_type, n_regions, nprobe and vectors, for status and checks."""

    @property
    @abc.abstractmethod
    def notices(self) -> list[str]:
        """Things worth telling the user (a damaged file rebuilt, say)."""


class FaissIndex(VectorIndex):
    """FAISS flat or IVF index, kept in memory and saved beside the database."""

    def __init__(self, host: IndexHost, *, ivf_min_vectors: int = IVF_MIN_VECTORS) -> None:
        self.host = host
        self.ivf_min_vectors = ivf_min_vectors
        # Guards the in-memory index: held for loads, batch updates, searches and the swap
        # after training, never during training itself.
        self._lock = threading.RLock()
        self._index: Any = None
        self._generation = -1
        self._space = ""  # the vectors the index in memory holds (core/stores/adapted_vectors.py)
        self._nprobe_calibrated = DEFAULT_NPROBE
        self._filtered = FilteredSearch()
        self._notices: list[str] = []

    @property
    def notices(self) -> list[str]:
        return self._notices

    @property
    def folder(self) -> Path:
        return self.host.folder

    # -- state --------------------------------------------------------------------------------

    @property
    def auto_nprobe(self) -> int:
        stored = self.host.meta_value("nprobe_auto")
        return int(stored) if stored else self._nprobe_calibrated

    def _trained_on(self) -> int:
        return int(self.host.meta_value("ivf_trained_on") or 0)

    def _files(self) -> list[Path]:
        """Index files, oldest generation first."""

        def generation(path: Path) -> int:
            try:
                return int(path.name[len(INDEX_PREFIX) : -len(INDEX_SUFFIX)])
            except ValueError:
                return -1

        return sorted(self.folder.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"), key=generation)

    def _file(self, generation: int) -> Path:
        return self.folder / f"{INDEX_PREFIX}{generation}{INDEX_SUFFIX}"

    def _notice(self, text: str) -> None:
        log.info(text)
        if text not in self._notices:
            self._notices.append(text)

    # -- loading ------------------------------------------------------------------------------

    def ensure(self) -> None:
        self._current()

    def _current(self) -> Any:
        """The FAISS index for the store's generation, loaded or rebuilt; None when empty."""
        with self._lock:
            generation = self.host.generation
            if self._index is not None and self._generation == generation:
                return self._index
            if self.host.dim is None:
                self._index, self._generation = None, generation
                return None
            loaded = self._load_file(generation)
            if loaded is not None:
                self._index, self._generation, self._space = loaded, generation, self.host.space
                return self._index
            # A build reads one snapshot, so that a writer's commits during the build cannot
            # mix two states of the library.
            space = self.host.space
            with self.host.snapshot() as source:
                index, nprobe = self._build(source, None)
            self._index, self._generation, self._space = index, source.generation, space
            if nprobe is not None:
                self._remember_calibration(source.count, nprobe)
            if self.host.writer_held:
                self.save()
            return self._index

    def _load_file(self, generation: int) -> Any:
        faiss = _faiss()
        path = self._file(generation)
        if not path.exists():
            # Older than the database: a writer is at work, or one stopped mid-run.
            log.info("no index for generation %d in %s; building it", generation, self.folder)
            return None
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError on any damage
            log.warning("cannot read %s (%s); rebuilding from stored vectors", path, exc)
            self._notice(
                "The search index file was damaged; it was rebuilt from the stored vectors."
            )
            return None
        count = self.host.count()
        if index.ntotal != count or index.d != self.host.dim:
            log.warning(
                "%s holds %d vectors, the database %d; rebuilding", path, index.ntotal, count
            )
            self._notice("The search index did not match the library; it was rebuilt.")
            return None
        return index

    # -- building -----------------------------------------------------------------------------

    def _plan_of(self, index: Any) -> IndexPlan:
        ivf = _faiss().try_extract_index_ivf(index)
        return (
            IndexPlan(PlanKind.IVF, int(ivf.nlist))
            if ivf is not None
            else IndexPlan(PlanKind.FLAT, 0)
        )

    def _current_plan(self) -> IndexPlan | None:
        faiss = _faiss()
        if self._index is not None:
            return self._plan_of(self._index)
        files = self._files()
        if files:
            with contextlib.suppress(Exception):
                return self._plan_of(faiss.read_index(str(files[-1]), faiss.IO_FLAG_MMAP))
        return None

    def _build(self, source: VectorSource, plan: IndexPlan | None) -> tuple[Any, int | None]:
        """A new index of ``source``'s vectors, and the calibrated nprobe if it was trained.
        Takes no lock: the caller swaps the result in."""
        faiss = _faiss()
        started = time.perf_counter()
        n, dim = source.count, source.dim
        plan = plan or index_plan(n, self._current_plan(), self._trained_on(), self.ivf_min_vectors)
        nprobe: int | None = None
        calibration: tuple[np.ndarray, np.ndarray] | None = None
        if plan.kind is PlanKind.FLAT:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            index = self._trained_copy(plan, dim)
            if index is None:
                index = faiss.IndexIVFFlat(
                    faiss.IndexFlatIP(dim), dim, plan.n_regions, faiss.METRIC_INNER_PRODUCT
                )
                # The calibration queries are kept out of k-means when there are enough other
                # points, so that they stand for new photos rather than for training points.
                calibration = source.sample(CALIBRATION_QUERIES)
                held_out = (
                    calibration[0]
                    if n - len(calibration[0]) >= plan.n_regions * MIN_POINTS_PER_REGION
                    else None
                )
                wanted = plan.n_regions * TRAINING_POINTS_PER_REGION
                _, sample = source.sample(min(n, wanted), exclude=held_out)
                index.cp.niter = KMEANS_ITERATIONS
                checkpoint("ivf_training")
                index.train(sample)
        for ids, vecs in source.chunks():
            index.add_with_ids(vecs, ids)
        if calibration is not None:
            nprobe = _calibrate_nprobe(index, source, *calibration)
        log.info(
            "built %s index of %d vectors in %.2f s",
            plan.kind.value,
            n,
            time.perf_counter() - started,
        )
        return index, nprobe

    def _trained_copy(self, plan: IndexPlan, dim: int) -> Any:
        """An empty copy of the current IVF index when its regions still fit ``plan``."""
        faiss = _faiss()
        space = self.host.space
        with self._lock:
            source = self._index if self._space == space else None
            if source is not None:
                source = faiss.clone_index(source)
        # regions trained on other vectors (before the library was adapted) do not fit
        if (
            source is None
            and (self.host.meta_value("ivf_space") or self.host.meta_value("model")) == space
        ):
            files = self._files()
            if files:
                with contextlib.suppress(Exception):
                    source = faiss.read_index(str(files[-1]))
        if source is None:
            return None
        ivf = faiss.try_extract_index_ivf(source)
        if ivf is None or int(ivf.nlist) != plan.n_regions or source.d != dim:
            return None
        source.reset()
        return source

    def _remember_calibration(self, trained_on: int, nprobe: int) -> None:
        self._nprobe_calibrated = nprobe
        if self.host.writer_held:  # a reader keeps its calibration in memory only
            self.host.set_meta_values(
                {"ivf_trained_on": trained_on, "nprobe_auto": nprobe, "ivf_space": self.host.space}
            )

    def optimize(self) -> None:
        current = self._current()
        plan = index_plan(
            self.host.count(), self._current_plan(), self._trained_on(), self.ivf_min_vectors
        )
        if current is not None and plan != self._current_plan():
            with self.host.snapshot() as source:
                index, nprobe = self._build(source, plan)  # searches go on meanwhile
            with self._lock:
                if source.generation == self.host.generation:
                    self._index, self._generation = index, source.generation
                    if nprobe is not None:
                        self._remember_calibration(source.count, nprobe)
                else:  # the library changed during the build: the next use rebuilds
                    log.info("the library changed while its index was rebuilt; discarded")
        self.save()

    # -- changes ------------------------------------------------------------------------------

    def apply(
        self, generation: int, removed: np.ndarray, added: list[tuple[np.ndarray, np.ndarray]]
    ) -> None:
        with self._lock:
            if self._index is None or self._generation != generation - 1:
                self._index = None  # stale: rebuilt on next use
                return
            if len(removed):
                self._index.remove_ids(np.asarray(removed, dtype=np.int64))
            for ids, vectors in added:
                if len(ids):
                    self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            self._generation = generation

    def reset(self, *, retrain: bool = False) -> None:
        """Forget the index in memory; with ``retrain`` (the vectors searched changed), also
        its files and regions, so that the next build trains anew."""
        with self._lock:
            self._index = None
            self._generation = -1
            if retrain and self.host.writer_held:
                for old in self._files():
                    with contextlib.suppress(OSError):
                        old.unlink()

    def save(self, *, if_loaded: bool = False) -> None:
        faiss = _faiss()
        with self._lock:
            if not self.host.writer_held or (if_loaded and self._index is None):
                return
            index = self._current() if self._index is None else self._index
            target = self._file(self._generation)
            if index is not None and not target.exists():
                tmp = target.with_name(target.name + ".tmp")
                try:
                    faiss.write_index(index, str(tmp))
                    with open(tmp, "rb+") as f:
                        os.fsync(f.fileno())
                except (RuntimeError, OSError) as exc:  # faiss reports write errors as RuntimeError
                    tmp.unlink(missing_ok=True)
                    if is_disk_full(exc) or isinstance(exc, RuntimeError):
                        raise LibraryWriteError(
                            f"The search index could not be written: {DISK_FULL}"
                        ) from exc
                    raise LibraryWriteError(
                        f"The search index could not be written ({exc})."
                    ) from exc
                checkpoint("index_written")
                os.replace(tmp, target)
                fsync_dir(self.folder)
                checkpoint("index_renamed")
            for old in self._files():
                if old != target:
                    with contextlib.suppress(OSError):
                        old.unlink()
            for tmp in self.folder.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}.tmp"):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    # -- reading ------------------------------------------------------------------------------

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        restrict_to: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        auto_nprobe = self.auto_nprobe
        with self._lock:
            index = self._current()
            if index is None:
                n = len(queries)
                return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
            k = max(1, min(k, int(index.ntotal)))
            selector = bitmap = None
            if restrict_to is not None:
                bitmap = self._filtered.bitmap(restrict_to)
                selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
            ivf = faiss.try_extract_index_ivf(index)
            share = len(restrict_to) / max(1, index.ntotal) if restrict_to is not None else 1.0
            if ivf is not None and restrict_to is not None and share <= SELECTIVE_SHARE:
                return self._filtered.search_subset(
                    index, ivf, queries, k, restrict_to, self._generation
                )
            if ivf is not None:
                probes = max(1, nprobe or auto_nprobe)
                if restrict_to is not None:
                    probes = filtered_nprobe(probes, len(restrict_to), index.ntotal, ivf.nlist)
                params: Any = faiss.SearchParametersIVF(nprobe=probes, sel=selector)
            else:
                params = faiss.SearchParameters(sel=selector) if selector is not None else None
            scores, ids = index.search(np.ascontiguousarray(queries, np.float32), k, params=params)
        return scores, ids

    def info(self) -> dict[str, Any]:
        with self._lock:
            index = self._current()
            plan = self._plan_of(index) if index is not None else IndexPlan(PlanKind.FLAT, 0)
            vectors = int(index.ntotal) if index is not None else 0
        ivf = plan.kind is PlanKind.IVF
        return {
            "index_type": "IndexIVFFlat" if ivf else "IndexFlatIP",
            "n_regions": plan.n_regions,
            "nprobe": self.auto_nprobe if ivf else 0,
            "vectors": vectors,
        }


def _calibrate_nprobe(
    index: Any, source: VectorSource, ids: np.ndarray, queries: np.ndarray
) -> int:
    """Smallest power-of-two nprobe with recall@10 >= target on stored vectors as queries."""
    faiss = _faiss()
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(queries.shape[1]))
    for chunk_ids, vecs in source.chunks():
        exact.add_with_ids(vecs, chunk_ids)
    k = 11  # the query itself is in the library: compare the 10 after it
    _, truth = exact.search(queries, k)
    ivf = faiss.extract_index_ivf(index)
    nprobe = 1
    while nprobe < ivf.nlist:
        _, found = index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
        per_query = np.array(
            [
                len(set(t[t != q][:10]) & set(f[f != q][:10])) / 10
                for q, t, f in zip(ids, truth, found, strict=True)
            ]
        )
        # The sample is small and new photos are not in the library: require the target of the
        # one-sided 95% lower confidence bound, not of the sample mean.
        margin = 1.645 * per_query.std(ddof=1) / math.sqrt(len(per_query))
        if per_query.mean() - margin >= NPROBE_TARGET_RECALL:
            break
        nprobe *= 2
    log.info("calibrated nprobe=%d for %d regions", nprobe, ivf.nlist)
    return min(nprobe, int(ivf.nlist))


def _faiss() -> Any:
    """faiss, imported on first use (its typing stubs are incomplete, so it is typed Any)."""
    import faiss

    return faiss


def fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
