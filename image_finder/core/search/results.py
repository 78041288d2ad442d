"""What a search answers: each result (an item, its score, how it matches the query) and the
outcome of one search, with the options a search takes. Every face shows these."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from image_finder.core.common.records import Item, Scan, display_name, item_json

# Scores of the same picture stay above 0.95 when it is resized, re-encoded or mirrored; other
# pictures score lower, and unrelated ones at most about 0.4 (an airliner against a library of
# animals: its best, a poodle, at 0.42 with ViT-B/16; unrelated skimage photos score below 0.2
# with EfficientNet-Lite0, crops of one photo 0.47 to 0.75). Below CLOSE_MATCH_SCORE the best
# result is called what it is: the closest there is, not a match.
# A copy resized down or saved in another format can score lower (0.91 for a 640x480 photo
# shrunk to 200x150 as PNG, EfficientNet-Lite0) but keeps the query's brightness layout exactly;
# SAME_LAYOUT_SCORE with a matching layout also counts as the same picture.
SAME_PICTURE_SCORE = 0.95
SAME_LAYOUT_SCORE = 0.85
CLOSE_MATCH_SCORE = 0.5


class MatchKind(enum.Enum):
    """What a result is to its query, beyond its score."""

    NONE = ""
    QUERY = "this image"  # the query itself, found in the library
    IDENTICAL = "identical"  # the same bytes as the query
    SAME_PICTURE = "same picture"  # resized, re-encoded, mirrored, a black-and-white copy…

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float  # cosine similarity, 1.0 = identical features
    item: Item
    # The query has no colour and this picture's brightness layout is the query's: the colour
    # original of a black-and-white copy, listed first whatever its score (core/pictures/layout.py).
    grey_match: bool = False
    match: MatchKind = MatchKind.NONE
    # the file's other matching parts (a video's moments), as (item, score), in time order
    others: tuple[tuple[Item, float], ...] = ()
    scan: Scan | None = None  # a medical image's modality, body part, study date, series
    # a search by words: "text" (written in the picture: ``text`` says where) or "picture"
    matched: str = ""
    text: Any = None  # core/search/text_search.TextHit

    @property
    def path(self) -> str:
        return self.item.path

    @property
    def moments(self) -> list[dict[str, Any]]:
        """Every matching part of the file (a video's moments, a document's pages), this one
        included, in order."""
        found = [(self.item, self.score), *self.others]
        return [
            {**i.part.to_json(), "id": i.id, "score": round(s, 4)}
            for i, s in sorted(found, key=lambda p: p[0].part.at if p[0].part else 0.0)
            if i.part is not None and i.path == self.item.path
        ]

    @property
    def slices(self) -> list[dict[str, Any]]:
        """The other matching slices of a medical series (other files), by name."""
        return [
            {"id": i.id, "filename": i.filename, "label": i.label, "score": round(s, 4)}
            for i, s in self.others
            if i.path != self.item.path
        ]

    def to_json(self) -> dict[str, Any]:
        item = item_json(self.item)
        return {
            "id": item.pop("id"),
            "rank": self.rank,
            "score": round(self.score, 4),
            **item,
            "grey_match": self.grey_match,
            "match": self.match.value or None,
            **({"moments": self.moments} if len(self.moments) > 1 else {}),
            **({"slices": self.slices} if self.slices else {}),
            **({"scan": self.scan.to_json()} if self.scan else {}),
            **({"matched": self.matched} if self.matched else {}),
            **({"text": self.text.to_json()} if self.text is not None else {}),
        }


@dataclass
class SearchOutcome:
    query: str
    model: str
    results: list[SearchResult] = field(default_factory=list)
    seconds: float = 0.0
    notice: str = ""  # words of a text query that were left out, and why
    # a score below this is not a match (for words: the probability that a picture shows them)
    close_score: float = CLOSE_MATCH_SCORE
    parts: dict[str, Any] = field(default_factory=dict)  # a compound query's parts

    @property
    def close_matches(self) -> bool:
        """False when even the best result is weak: the closest there is, not a match."""
        return not self.results or any(
            r.score >= self.close_score or r.match is not MatchKind.NONE or r.text is not None
            for r in self.results
        )

    def to_json(self) -> dict[str, Any]:
        data = {
            "query": display_name(self.query),
            "model": self.model,
            "close_matches": self.close_matches,
            "seconds": round(self.seconds, 4),
            "results": [r.to_json() for r in self.results],
        }
        if self.notice:
            data["notice"] = self.notice
        if self.parts:
            data["parts"] = self.parts
        return data


def shown_score(score: float) -> float:
    """A score as every face shows it: two decimals. Minimum similarity compares this, so
    that a result shown as 0.30 stays at minimum 0.30."""
    return round(score + 1e-9, 2)


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
    # A video with several matching moments is one result, at its best moment, listing the
    # others (False: every moment is a result of its own).
    group_parts: bool = True

    @property
    def variants(self) -> bool:
        """Whether the query is searched as several images (its vector alone is not enough)."""
        return self.rotations or self.crops
