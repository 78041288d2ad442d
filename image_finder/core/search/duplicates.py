"""Duplicate and near-duplicate pictures, grouped from the stored vectors (no image decoded).

Every image in scope asks the library's vector index for its nearest neighbours, in batches;
pairs above the threshold are joined into groups (union-find). Byte-identical files are paired
by content hash as well, so no k-NN miss can split them. Each pair, and so each group, gets a
tier:

* *identical*: the same content hash;
* *same picture*: a resized, re-encoded, re-saved or metadata-edited copy: a score of at least
  ``SAME_SCORE``, the same brightness layout and the same colours (core/pictures/layout.py), which a
  different photo of the same subject, or a recoloured variant, does not have
  (``benchmarks/duplicates.py``); or two scans of one page, which say the same words in the
  same places (core/search/text_copies.py);
* *similar*: bursts and edits, at or above the user's threshold;
* for videos (core/search/video_copies.py): *same video*, a re-encoded, resized or trimmed
  copy (its moments aligned in order with another's), and *a still from this video*, a photo
  that is one of a video's frames. Each such copy says the stretch of the other it covers.

A group's tier is the weakest tier of the pairs that hold it together. With reference folders,
pairs between two reference images are not listed, a group must hold an image outside them,
and reference images are kept: they are never proposed for removal.

Memory stays bounded by the pairs found: the vectors are read in chunks, as the index is.
"""

from __future__ import annotations

import enum
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.paths import inside
from image_finder.core.common.records import Item, Part, display_name, item_json
from image_finder.core.learning import concepts
from image_finder.core.pictures import layout
from image_finder.core.pictures.images import RAW_EXTENSIONS
from image_finder.core.search.conditions import Conditions, FactCache
from image_finder.core.stores.store import Store, require_library

log = logging.getLogger(__name__)

# The tiers' thresholds and the measurements behind them: docs/decisions/duplicate-tiers.md.
SAME_SCORE = 0.70
SAME_LAYOUT = 0.99
DEFAULT_THRESHOLD = 0.92  # similar: bursts, edits, crops of the same scene
NEIGHBOURS = 16  # asked per image; larger groups are joined through their members
BATCH = 512
# Regions of an IVF index searched per image (docs/decisions/duplicate-tiers.md).
NPROBE = 4


class Tier(enum.IntEnum):
    """Weakest to strongest, so that tiers compare."""

    SIMILAR = 1
    STILL = 2  # a photo that is a frame of a video: a picture of its own, never removed unasked
    SAME = 3
    SAME_VIDEO = 4
    IDENTICAL = 5

    @property
    def label(self) -> str:
        """The tier's name in options and JSON."""
        return _LABELS[self][0]

    @property
    def title(self) -> str:
        """The tier in words, as people read it."""
        return _LABELS[self][1]

    def label_for(self, item: Item) -> str:
        """The tier's name for ``item``: a document's copy is the "same-document"."""
        return "same-document" if self is Tier.SAME_VIDEO and _paged(item) else self.label

    def title_for(self, item: Item) -> str:
        return "same document" if self is Tier.SAME_VIDEO and _paged(item) else self.title

    @classmethod
    def named(cls, name: str) -> Tier:
        if name == "same-document":  # the same tier as a video's copies
            return cls.SAME_VIDEO
        for tier in cls:
            if tier.label == name:
                return tier
        raise ImageFinderError(
            f"unknown tier {name!r} (identical, same-video, same-document, same, still or similar)"
        )


def _paged(item: Item) -> bool:
    return item.part is not None and item.part.kind == "page"


_LABELS = {
    Tier.SIMILAR: ("similar", "similar"),
    Tier.STILL: ("still", "a still from the video"),
    Tier.SAME: ("same", "same picture"),
    Tier.SAME_VIDEO: ("same-video", "same video"),
    Tier.IDENTICAL: ("identical", "identical"),
}


class KeepRule(enum.Enum):
    """What makes the copy to keep. Combined in order: the first rule that tells wins."""

    REFERENCE = "in a reference folder"
    ORIGINAL_FORMAT = "original format (camera RAW, then JPEG/HEIC, before re-saves)"
    RESOLUTION = "highest resolution"
    FILE_SIZE = "largest file"
    OLDEST = "oldest"


