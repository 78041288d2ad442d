"""Duplicates among videos and documents: copies of one video, photos that are stills of a
video, and documents that are copies of one another (a re-exported PDF, a scan filed twice:
their pages are aligned in order as a video's moments are, page numbers for times).

*Same video*: each video's moments (their times and stored vectors) are aligned, as a clip's
are (core/search/clips.py: the order and spacing of the moments, not single frames), in every
video whose moments look like some of them. When ``SAME_VIDEO_SHARE`` of a video's moments
match another's in order, it is a copy of that one, or of a stretch of it (a trimmed copy):
re-encoded, resized, letterboxed or greyed copies keep their pictures close enough for the
model (a greyscale copy's moments also match by their brightness pattern). The pair
remembers the stretch of the other video the copy covers; byte-identical videos are
*identical*.

*A still from this video*: a photo whose features are those of one of a video's moments
(``clips.PHOTO_MATCH``), at that moment's time.

A video is one member of a group, named by its first moment's item; removing it takes the
file and all its moments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from image_finder.core.common.records import Item
from image_finder.core.search.clips import MATCH, PHOTO_MATCH, align

if TYPE_CHECKING:
    from image_finder.core.search.duplicates import Pairs
    from image_finder.core.stores.library import Library

SAME_VIDEO_SHARE = 0.8  # of a video's moments matched in order in another: a copy (vPDQ's 80%)
MIN_MATCHED = 2  # moments; a video of one moment is a copy when that one matches closely
NEIGHBOURS = 24  # index neighbours looked at per moment
STILL_NEIGHBOURS = 4
GREY_PATTERN = 0.9  # brightness-pattern correlation at which a grey moment matches


@dataclass
class _Video:
    path: str
    parts: list[Item]  # in time order

    @property
    def first(self) -> Item:
        return self.parts[0]

    @property
    def times(self) -> list[float]:
        return [_time(p) for p in self.parts]


def _time(item: Item) -> float:
    return item.part.at if item.part is not None else 0.0


def videos_of(library: Library, part_ids: np.ndarray) -> dict[str, _Video]:
    """The videos the moments ``part_ids`` belong to, each with all its moments."""
    by_path: dict[str, list[Item]] = defaultdict(list)
    for item in library.items(part_ids.tolist()).values():
        if item.part is not None and item.part.kind in ("time", "page"):  # not DICOM frames
            by_path[item.path].append(item)
    return {path: _Video(path, sorted(items, key=_time)) for path, items in by_path.items()}


def add_video_pairs(
    library: Library,
    pairs: Pairs,
    scope: np.ndarray,
    candidates: np.ndarray,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Pair each video with moments in ``scope`` with the videos among ``candidates``
    (moment ids) it is a copy of (see the module's notes)."""
    from image_finder.core.search.duplicates import Tier

    everyone = videos_of(library, np.union1d(scope, candidates))
    allowed = set(candidates.tolist())
    in_scope = set(scope.tolist())
    wanted = {v.path for v in everyone.values() if any(p.id in in_scope for p in v.parts)}
    owner = {p.id: v.path for v in everyone.values() for p in v.parts}
    for path in sorted(wanted):
        if cancelled is not None and cancelled():
            return
        video = everyone[path]
        ids = [p.id for p in video.parts]
        found_scores, found = library.vector_index.search(
            library.vectors(ids), NEIGHBOURS, restrict_to=candidates
        )
        others = {
            owner[int(j)]
            for row_ids, row_scores in zip(found, found_scores, strict=True)
            for j, s in zip(row_ids, row_scores, strict=True)
            if int(j) in allowed and s >= MATCH and owner.get(int(j), path) != path
        }
        if not others:
            continue
        mine = library.vectors(ids, original=True)
        paged = video.first.part is not None and video.first.part.kind == "page"
        length = len(video.parts) - 1 if paged else _length(video)  # its header read once
        for other_path in sorted(others):
            other = everyone[other_path]
            theirs = library.vectors([p.id for p in other.parts], original=True)
            similar = _grey_aware(library, video, other, mine @ theirs.T)
            covered = _covers(video.times, other.times, similar, length)
            if covered is None:
                continue
            start, end, share = covered
            if paged and len(video.parts) > 1:  # the pages covered, not an offset
                start, end = start + video.times[0], end + video.times[0]
            a, b = video.first, other.first
            tier = Tier.IDENTICAL if a.content_hash == b.content_hash else Tier.SAME_VIDEO
            pairs.add(a.id, b.id, tier, share)
            pairs.within[(a.id, b.id)] = (start, end)


