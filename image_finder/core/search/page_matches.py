"""The page a query is a photo of (core/pictures/page_print.py): among the pages the model
takes the query for, the one whose print correlates best with the query's."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from image_finder.core.pictures import page_print

if TYPE_CHECKING:
    from image_finder.core.stores.store import Store

_lock = threading.Lock()
_pages: dict[int, tuple[tuple[int, str], np.ndarray]] = {}  # id(store) -> (version, page ids)


def _page_ids(store: Store) -> np.ndarray:
    """The store's pages with a print, read again only when its items or facts change."""
    generation = (store.generation, store.meta_value("facts_stamp") or "")
    with _lock:
        known = _pages.get(id(store))
        if known is not None and known[0] == generation:
            return known[1]
    ids = store.page_ids()
    with _lock:
        _pages[id(store)] = (generation, ids)
    return ids


def page_match(
    store: Store,
    vector: np.ndarray,
    query_print: bytes,
    shortlist: dict[int, float],
    restrict: np.ndarray | None,
) -> tuple[int, float] | None:
    """(id, the model's score) of the page ``query_print`` is of, or None: when no page of
    ``shortlist`` (the search's own results, id -> score) reaches page_print.MODEL_FLOOR, the
    query is not taken for a page and no more is looked at."""
    if not query_print:
        return None
    pages = _page_ids(store)
    near_pages = np.intersect1d(pages, np.fromiter(shortlist, np.int64, len(shortlist)))
    if not any(shortlist[int(i)] >= page_print.MODEL_FLOOR for i in near_pages):
        return None
    allowed = pages if restrict is None else np.intersect1d(pages, restrict)
    scores, ids = store.vector_index.search(
        vector[None, :], page_print.SHORTLIST, restrict_to=allowed
    )
    near = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True)
            if i >= 0 and s >= page_print.MODEL_FLOOR}  # fmt: skip
    prints = store.page_prints(list(near))
    if not prints:
        return None
    found = list(prints)
    likeness = page_print.correlations(query_print, [prints[i] for i in found])
    best = int(np.argmax(likeness))
    if likeness[best] < page_print.PRINT_FLOOR:
        return None
    return found[best], near[found[best]]
