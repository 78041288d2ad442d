"""What search, the server and duplicates read from a store, as a catalogue answers it.

A :class:`~image_finder.core.stores.catalogue.Catalogue` answers the same questions as a
:class:`~image_finder.core.stores.library.Library` (items, vectors, layouts, folders, the ids
under a folder, byte-identical groups, a sample of vectors) and offers a ``vector_index``
with the library index's ``search``. So the one ``Searcher``, ``find_duplicates`` and the
server's routes serve either store. What only a library keeps (concepts, the adapter, CLIP
vectors, EXIF facts) a catalogue does not have: searches that need it get a clear message.

Nothing is cached beyond one request's use, so several servers can share one catalogue.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.records import FolderInfo, Scan
from image_finder.core.stores.store import Capabilities

if TYPE_CHECKING:
    from pymilvus import MilvusClient

ID_FILTER_CHUNK = 4096  # ids in one "id in [...]" filter
ITERATOR_BATCH = 4096
SAMPLE_LIMIT = 16384  # Milvus answers at most this many rows to one query


class CatalogueSample:
    """A catalogue's vectors for the examples' background: the first rows Milvus answers
    (it has no random sample; they stand for "anything else" as well as any)."""

    def __init__(self, reads: CatalogueReads) -> None:
        self._reads = reads

    def sample(self, n: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        rows = self._reads.client.query(
            self._reads.collection, filter="", output_fields=["id", "vector"],
            limit=min(SAMPLE_LIMIT, n + (len(exclude) if exclude is not None else 0)),
        )  # fmt: skip
        if exclude is not None and len(exclude):
            gone = set(np.asarray(exclude).tolist())
            rows = [r for r in rows if int(r["id"]) not in gone]
        rows = rows[:n]
        dim = self._reads.dim or 0
        ids = np.asarray([int(r["id"]) for r in rows], np.int64)
        vectors = np.asarray([r["vector"] for r in rows], np.float32).reshape(len(rows), dim)
        return ids, vectors


class CatalogueIndex:
    """The catalogue's vectors, searched as the library's VectorIndex is (Milvus does the
    work: a folder is a prefix filter on the path's INVERTED index)."""

    def __init__(self, reads: CatalogueReads) -> None:
        self._reads = reads

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        restrict_to: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query row, -1 where fewer than k exist. ``nprobe`` is
        the library index's knob; Milvus's index has its own parameters."""
        reads = self._reads
        n = len(queries)
        scores = np.full((n, k), -np.inf, np.float32)
        ids = np.full((n, k), -1, np.int64)
        if not n or not reads.client.has_collection(reads.collection):
            return scores, ids
        folder = reads.scope_folder(restrict_to)
        if restrict_to is None or folder is not None:
            filters = [reads.folder_filter(folder) if folder else ""]
        else:
            wanted = np.unique(np.asarray(restrict_to, np.int64))
            filters = [f"id in {wanted[s : s + ID_FILTER_CHUNK].tolist()}"
                       for s in range(0, len(wanted), ID_FILTER_CHUNK)]  # fmt: skip
        data = np.asarray(queries, np.float32).tolist()
        for expression in filters:
            hits = reads.client.search(
                reads.collection, data=data, limit=k, filter=expression, output_fields=["id"],
                search_params={"metric_type": "IP"},
            )  # fmt: skip
            for row, found in enumerate(hits):
                merged = [(float(s), int(i)) for s, i in zip(scores[row], ids[row], strict=True)
                          if i >= 0]  # fmt: skip
                merged += [(float(h["distance"]), int(h["entity"]["id"])) for h in found]
                merged.sort(key=lambda si: -si[0])
                for col, (score, image_id) in enumerate(merged[:k]):
                    scores[row, col], ids[row, col] = score, image_id
        return scores, ids

    def info(self) -> dict[str, Any]:
        return {"index_type": "milvus", "n_regions": 0, "nprobe": 0,
                "vectors": self._reads.count()}  # fmt: skip

    @property
    def notices(self) -> list[str]:
        return []


class CatalogueReads:
    """The reads a library offers, for :class:`Catalogue` (a mixin: it provides ``client``,
    ``collection``, ``count``, ``dim``, ``model``, ``items``, ``_meta`` and the rest)."""

    client: MilvusClient
    collection: str
    _scopes: list[tuple[np.ndarray, str]]
    _scope_lock: threading.Lock

    capabilities = Capabilities(
        writable=False, words=False, concepts=False, adapter=False, conditions=False, files=False
    )

    if TYPE_CHECKING:

        @property
        def dim(self) -> int | None: ...

        @property
        def model(self) -> str | None: ...

        def count(self) -> int: ...

        def folder_paths(self) -> list[str]: ...

        def _meta(self, prefix: str) -> dict[str, str]: ...

        def _query_all(self, expression: str, fields: list[str]) -> Iterator[dict[str, Any]]: ...

        def folder_filter(self, folder: str) -> str: ...

        @property
        def keeps_parts(self) -> bool: ...

    active_adapter = None  # a catalogue holds the model's own features
    adapter = None
    text_model: str | None = None
    read_only = True  # written only by the Ray job (image-finder-cli index --store)

    @property
    def notices(self) -> list[str]:
        return []

    def as_library(self) -> None:
        return None  # a catalogue keeps vectors and paths only

    @property
    def vector_index(self) -> CatalogueIndex:
        return CatalogueIndex(self)

    @property
    def generation(self) -> int:
        """Changes whenever a batch is written or deleted (kept in the meta collection)."""
        return int(self._meta("generation").get("generation", "0") or 0)

    @property
    def precision(self) -> str | None:
        """The precision the model ran in to make the stored vectors."""
        return self._meta("precision").get("precision")

    @property
    def space(self) -> str:
        return self.model or ""

    def meta_value(self, key: str) -> str | None:
        return self._meta(key).get(key)

    def searched(self, vectors: np.ndarray) -> np.ndarray:
        return vectors

    def text_counts(self) -> tuple[int, int]:
        return 0, self.count()

    def folders(self) -> list[FolderInfo]:
        """The folders the job indexed, each with its count of images."""
        out = []
        for n, path in enumerate(self.folder_paths(), start=1):
            images = 0
            if self.client.has_collection(self.collection):
                rows = self.client.query(self.collection, filter=self.folder_filter(path),
                                         output_fields=["count(*)"])  # fmt: skip
                images = int(rows[0]["count(*)"])
            out.append(FolderInfo(n, path, images, 0.0, None))
        return out

    def ids_under(self, folder: str) -> np.ndarray:
        """Ids of the images under ``folder``. The array is remembered for a while: a search
        narrowed to it becomes Milvus's prefix filter, not a list of ids."""
        folder = folder if "://" in folder else os.path.abspath(folder)
        rows = self._query_all(self.folder_filter(folder), ["id"])
        found = np.asarray([int(r["id"]) for r in rows], np.int64)
        with self._scope_lock:
            self._scopes = [*self._scopes[-7:], (found, folder)]
        return found

    def scope_folder(self, ids: np.ndarray | None) -> str | None:
        """The folder whose ids_under answer ``ids`` is (None: any other array)."""
        if ids is None:
            return None
        with self._scope_lock:
            return next((folder for array, folder in self._scopes if array is ids), None)

    def part_ids(self) -> np.ndarray:
        """The ids of the items that are parts of files (a video's moments)."""
        if not self.keeps_parts:
            return np.zeros(0, np.int64)
        return np.asarray([int(r["id"]) for r in self._query_all('part != ""', ["id"])], np.int64)

    def page_prints(self, ids: Sequence[int]) -> dict[int, bytes]:
        """A catalogue keeps no page prints: its pages are found by the model alone."""
        return {}

    def page_ids(self) -> np.ndarray:
        return np.zeros(0, np.int64)

    def scans(self, ids: Sequence[int]) -> dict[int, Scan]:
        """A catalogue keeps no medical facts: its slices are results of their own."""
        return {}

    def same_content_groups(self) -> list[list[int]]:
        """Ids of the whole files that share their content hash with another (byte copies)."""
        by_hash: dict[str, list[int]] = defaultdict(list)
        whole = 'part == ""' if self.keeps_parts else ""
        for row in self._query_all(whole, ["id", "content_hash"]):
            by_hash[row["content_hash"]].append(int(row["id"]))
        return [sorted(ids) for ids in by_hash.values() if len(ids) > 1]

    @contextlib.contextmanager
    def snapshot(self, *, original: bool = False) -> Iterator[CatalogueSample]:
        yield CatalogueSample(self)
