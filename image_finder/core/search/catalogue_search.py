"""Searching a catalogue (core/stores/catalogue.py) by image or by one of its items, with the same
result objects, and so the same JSON, as a library's search."""

from __future__ import annotations

import os
import time

import numpy as np

from image_finder.core.common.errors import EmptyLibraryError, ImageFinderError
from image_finder.core.embedding.extractor import Extractor
from image_finder.core.pictures.scanning import file_hash
from image_finder.core.search.searcher import (
    SAME_PICTURE_SCORE,
    MatchKind,
    SearchOptions,
    SearchOutcome,
    SearchResult,
    shown_score,
)
from image_finder.core.stores.catalogue import Catalogue


def search_catalogue(
    catalogue: Catalogue,
    extractor: Extractor,
    image: str,
    options: SearchOptions | None = None,
) -> SearchOutcome:
    """The catalogue's images most like the picture at ``image`` (a file, or one of the
    catalogue's own), best first. Raises ImageLoadError for a file that cannot be read."""
    started = time.perf_counter()
    options = options or SearchOptions()
    if catalogue.count() == 0:
        raise EmptyLibraryError(f"The catalogue {catalogue.address.text} holds no images yet.")
    catalogue.check_model(extractor.name, extractor.dim)
    stored = catalogue.item_by_path(image)
    if stored is not None and not os.path.exists(image):
        vector = catalogue.vectors([stored.id])  # offline: its stored vector is enough
    else:
        vector = extractor.embed_images([image])
    digest = _digest(image)
    found = catalogue.search(vector, max(1, options.top_k), folder=options.folder)[0]
    items = catalogue.items(i for i, _ in found)
    results: list[SearchResult] = []
    for image_id, score in found:
        item = items.get(image_id)
        if item is None or (options.min_score is not None and
                            shown_score(score) < options.min_score):  # fmt: skip
            continue
        if item.path == os.path.abspath(image):
            match = MatchKind.QUERY
        elif digest is not None and item.content_hash == digest:
            match = MatchKind.IDENTICAL
        elif score >= SAME_PICTURE_SCORE:
            match = MatchKind.SAME_PICTURE
        else:
            match = MatchKind.NONE
        score = float(np.clip(score, -1.0, 1.0))
        results.append(SearchResult(len(results) + 1, score, item, match=match))
    outcome = SearchOutcome(image, extractor.name, results)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _digest(path: str) -> str | None:
    try:
        return file_hash(path)
    except (OSError, ImageFinderError):
        return None