# "Largest file" rewards re-encoding (a PNG made from a JPEG is larger): by default the copy in
# the format a camera writes is kept, then the largest picture, then the oldest file.
DEFAULT_RULES = (KeepRule.REFERENCE, KeepRule.ORIGINAL_FORMAT, KeepRule.RESOLUTION, KeepRule.OLDEST)
SIMILAR_FLOOR = 0.80  # the lowest "similar" threshold offered: below it, pictures differ

# Formats cameras and phones write come first; formats pictures are re-saved or converted in
# come after. A lower rank is more likely the original.
_FORMAT_RANK = {
    **dict.fromkeys(RAW_EXTENSIONS, 0),
    **dict.fromkeys((".jpg", ".jpeg", ".heic", ".heif", ".avif"), 1),
    # the containers cameras and phones record videos in
    **dict.fromkeys((".mov", ".mp4", ".m4v", ".mts", ".m2ts", ".3gp"), 1),
}
_OTHER_FORMAT = 2


def format_rank(path: str) -> int:
    """0 for camera RAW, 1 for the formats cameras and phones write, 2 for the rest."""
    return _FORMAT_RANK.get(os.path.splitext(path)[1].lower(), _OTHER_FORMAT)


@dataclass
class DuplicateGroup:
    tier: Tier
    score: float  # the weakest pair score holding the group together
    items: list[Item]
    keep: Item  # the suggested keeper
    reference_ids: frozenset[int] = frozenset()
    # each other copy's relation to the keeper: (tier, score)
    relations: dict[int, tuple[Tier, float]] = field(default_factory=dict)
    # a video copy's stretch of the keeper (from, to, in seconds); a still's time (at, at)
    spans: dict[int, tuple[float, float]] = field(default_factory=dict)

    def relation(self, item: Item) -> tuple[Tier, float]:
        """How ``item`` relates to the keeper (the keeper itself is identical, 1.0)."""
        if item.id == self.keep.id:
            return Tier.IDENTICAL, 1.0
        return self.relations.get(item.id, (self.tier, self.score))

    def where(self, item: Item) -> str:
        """Where in the keeper (a video) ``item`` is, in words: " at 0:12" for a still,
        " of 0:03–0:09" for a copy of a stretch; "" for the rest."""
        span = self.spans.get(item.id)
        if span is None:
            return ""
        if self.relation(item)[0] is Tier.STILL:
            return f" at {Part.time(span[0]).label}"
        if _paged(self.keep):
            first, last = round(span[0]), round(span[1])
            return f" of p. {first}" if first == last else f" of pp. {first}–{last}"
        return f" of {Part.time(span[0]).label}–{Part.time(span[1]).label}"

    @property
    def removable(self) -> list[Item]:
        """What removal would take by default: the copies of the keeper (identical or the same
        picture, the same video), not the reference images, and not those only *similar* to
        it (bursts and crops are different pictures) or stills of it (a photo taken from a
        video is kept as a photo)."""
        return [
            i
            for i in self.items
            if i.id != self.keep.id
            and i.id not in self.reference_ids
            and self.relation(i)[0] > Tier.STILL
        ]

    @property
    def reclaimable(self) -> int:
        return sum(i.size for i in self.removable)

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier.label,
            "score": round(self.score, 4),
            "keep": display_name(self.keep.path),
            "items": [
                {
                    **item_json(i),
                    "reference": i.id in self.reference_ids,
                    "match": "keep" if i.id == self.keep.id else self.relation(i)[0].label_for(i),
                    "score": round(self.relation(i)[1], 4),
                    **_span_json(self.spans.get(i.id), self.relation(i)[0]),
                }
                for i in self.items
            ],
        }


def _span_json(span: tuple[float, float] | None, tier: Tier) -> dict[str, Any]:
    if span is None:
        return {}
    if tier is Tier.STILL:
        return {"at": round(span[0], 2)}
    return {"covers": {"from": round(span[0], 2), "to": round(span[1], 2)}}


