"""Looking a PDQ hash up among millions: multi-index hashing, exact.

The 256 bits are cut into ``CHUNKS`` chunks of 16. Two hashes within ``r`` bits of each other
agree to within ``r // 16`` bits on at least one chunk (16 chunks each more bits off would
make more than ``r``), so the hashes whose chunk equals one of the query's chunks with at
most ``r // 16`` bits flipped are all the candidates there are; each is then measured whole.
For the reference's 31 bits that is 17 probes of each of 16 chunks.

Each chunk's table is the positions of the hashes sorted by that chunk's value and, for each
of the 65,536 values, where its run starts: 4 bytes a hash a chunk, so 10 million hashes take
about 1 GB with their codes (FAISS's ``IndexBinaryMultiHash`` took 1.3 GB there, and its
hash tables of 8 chunks of 32 bits 7 GB). A lookup gathers the probes' runs in one go
(about count / 65,536 × 272 candidates) and measures them with ``numpy.bitwise_count``.
Figures: benchmarks/banks.py, docs/performance.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from image_finder.core.pictures.pdq import BYTES

CHUNKS = 16
VALUES = 1 << 16  # of one chunk


@dataclass(frozen=True)
class HashHit:
    position: int  # in the index: the row of the codes it was built from
    distance: int


def _flips(bits: int) -> np.ndarray:
    """Every 16-bit mask of at most ``bits`` ones."""
    masks = [0]
    for n in range(1, min(bits, 16) + 1):
        masks += [sum(1 << b for b in chosen) for chosen in itertools.combinations(range(16), n)]
    return np.asarray(masks, np.int64)


class HashIndex:
    """The hashes of some banks, for range lookups (the caller maps positions to banks)."""

    def __init__(self, codes: np.ndarray, radius: int) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, BYTES)
        self.count = len(codes)
        self.radius = int(radius)
        self._words = codes.view(np.uint64).reshape(-1, BYTES // 8)
        self._flips = _flips(self.radius // CHUNKS)
        self._positions = np.empty((CHUNKS, self.count), np.uint32)
        self._starts = np.zeros((CHUNKS, VALUES + 1), np.int64)
        for chunk in range(CHUNKS):  # one chunk at a time: its keys are the only copy made
            keys = codes[:, 2 * chunk].astype(np.uint16) << 8 | codes[:, 2 * chunk + 1]
            self._positions[chunk] = np.argsort(keys, kind="stable")
            np.cumsum(np.bincount(keys, minlength=VALUES), out=self._starts[chunk, 1:])
            self._starts[chunk] += chunk * self.count  # into the flattened positions

    def lookup(self, queries: np.ndarray) -> list[list[HashHit]]:
        """For each query hash (rows of 32 bytes), the indexed hashes within the radius,
        nearest first."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, BYTES)
        return [self._one(q) if self.count else [] for q in queries]

    def _one(self, query: np.ndarray) -> list[HashHit]:
        chunks = query[0::2].astype(np.int64) << 8 | query[1::2]
        probes = chunks[:, None] ^ self._flips[None, :]
        rows = np.arange(CHUNKS)[:, None]
        starts = self._starts[rows, probes].ravel()
        sizes = self._starts[rows, probes + 1].ravel() - starts
        total = int(sizes.sum())
        if not total:
            return []
        # the runs' slots, end to end: each run's start repeated over its length, plus a count
        slots = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(total)
        found = self._positions.reshape(-1)[slots]
        distances = np.bitwise_count(self._words[found] ^ query.view(np.uint64)).sum(axis=1)
        near = distances <= self.radius
        positions, first = np.unique(found[near], return_index=True)
        hits = sorted(zip(distances[near][first].tolist(), positions.tolist(), strict=True))
        return [HashHit(int(p), int(d)) for d, p in hits]
