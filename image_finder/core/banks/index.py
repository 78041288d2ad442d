"""Looking a PDQ hash up among millions: FAISS's multi-index hashing over the banks' hashes,
as HMA's PDQ index does (``IndexBinaryMultiHash``). The 256 bits are cut into chunks; two
hashes within 31 bits of each other agree to within ``31 // chunks`` bits on at least one chunk
(pigeonhole), so probing each chunk's table with every flip of that many bits finds every hash
within 31 bits: the search is exact, not approximate. Up to ``FEW`` hashes, 16 chunks of 16 bits
and one flip (272 probes; each probe's bucket holds count / 65,536 hashes to check); beyond, 8
chunks of 32 bits and three flips (43,912 probes into nearly empty buckets: the time no longer
grows with the count; measured by benchmarks/banks.py). A wider distance gets more flips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from image_finder.core.pictures.pdq import BITS, BYTES

FEW = 4_000_000  # hashes: below, 16 chunks of 16 bits; above, 8 of 32


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
        self.chunks = 16 if self.count < FEW else 8
        self._index = faiss.IndexBinaryMultiHash(BITS, self.chunks, BITS // self.chunks)
        self._index.nflip = max(0, self.radius // self.chunks)
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

    @property
    def bytes_used(self) -> int:
        """The codes and the tables' ids, about (the benchmark measures the process)."""
        return self.count * (BYTES + self.chunks * 8)