@dataclass
class Pairs:
    """Pairs found, the strongest of each: (a, b) with a < b -> (tier, score); and for
    videos, (copy, other) -> the stretch of the other the copy covers (from, to)."""

    found: dict[tuple[int, int], tuple[Tier, float]] = field(default_factory=dict)
    within: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)

    def add(self, a: int, b: int, tier: Tier, score: float) -> None:
        key = (a, b) if a < b else (b, a)
        old = self.found.get(key)
        if old is None or (tier, score) > old:
            self.found[key] = (tier, score)


ProgressCallback = Callable[[int, int], None]


def find_duplicates(
    store: Store,
    folders: Sequence[str] = (),
    *,
    reference: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    min_tier: Tier = Tier.SIMILAR,
    rules: Sequence[KeepRule] = DEFAULT_RULES,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    conditions: Conditions | None = None,
) -> list[DuplicateGroup]:
    """Groups of duplicates among ``folders`` (default: the whole library), or among
    ``folders`` and against ``reference`` folders; with ``conditions``, among the images that
    meet them (this year's photos, say). Largest space to reclaim first."""
    pairs = find_pairs(store, folders, reference=reference, threshold=threshold,
                       progress=progress, cancelled=cancelled, conditions=conditions)  # fmt: skip
    ref_ids = frozenset(_ids_under(store, reference))
    return group_pairs(store, pairs, min_tier=min_tier, rules=rules, reference_ids=ref_ids)


def find_pairs(
    store: Store,
    folders: Sequence[str] = (),
    *,
    reference: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    nprobe: int | None = NPROBE,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    conditions: Conditions | None = None,
) -> Pairs:
    """Every pair of images in scope at or above ``threshold``, with its tier (``nprobe``:
    IVF regions searched per image; None: the library's calibrated default)."""
    for folder in [*folders, *reference]:
        if not _known_folder(store, folder):
            raise ImageFinderError(f"{display_name(folder)} is not in the library")
    scope = _ids_under(store, folders) if folders else None
    if conditions:
        kept = require_library(store, "A condition other than a folder")
        matching = FactCache().matching(kept, conditions)
        if conditions.concept:
            concept = concepts.require(kept, conditions.concept)
            matching = np.intersect1d(matching, concepts.members(kept, concept))
        scope = matching if scope is None else np.intersect1d(scope, matching)
    ref_ids = _ids_under(store, reference)
    if reference and scope is None:  # the library against its reference folders
        scope = np.setdiff1d(_all_ids(store), ref_ids)
    candidates = None if scope is None else np.union1d(scope, ref_ids)
    queries = _all_ids(store) if scope is None else scope
    moments = store.part_ids()  # a video's moments: whole videos are paired apart
    video_scope, video_candidates = _moments_apart(store, moments, queries, candidates)
    if len(moments):
        queries = np.setdiff1d(queries, moments)
        candidates = np.setdiff1d(_all_ids(store) if candidates is None else candidates, moments)
    ref_set = set(ref_ids.tolist())
    pairs = Pairs()
    done = 0
    for start in range(0, len(queries), BATCH):
        if cancelled is not None and cancelled():
            break
        ids = queries[start : start + BATCH]
        scores, found = store.vector_index.search(
            store.vectors(ids.tolist()), NEIGHBOURS + 1, nprobe=nprobe, restrict_to=candidates
        )
        if store.active_adapter is not None:
            scores = _original_scores(store, ids, found)
        close = [
            (int(a), int(b), float(s))
            for a, row_ids, row_scores in zip(ids, found, scores, strict=True)
            for b, s in zip(row_ids, row_scores, strict=True)
            if b >= 0 and b != a and s >= min(threshold, SAME_SCORE)
            and not (a in ref_set and b in ref_set)
        ]  # fmt: skip
        _add_close(store, pairs, close, threshold)
        done += len(ids)
        if progress is not None:
            progress(done, len(queries))
    _add_identical(store, pairs, queries, candidates, ref_set)
    _add_texts(store, pairs, queries, candidates, ref_set)
    if len(moments):
        _add_videos(store, pairs, video_scope, video_candidates, queries, cancelled)
    return pairs


