"""Query by example: an image file, an in-memory image or a library item -> ranked results."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core import layout
from image_finder.core.errors import EmptyLibraryError, ImageFinderError
from image_finder.core.images import ImageSource, describe_source, load_image
from image_finder.core.library import Item, Library, display_name

if TYPE_CHECKING:
    from PIL import Image

    from image_finder.core.extractor import Extractor

log = logging.getLogger(__name__)


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float  # cosine similarity, 1.0 = identical features
    item: Item
    # The query has no colour and this picture's brightness layout is the query's: the colour
    # original of a black-and-white copy, listed first whatever its score (core/layout.py).
    grey_match: bool = False

    @property
    def path(self) -> str:
        return self.item.path

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "path": display_name(self.item.path),
            "filename": self.item.filename,
            "indexed_at": iso_time(self.item.indexed_at),
            "grey_match": self.grey_match,
        }


@dataclass
class SearchOutcome:
    query: str
    model: str
    results: list[SearchResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "query": display_name(self.query),
            "model": self.model,
            "results": [r.to_json() for r in self.results],
        }


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 12
    min_score: float | None = None
    folder: str | None = None
    nprobe: int | None = None  # None: the library's calibrated default
    # Also search with the query rotated by 90/180/270 degrees and mirrored, keeping each
    # result's best score: finds rotated and mirrored copies at 8x the query's model cost.
    rotations: bool = False
    # Also search with the query "uncropped" (see :func:`uncropped`): finds the larger pictures
    # a crop was cut from, at 2x the query's model cost.
    crops: bool = False

    @property
    def variants(self) -> bool:
        """Whether the query is searched as several images (its vector alone is not enough)."""
        return self.rotations or self.crops


@dataclass(frozen=True)
class QueryFeatures:
    """What one query image is searched with."""

    vectors: np.ndarray  # [n, dim]: one per variant of the query
    # Brightness layouts of the variants when the query has no colour, else empty.
    layouts: tuple[bytes, ...] = ()


def dihedral_variants(image: Image.Image) -> list[Image.Image]:
    """The image under the 8 symmetries of a square: 4 rotations, each also mirrored."""
    from PIL import Image as PILImage

    rotations = [image] + [
        image.transpose(t)
        for t in (
            PILImage.Transpose.ROTATE_90,
            PILImage.Transpose.ROTATE_180,
            PILImage.Transpose.ROTATE_270,
        )
    ]
    return rotations + [r.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT) for r in rotations]


UNCROP_FACTOR = 1.4


def uncropped(image: Image.Image) -> Image.Image:
    """The image in the middle of a canvas 1.4 times its size, the border filled with the
    image's own mirror reflection.

    A crop seen by the model fills the whole frame, so its objects look larger than in the
    picture it was cut from and its features drift away from that picture's. Shrunk back into
    the middle of a plausible surrounding, it is seen at about the scale of the original:
    measured on 114 real photos cut to the middle 50% of each side among 7,036 images, the
    original is found first for 113 instead of 106, and crops to 70% are all still found first
    (``python -m benchmarks.quality``)."""
    from PIL import Image as PILImage

    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    pad_y = round(height * (UNCROP_FACTOR - 1) / 2)
    pad_x = round(width * (UNCROP_FACTOR - 1) / 2)
    padded = np.pad(pixels, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="symmetric")
    return PILImage.fromarray(padded)


def query_variants(image: Image.Image, options: SearchOptions) -> list[Image.Image]:
    """The images a query is searched as: itself, plus its orientations and uncropped views as
    the options ask."""
    images = dihedral_variants(image) if options.rotations else [image]
    if options.crops:
        images += [uncropped(i) for i in images]
    return images


class Searcher:
    """Searches one library with one loaded model; keep it alive to keep the model warm."""

    def __init__(self, library: Library, extractor: Extractor) -> None:
        self.library = library
        self.extractor = extractor

    def _check(self) -> None:
        if self.library.count() == 0:
            raise EmptyLibraryError(
                "The library is empty: index a folder first (image-finder-cli index FOLDER)."
            )
        self.library.check_model(self.extractor.name, self.extractor.dim)

    def embed_query(
        self, source: ImageSource, options: SearchOptions = SearchOptions()
    ) -> QueryFeatures:
        """The query's vectors: one, or one per variant the options ask for (8 with rotations,
        twice as many with crops), and its layouts if it has no colour. Raises ImageLoadError."""
        image = load_image(source, min_size=self.extractor.min_decode_size)
        images = query_variants(image, options)
        vectors = self.extractor.embed_tensors([self.extractor.preprocess(i) for i in images])
        layouts = tuple(layout.signature(i) for i in images) if layout.is_greyscale(image) else ()
        return QueryFeatures(vectors, layouts)

    def search_image(
        self, source: ImageSource, options: SearchOptions = SearchOptions()
    ) -> SearchOutcome:
        started = time.perf_counter()
        self._check()
        features = self.embed_query(source, options)
        outcome = self.search_vectors(features.vectors, options, features.layouts)
        outcome.query = describe_source(source)
        if isinstance(source, (str, os.PathLike)):
            outcome.query = os.path.abspath(os.fspath(source))
            _query_first(outcome)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def search_item(self, item_id: int, options: SearchOptions = SearchOptions()) -> SearchOutcome:
        """Search from an image already in the library, using its stored vector (no decoding)."""
        started = time.perf_counter()
        self._check()
        item = self.library.items([item_id]).get(item_id)
        if item is None:
            raise ImageFinderError(f"image {item_id} is no longer in the library")
        features = QueryFeatures(self.library.vectors([item_id]))
        if options.variants and os.path.exists(item.path):
            features = self.embed_query(item.path, options)
        outcome = self.search_vectors(features.vectors, options, features.layouts)
        outcome.query = item.path
        _query_first(outcome)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def search_vectors(
        self, vectors: np.ndarray, options: SearchOptions, layouts: Sequence[bytes] = ()
    ) -> SearchOutcome:
        """Rank the library against one or more query vectors (variants of one query). With
        ``layouts`` (a query with no colour), pictures with the same brightness layout come
        first."""
        restrict = None
        if options.folder:
            restrict = self.library.ids_under(options.folder)
            if not len(restrict):
                return SearchOutcome("", self.extractor.name)
        k = max(1, options.top_k, layout.SHORTLIST if layouts else 0)
        scores, ids = self.library.search(vectors, k, nprobe=options.nprobe, restrict_to=restrict)
        best: dict[int, float] = {}
        for row_scores, row_ids in zip(scores, ids, strict=True):
            for score, image_id in zip(row_scores, row_ids, strict=True):
                if image_id >= 0 and score > best.get(int(image_id), -2.0):
                    best[int(image_id)] = float(score)
        matched = self._grey_matches(best, layouts) if layouts else {}
        ranked = sorted(
            best.items(),
            key=lambda kv: (0, -matched[kv[0]]) if kv[0] in matched else (1, -kv[1]),
        )[: options.top_k]
        if options.min_score is not None:
            ranked = [(i, s) for i, s in ranked if s >= options.min_score or i in matched]
        items = self.library.items(i for i, _ in ranked)
        results = [
            SearchResult(rank, min(1.0, max(-1.0, score)), items[image_id], image_id in matched)
            for rank, (image_id, score) in enumerate(
                ((i, s) for i, s in ranked if i in items), start=1
            )
        ]
        return SearchOutcome("", self.extractor.name, results)

    def _grey_matches(
        self, candidates: Iterable[int], layouts: Sequence[bytes]
    ) -> dict[int, float]:
        """Candidates whose stored layout correlates with the query's at layout.MATCH or more,
        with that correlation."""
        stored = self.library.layouts(list(candidates))
        ids = list(stored)
        found = layout.correlations(layouts, [stored[i] for i in ids])
        return {i: float(c) for i, c in zip(ids, found, strict=True) if c >= layout.MATCH}


def _query_first(outcome: SearchOutcome) -> None:
    """When the query is itself in the library and ties for the best score (identical images),
    it is listed first."""
    results = outcome.results
    for n, result in enumerate(results[1:], start=1):
        if result.score < results[0].score - 1e-4:
            return
        if result.path == outcome.query:
            results.insert(0, results.pop(n))
            outcome.results = [
                dataclasses.replace(r, rank=rank) for rank, r in enumerate(results, start=1)
            ]
            return