def _grey_aware(library: Library, video: _Video, other: _Video, similar: np.ndarray) -> np.ndarray:
    """``similar`` (the moments' cosines), where a moment of ``video`` has no colour (a
    greyscale copy: the model's features drift with colour) and its brightness pattern is
    that of one of ``other``'s, raised to a match (the window's black-and-white copies)."""
    from image_finder.core.pictures import layout

    mine = library.layouts([p.id for p in video.parts])
    grey = [n for n, p in enumerate(video.parts) if layout.colourless(mine.get(p.id, b""))]
    if not grey:
        return similar
    theirs = library.layouts([p.id for p in other.parts])
    known = [n for n, p in enumerate(other.parts) if p.id in theirs]
    if not known:
        return similar
    patterns = layout.correlation_matrix([mine[video.parts[n].id] for n in grey],
                                         [theirs[other.parts[n].id] for n in known])  # fmt: skip
    raised: np.ndarray = similar.copy()
    for row, n in enumerate(grey):
        for col, m in enumerate(known):
            if patterns[row, col] >= GREY_PATTERN:
                raised[n, m] = max(raised[n, m], MATCH)
    return raised


def _length(video: _Video) -> float:
    """The video's length as its file says (no frame decoded), else its last moment's time."""
    from image_finder.core.common.errors import ImageLoadError
    from image_finder.core.pictures.video import probe

    try:
        return probe(video.path).duration or video.times[-1]
    except ImageLoadError:
        return video.times[-1]


def _covers(
    times: list[float], starts: list[float], similar: np.ndarray, length: float
) -> tuple[float, float, float] | None:
    """Where a video ``length`` seconds long with moments at ``times`` is found in another
    (its moments at ``starts``): (from, to, the share of the moments matched there), when it
    is a copy."""
    if len(times) == 1:
        best = int(np.argmax(similar[0]))
        if similar[0, best] < PHOTO_MATCH:
            return None
        return starts[best], starts[best] + length, float(similar[0, best])
    found = align(times, starts, similar)
    if found is None:
        return None
    offset, matched, _ = found
    share = matched / len(times)
    if matched < MIN_MATCHED or share < SAME_VIDEO_SHARE:
        return None
    return max(0.0, offset), offset + length, share


def add_still_pairs(
    library: Library, pairs: Pairs, photos: np.ndarray, moments: np.ndarray
) -> None:
    """Pair each photo of ``photos`` that is a frame of a video (one of ``moments``, their
    ids) with that video, at the moment's time."""
    from image_finder.core.search.duplicates import BATCH, Tier

    if not len(photos) or not len(moments):
        return
    for start in range(0, len(photos), BATCH):
        ids = photos[start : start + BATCH]
        scores, found = library.vector_index.search(
            library.vectors(ids.tolist()), STILL_NEIGHBOURS, restrict_to=moments
        )
        hits = [
            (int(a), int(row_ids[0]), float(row_scores[0]))
            for a, row_ids, row_scores in zip(ids, found, scores, strict=True)
            if row_ids[0] >= 0 and row_scores[0] >= PHOTO_MATCH
        ]
        if not hits:
            continue
        items = library.items({b for _, b, _ in hits})
        originals = library.vectors([a for a, _, _ in hits], original=True)
        theirs = library.vectors([b for _, b, _ in hits], original=True)
        for (a, b, _), mine, other in zip(hits, originals, theirs, strict=True):
            score = float(mine @ other)
            moment = items.get(b)
            if moment is None or moment.part is None or moment.part.kind != "time":
                continue
            if score < PHOTO_MATCH:
                continue
            first = min(library.file_items(moment.path), key=_time)
            pairs.add(a, first.id, Tier.STILL, score)
            pairs.within[(a, first.id)] = (moment.part.at, moment.part.at)