def _moments_apart(
    store: Store, moments: np.ndarray, queries: np.ndarray, candidates: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The moments among the queries, and among the candidates."""
    if not len(moments):
        return moments, moments
    if candidates is None:
        return np.intersect1d(queries, moments), moments
    return np.intersect1d(queries, moments), np.intersect1d(candidates, moments)


def _add_videos(
    store: Store,
    pairs: Pairs,
    scope: np.ndarray,
    candidates: np.ndarray,
    photos: np.ndarray,
    cancelled: Callable[[], bool] | None,
) -> None:
    """The video tiers: copies of a video, and photos that are stills of one."""
    library = store.as_library()
    if library is None or (cancelled is not None and cancelled()):
        return
    from image_finder.core.search import video_copies

    video_copies.add_video_pairs(library, pairs, scope, candidates, cancelled)
    video_copies.add_still_pairs(library, pairs, photos, candidates)


def _add_texts(
    store: Store,
    pairs: Pairs,
    queries: np.ndarray,
    candidates: np.ndarray | None,
    ref_set: set[int],
) -> None:
    """Scans of one page, told by the words they say (core/search/text_copies.py)."""
    library = store.as_library()
    if library is not None and library.side_data.has_texts():
        from image_finder.core.search.text_copies import add_text_pairs

        add_text_pairs(library, pairs, queries, candidates, ref_set)


def _original_scores(store: Store, ids: np.ndarray, found: np.ndarray) -> np.ndarray:
    """The neighbours' scores on the model's own vectors: an adapter pulls pictures of one
    label together, and copies are told by the features they were measured on."""
    known = np.unique(found[found >= 0])
    where = {int(i): n for n, i in enumerate(known)}
    queries = store.vectors(ids.tolist(), original=True)
    others = store.vectors(known.tolist(), original=True)
    scores = np.full(found.shape, -2.0, np.float32)
    for row, (query, row_ids) in enumerate(zip(queries, found, strict=True)):
        hits = row_ids >= 0
        scores[row, hits] = others[[where[int(i)] for i in row_ids[hits]]] @ query
    return scores


def _add_close(
    store: Store, pairs: Pairs, close: list[tuple[int, int, float]], threshold: float
) -> None:
    """Tier the close pairs of one batch: hash, then layout for the high scores."""
    if not close:
        return
    ids = sorted({i for a, b, _ in close for i in (a, b)})
    items = store.items(ids)
    layouts = store.layouts([i for a, b, s in close if s >= SAME_SCORE for i in (a, b)])
    for a, b, score in close:
        if a not in items or b not in items:
            continue
        if items[a].content_hash == items[b].content_hash:
            pairs.add(a, b, Tier.IDENTICAL, score)
        elif (
            score >= SAME_SCORE
            and a in layouts
            and b in layouts
            and _same_layout(layouts[a], layouts[b])
        ):
            pairs.add(a, b, Tier.SAME, score)
        elif score >= threshold:
            pairs.add(a, b, Tier.SIMILAR, score)


def _same_layout(a: bytes, b: bytes) -> bool:
    return layout.same_colours(a, b) and bool(layout.correlations([a], [b])[0] >= SAME_LAYOUT)


def _add_identical(
    store: Store,
    pairs: Pairs,
    queries: np.ndarray,
    candidates: np.ndarray | None,
    ref_set: set[int],
) -> None:
    """Byte-identical files by content hash, whatever the index returned."""
    allowed = None if candidates is None else set(candidates.tolist())
    wanted = set(queries.tolist())
    for ids in store.same_content_groups():
        members = [i for i in ids if allowed is None or i in allowed]
        for a in members:
            for b in members:
                if a < b and (a in wanted or b in wanted) and not (a in ref_set and b in ref_set):
                    pairs.add(a, b, Tier.IDENTICAL, 1.0)


def group_pairs(
    store: Store,
    pairs: Pairs,
    *,
    min_tier: Tier = Tier.SIMILAR,
    threshold: float = 0.0,
    rules: Sequence[KeepRule] = DEFAULT_RULES,
    reference_ids: frozenset[int] = frozenset(),
) -> list[DuplicateGroup]:
    """Join the pairs of at least ``min_tier`` (and ``threshold``) into groups. Cheap: the
    window regroups with this when the threshold slider moves."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    kept = [(a, b, t, s) for (a, b), (t, s) in pairs.found.items()
            if t >= min_tier and (t > Tier.SIMILAR or s >= threshold)]  # fmt: skip
    for a, b, _, _ in kept:
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in list(parent):
        members[root(i)].append(i)
    weakest: dict[int, tuple[Tier, float]] = {}
    for a, _, tier, score in kept:
        r = root(a)
        weakest[r] = min(weakest.get(r, (Tier.IDENTICAL, 1.0)), (tier, score))
    items = store.items(i for ids in members.values() for i in ids)
    groups = []
    for r, ids in members.items():
        # in path order, whatever the store numbers them by
        present = sorted((items[i] for i in ids if i in items), key=lambda item: item.path)
        if len(present) < 2 or all(i.id in reference_ids for i in present):
            continue
        tier, score = weakest[r]
        covered = {a for a, b in pairs.within if a in ids and (b, a) not in pairs.within}
        keep = choose_keeper(present, rules, reference_ids, covered)
        relations = _relations(store, pairs, keep, present)
        spans = {a: span for (a, b), span in pairs.within.items() if b == keep.id}
        groups.append(DuplicateGroup(tier, score, present, keep, reference_ids, relations, spans))
    groups.sort(key=lambda g: (-g.reclaimable, -len(g.items), g.keep.path))
    return groups


