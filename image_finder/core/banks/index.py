"""Looking a PDQ hash up among millions: FAISS's multi-index hashing over the banks' hashes,
as HMA's PDQ index does (``IndexBinaryMultiHash``: the 256 bits cut into ``CHUNKS`` of 16).
Two hashes within 31 bits of each other agree to within one bit on at least one of the 16
chunks (16 chunks two bits off each are 32 bits), so probing each chunk's table with every
one-bit flip (``nflip`` 1) finds every hash within 31 bits: the search is exact, not
approximate. A bank with a wider distance gets more flips (its distance // 16). Each probe's
bucket holds count / 65,536 hashes to check, so a lookup grows with the banks (measured by
benchmarks/banks.py: 2.6 ms p99 at 1 million, 44 ms at 10 million, in 1.3 GB). Eight chunks of
32 bits with three flips keep it near 8 ms at 10 million, but FAISS's tables then take 7 GB:
not chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from image_finder.core.pictures.pdq import BITS, BYTES

CHUNKS = 16


@dataclass(frozen=True)
class HashHit:
    position: int  # in the index: the row of the codes it was built from
    distance: int


class HashIndex:
    """The hashes of some banks, for range lookups (the caller maps positions to banks)."""

    def __init__(self, codes: np.ndarray, radius: int) -> None:
        import faiss

        self.count = len(codes)
        self.radius = int(radius)
        self._index = faiss.IndexBinaryMultiHash(BITS, CHUNKS, BITS // CHUNKS)
        self._index.nflip = max(0, self.radius // CHUNKS)
        if self.count:
            self._index.add(np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, BYTES))

    def lookup(self, queries: np.ndarray) -> list[list[HashHit]]:
        """For each query hash (rows of 32 bytes), the indexed hashes within the radius,
        nearest first."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, BYTES)
        if not self.count or not len(queries):
            return [[] for _ in range(len(queries))]
        lims, distances, positions = self._index.range_search(queries, self.radius + 1)
        out = []
        for n in range(len(queries)):
            found = sorted(zip(distances[lims[n] : lims[n + 1]], positions[lims[n] : lims[n + 1]],
                               strict=True))  # fmt: skip
            out.append([HashHit(int(p), int(d)) for d, p in found if d <= self.radius])
        return out
