"""A clip as the query: the library's videos that contain it, each with the stretch it covers,
and the photos that are frames of it.

The clip's moments are taken densely (one every ``QUERY_EVERY`` seconds, and at each cut).
A library video is known by its own moments, each standing for its video from its time to the
next moment's. So a clip that starts ``offset`` seconds into a video has, for each of its
moments at time ``t``, the library moment in force at ``offset + t``: the clip is aligned as a
sequence (its moments in their order, at their spacing), not frame by frame. For each
candidate video every offset its moments suggest is tried, and the one under which the
clip's moments look most like the video's moments in force (their summed cosine), with a
bonus for each of the clip's cuts that lands on one of the video's, wins. The score is the
share of the clip's moments that match there: 1.0 when the whole clip is in the video.

A copy re-encoded, resized, letterboxed, greyed or with a logo keeps its pictures close
enough for the model (``MATCH``); the alignment does the rest.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import Item, item_json
from image_finder.core.pictures.video import MomentRule, moments, probe
from image_finder.core.stores.store import Store, require_library

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor

QUERY_EVERY = 2.0  # s: a clip's moments are taken at least this often
MATCH = 0.75  # cosine: a clip's moment and a video's look alike (re-encoded, greyed, boxed…)
PHOTO_MATCH = 0.85  # cosine: a photo is a frame of the clip
SLACK = 0.25  # s: a clip's moment may fall this much before its video moment's time (a frame or so)
EXACT = 0.5  # s: a clip's moment this close to a video moment's time lands on it
LANDING = 0.5  # what a landing adds to an offset's fit: cuts in step place the clip exactly
HITS = 50  # index neighbours looked at per clip moment
MIN_SHARE = 0.3  # videos matching less of the clip are not listed


@dataclass(frozen=True)
class ClipMatch:
    """A video that holds the clip: from where to where, and how much of the clip matched."""

    item: Item  # the video's moment where the match starts
    start: float  # seconds into the video
    end: float
    score: float  # the share of the clip's moments matched there
    matched: int

    def to_json(self) -> dict[str, Any]:
        return {
            **item_json(self.item),
            "score": round(self.score, 4),
            "from": round(self.start, 2),
            "to": round(self.end, 2),
            "matched": self.matched,
        }


@dataclass
class ClipOutcome:
    query: str
    seconds: float  # the clip's length
    moments: int  # the clip's moments searched with
    videos: list[ClipMatch] = field(default_factory=list)
    photos: list[tuple[Item, float]] = field(default_factory=list)  # frames of the clip
    took: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "clip_seconds": round(self.seconds, 2),
            "clip_moments": self.moments,
            "videos": [v.to_json() for v in self.videos],
            "photos": [{**item_json(i), "score": round(s, 4)} for i, s in self.photos],
            "seconds": round(self.took, 4),
        }


def clip_vectors(
    path: str | os.PathLike[str],
    extractor: Extractor,
    *,
    time_limit: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[list[float], np.ndarray, float]:
    """The clip's moments (their times and vectors) and its length."""
    rule = MomentRule(every=QUERY_EVERY, min_gap=0.5)
    found = list(moments(path, rule, time_limit=time_limit, cancelled=cancelled))
    vectors = extractor.embed_images([m.image for m in found])
    length = probe(path).duration or (found[-1].seconds if found else 0.0)
    return [m.seconds for m in found], np.asarray(vectors, np.float32), length


def search_clip(
    store: Store,
    extractor: Extractor,
    path: str | os.PathLike[str],
    *,
    top_k: int = 12,
    time_limit: float | None = None,
) -> ClipOutcome:
    """The videos holding the clip at ``path``, best first, and the photos that are frames of
    it (see the module's notes)."""
    library = require_library(store, "Searching with a clip")
    started = time.perf_counter()
    times, vectors, length = clip_vectors(path, extractor, time_limit=time_limit)
    outcome = ClipOutcome(os.fspath(path), length, len(times))
    if not len(times):
        raise ImageFinderError("no picture could be taken from the clip")
    vectors = library.searched(vectors)  # as the index holds them (through an adapter)
    scores, ids = library.vector_index.search(vectors, HITS)
    hit_ids = sorted({int(i) for i in ids.ravel() if i >= 0})
    items = library.items(hit_ids)
    videos: set[str] = set()
    photos: dict[int, float] = defaultdict(float)
    for row_scores, row_ids in zip(scores, ids, strict=True):
        for score, image_id in zip(row_scores, row_ids, strict=True):
            item = items.get(int(image_id))
            if item is None or score < MATCH:
                continue
            if item.part is not None:
                videos.add(item.path)
            elif score >= PHOTO_MATCH:
                photos[item.id] = max(photos[item.id], float(score))
    for video in videos:
        match = _align(library, video, times, vectors, length)
        if match is not None and match.score >= MIN_SHARE:
            outcome.videos.append(match)
    outcome.videos.sort(key=lambda m: (-m.score, m.item.path))
    outcome.videos = outcome.videos[:top_k]
    best = sorted(photos.items(), key=lambda p: -p[1])[:top_k]
    found = library.items(i for i, _ in best)
    outcome.photos = [(found[i], s) for i, s in best if i in found]
    outcome.took = time.perf_counter() - started
    return outcome


def _align(
    library: Any, video: str, times: Sequence[float], vectors: np.ndarray, length: float
) -> ClipMatch | None:
    """The offset into ``video`` under which the most of the clip's moments match the
    video's moment in force, and that match."""
    parts = [i for i in library.file_items(video) if i.part is not None]
    if not parts:
        return None
    similar = vectors @ library.searched(library.vectors([p.id for p in parts])).T
    found = align(times, [p.part.at for p in parts], similar)
    if found is None:
        return None
    offset, matched, first = found
    start = max(0.0, offset)
    return ClipMatch(parts[first], start, offset + length, matched / len(times), matched)


def align(
    times: Sequence[float], starts: Sequence[float], similar: np.ndarray
) -> tuple[float, int, int] | None:
    """Where a sequence of moments at ``times`` sits in a video whose moments start at
    ``starts`` (``similar``: their cosines, one row per moment of the sequence): the offset
    into the video, how many of the sequence's moments match there, and the index of the
    video's moment in force where it starts. None when no offset matches any."""
    offsets = {
        starts[int(j)] - t for i, t in enumerate(times) for j in np.flatnonzero(similar[i] >= MATCH)
    }
    # the fit (summed likeness to the moments in force, and a bonus for each moment landing
    # on a video moment's own time: a cut in both), those landings, moments matched, offset
    best: tuple[float, int, int, float] | None = None
    for offset in sorted(offsets):
        matched, exact, total = 0, 0, 0.0
        for i, t in enumerate(times):
            j = bisect.bisect_right(starts, offset + t + SLACK) - 1
            if j < 0:
                continue
            total += max(0.0, float(similar[i, j]))
            if similar[i, j] >= MATCH:
                matched += 1
                exact += abs(starts[j] - offset - t) <= EXACT
        fit = total + LANDING * exact
        if matched and (best is None or fit > best[0] + 1e-6):
            best = (fit, exact, matched, offset)
    if best is None:
        return None
    _, _, matched, offset = best
    first = max(0, bisect.bisect_right(starts, max(0.0, offset) + SLACK) - 1)
    return offset, matched, first
