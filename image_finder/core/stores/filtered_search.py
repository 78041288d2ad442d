"""Searching the index among the images a search is narrowed to (core/search/conditions.py).

Among a few matching images (at most SELECTIVE_SHARE of the index) the search is exact: their
vectors, taken from the index once and kept while the same ids are asked again, in a flat
index of their own. Among more, the IVF regions visited grow as the matching share shrinks, so
that about as many matching vectors are compared as unfiltered; a bitmap of the ids tells
FAISS which to compare (``python -m benchmarks.conditions``: recall@10 1.0 at 1%, 10% and 50%
of 100,000 images).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SELECTIVE_SHARE = 0.05


def filtered_nprobe(nprobe: int, matching: int, total: int, n_regions: int) -> int:
    """Regions to visit for ``matching`` of ``total`` vectors (unfiltered: ``nprobe``)."""
    share = matching / max(1, total)
    if share <= SELECTIVE_SHARE:
        return int(n_regions)
    return int(min(n_regions, math.ceil(nprobe / share)))


def to_bitmap(ids: np.ndarray) -> np.ndarray:
    """``ids`` as FAISS's IDSelectorBitmap wants them: bit i of byte i // 8, low bit first."""
    ids = np.asarray(ids, np.int64)
    bits = np.zeros(int(ids.max()) + 1 if len(ids) else 1, bool)
    bits[ids] = True
    packed: np.ndarray = np.packbits(bits, bitorder="little")
    return packed


class FilteredSearch:
    """What one index keeps for the last ids it was narrowed to (the conditions' ids are
    cached, so the same array comes again while nothing changes)."""

    def __init__(self) -> None:
        self._bitmap: tuple[np.ndarray, np.ndarray] | None = None
        self._subset: tuple[np.ndarray, int, Any, np.ndarray] | None = None

    def bitmap(self, ids: np.ndarray) -> np.ndarray:
        if self._bitmap is None or self._bitmap[0] is not ids:
            self._bitmap = (ids, to_bitmap(ids))
        return self._bitmap[1]

    def search_subset(
        self, index: Any, ivf: Any, queries: np.ndarray, k: int, ids: np.ndarray, generation: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` among ``ids`` of an IVF ``index`` at ``generation``."""
        from image_finder.core.stores.vector_index import _faiss

        faiss = _faiss()
        cached = self._subset
        if cached is None or cached[0] is not ids or cached[1] != generation:
            if ivf.direct_map.type == faiss.DirectMap.NoMap:
                ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            present = _held(ivf, ids)
            flat = faiss.IndexFlatIP(index.d)
            if len(present):
                flat.add(index.reconstruct_batch(present))
            cached = (ids, generation, flat, present)
            self._subset = cached
        flat, present = cached[2], cached[3]
        n = len(queries)
        if not len(present):
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        scores, rows = flat.search(np.ascontiguousarray(queries, np.float32), min(k, len(present)))
        return scores, np.where(rows >= 0, present[np.maximum(rows, 0)], -1)


def _held(ivf: Any, ids: np.ndarray) -> np.ndarray:
    """Those of ``ids`` the index holds (a condition may name an image not in it yet)."""
    known = []
    for i in ids.tolist():
        try:
            ivf.direct_map.get(int(i))
        except RuntimeError:
            continue
        known.append(i)
    return np.asarray(known, np.int64)
