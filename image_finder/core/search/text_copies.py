"""Duplicates by what pictures say: two scans (or photos) of one document page group as the
*same picture* when they say the same words in the same places, however their light, skew
and paper differ. The model cannot tell one text page from the next (every page of text
looks alike to it), and the brightness layout moves with the light; the words do not.

Candidates come from the text itself, not from the vector index: each picture whose text
was read (core/indexing/texts.py) and holds ``MIN_WORDS`` words or more is sketched by the
``SKETCH`` smallest hashes of its words (a min-hash sketch); pictures sharing one of them are
compared whole. A pair is the same page when ``SAME_WORDS`` of the words (counted with their
repetitions) are found in both, and the lines both read alike lie in the same places (the
median distance of their centres within ``SAME_PLACE`` of the picture's size); without
places (a text layer's words) the words alone must agree to ``SAME_WORDS_ALONE``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from image_finder.core.search.duplicates import Pairs
    from image_finder.core.stores.library import Library

MIN_WORDS = 20  # a picture saying fewer is not told apart by its words
SKETCH = 8  # hashes kept per picture to find candidates
CROWD = 64  # a hash shared by more pictures than this (a letterhead) proposes no pairs
SAME_WORDS = 0.8  # share of the words both say (OCR misreads a word here and there)
SAME_WORDS_ALONE = 0.9
SAME_PLACE = 0.05  # median distance of the matching lines' centres, as a share of the picture
_WORD = re.compile(r"\w{2,}")


class _Said:
    """One picture's words and where its lines lie."""

    def __init__(self, text: str, lines_json: str) -> None:
        self.words = Counter(w.lower() for w in _WORD.findall(text))
        self.places: dict[str, tuple[float, float]] = {}
        seen: Counter[str] = Counter()
        for line in json.loads(lines_json or "[]"):
            key = " ".join(_WORD.findall(str(line[0]).lower()))
            seen[key] += 1
            x0, y0, x1, y1 = (float(v) for v in line[2:6])
            self.places[key] = ((x0 + x1) / 2, (y0 + y1) / 2)
        for key, count in seen.items():  # a line said twice places nothing
            if count > 1 or not key:
                self.places.pop(key, None)

    def sketch(self) -> list[int]:
        """The smallest hashes of its words of four letters or more (two copies share most
        of their words, and so most of these)."""
        return sorted(zlib.crc32(w.encode()) for w in self.words if len(w) >= 4)[:SKETCH]


def same_page(a: _Said, b: _Said) -> bool:
    """Whether two pictures say the same words in the same places."""
    total = max(sum(a.words.values()), sum(b.words.values()))
    shared = sum((a.words & b.words).values())
    if total < MIN_WORDS:
        return False
    common = a.places.keys() & b.places.keys()
    if len(common) < 3:
        return shared >= SAME_WORDS_ALONE * total
    distances = [np.hypot(a.places[k][0] - b.places[k][0], a.places[k][1] - b.places[k][1])
                 for k in common]  # fmt: skip
    return shared >= SAME_WORDS * total and float(np.median(distances)) <= SAME_PLACE


def add_text_pairs(
    library: Library,
    pairs: Pairs,
    queries: np.ndarray,
    candidates: np.ndarray | None,
    ref_set: set[int],
) -> None:
    """Pair the pictures among ``queries`` (and ``candidates``) that are the same page."""
    from image_finder.core.search.duplicates import Tier

    wanted = set(queries.tolist())
    ids = sorted(wanted | (set(candidates.tolist()) if candidates is not None else wanted))
    said = {i: _Said(text, lines) for i, (source, text, lines) in _texts(library, ids)
            if source != "none" and len(text) >= MIN_WORDS * 2}  # fmt: skip
    said = {i: s for i, s in said.items() if sum(s.words.values()) >= MIN_WORDS}
    buckets: defaultdict[int, list[int]] = defaultdict(list)
    for image_id, one in said.items():
        for sketched in one.sketch():
            buckets[sketched].append(image_id)
    tried: set[tuple[int, int]] = set()
    for members in buckets.values():
        if len(members) > CROWD:
            continue
        for n, a in enumerate(members):
            for b in members[n + 1 :]:
                key = (min(a, b), max(a, b))
                if key in tried or (a not in wanted and b not in wanted):
                    continue
                tried.add(key)
                if (a in ref_set and b in ref_set) or not same_page(said[a], said[b]):
                    continue
                vectors = library.vectors([a, b], original=True)
                pairs.add(a, b, Tier.SAME, float(vectors[0] @ vectors[1]))


def _texts(library: Library, ids: list[int]) -> Iterable[tuple[int, tuple[str, str, str]]]:
    for start in range(0, len(ids), 2000):
        yield from library.side_data.texts(ids[start : start + 2000]).items()
