"""Searching the text written in pictures (core/indexing/texts.py) with the words a person
types: several words all present, "quoted phrases", prefixes (``invoic*``), "-word" to leave
out the pictures that say it, and a typo of one letter forgiven in words of five letters or
more. The words become an FTS5 query over the library's ``text_search`` index.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from image_finder.core.common.spelling import one_letter_off as one_letter_off

if TYPE_CHECKING:
    import numpy as np

    from image_finder.core.stores.store import Store

TYPO_FROM = 5  # letters: a word this long matches words one letter off
_TOKEN = re.compile(r'-?"[^"]*"|\S+')
_WORD = re.compile(r"\w+", re.UNICODE)


class TextCandidates(Protocol):
    """A store that finds the items saying some words, for them to be ranked here (the
    catalogue: core/stores/catalogue.py)."""

    def text_candidates(self, words: Sequence[str], limit: int) -> list[tuple[int, str]]: ...


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


CANDIDATES = 2000  # items a catalogue hands over to be ranked, at most


def matches(
    store: Store, text: str, limit: int, restrict: np.ndarray | None = None
) -> list[tuple[int, float, TextHit]]:
    """(id, score, where) of the items whose text matches ``text``, best first; the score
    (0..1) ranks them among themselves. None found, or a store without texts: []."""
    library = store.as_library()
    if not store.capabilities.texts:
        return []
    if library is not None:
        side = library.side_data
        query = fts_query(text, side.words_near)
        if query is None:
            return []
        ranked = side.text_matches(query, limit * 4 if restrict is not None else limit)
        lines_of = side.texts
    else:  # a catalogue: Milvus finds the items saying the words, ranked here alike
        query = fts_query(text)  # typos: the catalogue keeps no list of its words
        if query is None:
            return []
        said = cast("TextCandidates", store).text_candidates(_required(text), CANDIDATES)
        ranked = _ranked(said, query, limit * 4 if restrict is not None else limit)
        lines_of = store.texts
    allowed = None if restrict is None else set(restrict.tolist())
    found = [hit for hit in ranked if allowed is None or hit[0] in allowed][:limit]
    texts = lines_of([i for i, _, _ in found])
    out = []
    for image_id, rank, snippet in found:
        lines = json.loads(texts.get(image_id, ("", "", "[]"))[2] or "[]")
        wanted = {w.lower() for w in re.findall(r"\[(.*?)\]", snippet)}
        boxes = tuple(tuple(line[2:6]) for line in lines
                      if wanted & {w.lower() for w in _WORD.findall(line[0])})  # fmt: skip
        strength = max(0.0, -rank)  # bm25: the lower, the better
        out.append((image_id, strength / (1.0 + strength), TextHit(snippet, boxes)))
    return out


def _required(text: str) -> list[str]:
    """The whole words every match must say (phrases' words too; not prefixes, not -words)."""
    words: list[str] = []
    for token in _TOKEN.findall(text):
        if token.startswith("-") or (token.endswith("*") and not token.startswith('"')):
            continue
        words += [w.lower() for w in _WORD.findall(token)]
    return list(dict.fromkeys(words))


def _ranked(said: list[tuple[int, str]], query: str, limit: int) -> list[tuple[int, float, str]]:
    """(id, bm25, snippet) of ``said`` matching the FTS5 ``query``, as the library ranks
    them (an FTS5 table in memory over the catalogue's candidates)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute(
            "CREATE VIRTUAL TABLE said USING fts5(text, tokenize='unicode61 remove_diacritics 2')"
        )  # the library's text_search, alike
        db.executemany("INSERT INTO said(rowid, text) VALUES (?, ?)", said)
        rows = db.execute(
            "SELECT rowid, bm25(said), snippet(said, 0, '[', ']', '…', 12) FROM said"
            " WHERE said MATCH ? ORDER BY bm25(said) LIMIT ?",
            (query, int(limit)),
        ).fetchall()
    return [(int(r[0]), float(r[1]), str(r[2])) for r in rows]


def has_texts(store: Store) -> bool:
    """Whether the store holds text read in its pictures (a search by words looks at it)."""
    if not store.capabilities.texts:
        return False
    library = store.as_library()
    if library is None:
        return bool(cast("TextCandidates", store).text_candidates([], 1))
    return library.side_data.has_texts()
