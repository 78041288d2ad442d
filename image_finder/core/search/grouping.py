"""Results that belong together shown as one: a file's parts (a video's moments, a document's
pages) at the best of them, and the slices of a medical series (the DICOM files sharing a
series UID) at the best slice, the others listed in it. The order is kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from image_finder.core.common.records import Item
    from image_finder.core.search.searcher import SearchResult

PART_ROOM = 4  # results fetched per result asked for, so that a file's parts can group


def group_key(item: Item, series: Mapping[int, str]) -> str | None:
    """What ``item`` groups by: its series, else its file when it is a part; None: alone."""
    if item.id in series:
        return "series:" + series[item.id]
    return "file:" + item.path if item.part is not None else None


def _order(pair: tuple[Item, float]) -> tuple[str, float]:
    item = pair[0]
    return (item.filename, item.part.at if item.part else 0.0)


def grouped(
    results: Sequence[SearchResult], series: Mapping[int, str] | None = None
) -> list[SearchResult]:
    """One result per group (see the module's notes), at its best member."""
    out: list[SearchResult] = []
    first: dict[str, int] = {}
    for result in results:
        key = group_key(result.item, series or {})
        if key is None:
            out.append(result)
            continue
        at = first.get(key)
        if at is None:
            first[key] = len(out)
            out.append(result)
        else:
            best = out[at]
            others = tuple(sorted((*best.others, (result.item, result.score)), key=_order))
            out[at] = dataclasses.replace(best, others=others)
    return out
