"""Searching the text written in pictures (core/indexing/texts.py) with the words a person
types: several words all present, "quoted phrases", prefixes (``invoic*``), "-word" to leave
out the pictures that say it, and a typo of one letter forgiven in words of five letters or
more. The words become an FTS5 query over the library's ``text_search`` index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_finder.core.common.spelling import one_letter_off as one_letter_off

if TYPE_CHECKING:
    import numpy as np

    from image_finder.core.stores.store import Store

TYPO_FROM = 5  # letters: a word this long matches words one letter off
_TOKEN = re.compile(r'-?"[^"]*"|\S+')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class TextHit:
    """Where a result says the words: the snippet (matches in [ ]) and the lines' boxes."""

    snippet: str
    boxes: tuple[tuple[float, float, float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"snippet": self.snippet, "boxes": [list(b) for b in self.boxes]}


def _quoted(words: list[str]) -> str:
    return '"' + " ".join(words) + '"'


def fts_query(text: str, known: Callable[[str], list[str]] = lambda w: []) -> str | None:
    """The FTS5 query for ``text`` (None: nothing to look for). ``known(word)``: the index's
    words one letter off ``word`` (typos)."""
    wanted: list[str] = []
    unwanted: list[str] = []
    for token in _TOKEN.findall(text):
        negative = token.startswith("-") and len(token) > 1
        body = token[1:] if negative else token
        prefix = body.endswith("*") and not body.startswith('"')
        words = [w.lower() for w in _WORD.findall(body)]
        if not words:
            continue
        if body.startswith('"') or len(words) > 1:
            term = _quoted(words)  # a phrase (or a word the tokenizer splits: e-mail)
        elif prefix:
            term = _quoted(words) + "*"
        else:
            word = words[0]
            variants = [word, *known(word)] if len(word) >= TYPO_FROM and not negative else [word]
            term = " OR ".join(_quoted([v]) for v in dict.fromkeys(variants))
            term = f"({term})" if len(variants) > 1 else term
        (unwanted if negative else wanted).append(term)
    if not wanted:
        return None
    query = " AND ".join(wanted)
    for term in unwanted:
        query = f"({query}) NOT {term}"
    return query


def matches(
    store: Store, text: str, limit: int, restrict: np.ndarray | None = None
) -> list[tuple[int, float, TextHit]]:
    """(id, score, where) of the items whose text matches ``text``, best first; the score
    (0..1) ranks them among themselves. None found, or a store without texts: []."""
    library = store.as_library()  # a catalogue keeps no text
    if library is None:
        return []
    side = library.side_data
    query = fts_query(text, side.words_near)
    if query is None:
        return []
    allowed = None if restrict is None else set(restrict.tolist())
    found = []
    for image_id, rank, snippet in side.text_matches(query, limit * 4 if allowed else limit):
        if allowed is None or image_id in allowed:
            found.append((image_id, rank, snippet))
    found = found[:limit]
    texts = side.texts([i for i, _, _ in found])
    out = []
    for image_id, rank, snippet in found:
        lines = json.loads(texts.get(image_id, ("", "", "[]"))[2] or "[]")
        wanted = {w.lower() for w in re.findall(r"\[(.*?)\]", snippet)}
        boxes = tuple(tuple(line[2:6]) for line in lines
                      if wanted & {w.lower() for w in _WORD.findall(line[0])})  # fmt: skip
        strength = max(0.0, -rank)  # bm25: the lower, the better
        out.append((image_id, strength / (1.0 + strength), TextHit(snippet, boxes)))
    return out


def has_texts(store: Store) -> bool:
    """Whether the store holds text read in its pictures (a search by words looks at it)."""
    library = store.as_library()
    return library is not None and library.side_data.has_texts()