def _relations(
    store: Store, pairs: Pairs, keep: Item, items: Sequence[Item]
) -> dict[int, tuple[Tier, float]]:
    """Each copy's relation to the keeper: the pair found between them, else (joined through
    another member) identical for the same bytes, or similar at their vectors' score."""
    others = [i for i in items if i.id != keep.id]
    unpaired = [i for i in others if _key(i.id, keep.id) not in pairs.found]
    scores: dict[int, float] = {}
    if unpaired:
        vectors = store.vectors([keep.id, *(i.id for i in unpaired)], original=True)
        scores = {i.id: float(vectors[0] @ v) for i, v in zip(unpaired, vectors[1:], strict=True)}
    out = {}
    for item in others:
        found = pairs.found.get(_key(item.id, keep.id))
        if found is not None:
            out[item.id] = found
        elif item.content_hash == keep.content_hash:
            out[item.id] = (Tier.IDENTICAL, 1.0)
        else:
            out[item.id] = (Tier.SIMILAR, scores[item.id])
    return out


def _key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def choose_keeper(
    items: Sequence[Item],
    rules: Sequence[KeepRule],
    reference_ids: Iterable[int] = (),
    covered: Iterable[int] = (),
) -> Item:
    """The copy to keep by ``rules`` in order; ties go to the shortest path. A video comes
    before its stills, and a whole video before a trimmed copy (``covered``: the ids of the
    videos that are a stretch of another)."""
    refs, trimmed = set(reference_ids), set(covered)

    def key(item: Item) -> tuple[Any, ...]:
        parts: list[Any] = [item.part is None, item.id in trimmed]
        for rule in rules:
            if rule is KeepRule.REFERENCE:
                parts.append(0 if item.id in refs else 1)
            elif rule is KeepRule.ORIGINAL_FORMAT:
                parts.append(format_rank(item.path))
            elif rule is KeepRule.RESOLUTION:
                parts.append(-((item.width or 0) * (item.height or 0)))
            elif rule is KeepRule.FILE_SIZE:
                parts.append(-item.size)
            elif rule is KeepRule.OLDEST:
                parts.append(item.mtime_ns)
        return (*parts, len(item.path), item.path)

    return min(items, key=key)


def _known_folder(store: Store, folder: str) -> bool:
    path = os.path.abspath(folder)
    return any(inside(path, f.path) for f in store.folders())


def _ids_under(store: Store, folders: Iterable[str]) -> np.ndarray:
    found = [store.ids_under(f) for f in folders]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


def _all_ids(store: Store) -> np.ndarray:
    return _ids_under(store, [f.path for f in store.folders()])
