"""Matching pictures against hash banks, with two signals:

* **PDQ** (core/pictures/pdq.py): the picture's hash within the bank's distance of one of
  its hashes (the reference's 31 bits by default), found by the multi-index hash
  (core/banks/index.py); a hash of low quality (a flat picture) is not matched, as the
  reference says.
* **vector**: the model's features of the picture within the bank's score (cosine) of one of
  its pictures' (banks filled from a folder): it finds the crops, overlays and rotations that
  move PDQ by more than 31 bits. Its default threshold, ``VECTOR_SCORE``, is the one that
  matched no more than 1 in 10,000 unrelated pictures (``python -m benchmarks.banks``).

* **vPDQ** (core/pictures/vpdq.py): a video's PDQ hash of a frame a second against the
  banks' videos: a match when at least 80% of its frames are within the bank's distance of
  one of the known video's.

A video is also matched moment by moment (each moment's PDQ and vector, as a photo's).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from image_finder.core.banks.index import HashIndex
from image_finder.core.banks.store import Bank, BankStore
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import Part
from image_finder.core.pictures.pdq import Pdq, distance
from image_finder.core.pictures.vpdq import QUERY_PERCENT, Frame, compare

VECTOR_SCORE = 0.75  # cosine: at most 1 in 10,000 unrelated pictures reach it (EfficientNet-Lite0,
# benchmarks/banks.py: 0.7415 measured; ViT-B/16's real weights could not be measured here)


@dataclass(frozen=True)
class Match:
    """One picture (or a video's moment) found in a bank."""

    path: str
    part: Part | None
    bank: str
    label: str
    signal: str  # "pdq" or "vector"
    value: float  # PDQ: the distance in bits; vector: the score
    threshold: float  # what the value had to be within (PDQ: at most; vector: at least)
    entry: str  # what matched in the bank: the hash (hex), or the bank picture's name
    content_id: int = 0  # the bank entry's id: its hash's row (HMA's content id) or picture's

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "part": self.part.to_json() if self.part else None,
            "bank": self.bank, "label": self.label, "signal": self.signal,
            **measure(self.signal, self.value, self.threshold),
            "entry": self.entry, "content_id": self.content_id,
        }  # fmt: skip


def measure(signal: str, value: float, threshold: float) -> dict[str, Any]:
    """How close a match is, as its JSON says it: a PDQ ``distance`` in bits (at most the
    threshold), a vector ``score`` or a vPDQ ``percent`` of frames found (at least it)."""
    if signal == "pdq":
        return {"distance": int(value), "threshold": int(threshold)}
    if signal == "vpdq":
        return {"percent": round(value, 1), "threshold": threshold}
    return {"score": round(value, 4), "threshold": threshold}


def closeness(match: dict[str, Any]) -> str:
    """A match's JSON's closeness in words."""
    if match["signal"] == "pdq":
        return f"PDQ {match['distance']} bits ≤ {match['threshold']}"
    if match["signal"] == "vpdq":
        return f"vPDQ {match['percent']:.0f}% of frames found ≥ {match['threshold']:.0f}%"
    return f"features score {match['score']:.3f} ≥ {match['threshold']:.2f}"


@dataclass(frozen=True)
class Signals:
    """What a picture is matched by: its PDQ hash (None: could not be hashed) and its
    features (None: no model)."""

    pdq: Pdq | None
    vector: np.ndarray | None = None


class Matcher:
    """The banks ``names`` (all, when empty) ready for lookups: their hashes in one index, their
    pictures' vectors of ``model`` in one matrix."""

    def __init__(self, store: BankStore, names: Sequence[str] = (), model: str | None = None,
                 slack: int = 0) -> None:  # fmt: skip
        self.banks: list[Bank] = [store.get(n) for n in names] if names else store.banks()
        if not self.banks:
            raise ImageFinderError("no bank to match against: create one (bank create NAME)")
        self._store = store
        self._lock = threading.Lock()  # the store's connection, one lookup at a time
        self._by_id = {b.id: b for b in self.banks}
        codes, self._entries = store.all_hashes(self._by_id)
        self._slack = slack  # hashes this much further are checked again by ``recheck``
        self._index = HashIndex(codes, max(b.pdq_distance for b in self.banks) + slack)
        pictures = store.pictures(self._by_id)
        self._embedded = [p for p in pictures if model is not None and p.model == model]
        self._vectors = np.stack([p.vector for p in self._embedded]) if self._embedded else None
        self._videos = store.videos(self._by_id)

    @property
    def has_videos(self) -> bool:
        """Whether the banks hold videos' vPDQ hashes (a video is then hashed to match)."""
        return bool(self._videos)

    def match_video(self, path: str, frames: Sequence[Frame]) -> list[Match]:
        """The banks' videos that the video's vPDQ hash ``frames`` matches (at least
        ``QUERY_PERCENT`` of its frames found in one), the best one per bank."""
        best: dict[str, Match] = {}
        for video in self._videos:
            bank = self._by_id[video.bank_id]
            found = compare(frames, video.frames, bank.pdq_distance)
            old = best.get(bank.name)
            if found.query_percent >= QUERY_PERCENT and (
                old is None or found.query_percent > old.value
            ):
                best[bank.name] = Match(path, None, bank.name, video.label or video.name, "vpdq",
                                        found.query_percent, QUERY_PERCENT, video.name,
                                        video.id)  # fmt: skip
        return sorted(best.values(), key=lambda m: m.bank)

    @property
    def has_pictures(self) -> bool:
        """Whether the banks hold pictures embedded with the model (the vector signal)."""
        return bool(self._embedded)

    def match(
        self,
        path: str,
        part: Part | None,
        signals: Signals,
        recheck: Callable[[], Pdq | None] | None = None,
    ) -> list[Match]:
        """The banks' entries the picture matches, one per bank and signal (the closest).
        ``recheck``: the picture's hash made again from the file at full size, asked for
        (once) when a bank's hash lies within the matcher's slack beyond the bank's distance
        (a hash made from a reduced picture is some bits off the reference's)."""
        found: dict[tuple[str, str], Match] = {}
        again: list[Pdq | None] = []

        def keep(match: Match) -> None:
            key = (match.bank, match.signal)
            old = found.get(key)
            better = old is None or (
                match.value < old.value if match.signal == "pdq" else match.value > old.value
            )
            if better:
                found[key] = match

        if signals.pdq is not None and signals.pdq.matchable:
            for hit in self._index.lookup(np.frombuffer(signals.pdq.hash, np.uint8))[0]:
                known = self._entry(hit.position)
                if known is None:  # taken out of its bank since
                    continue
                bank_id, label, entry = known
                bank = self._by_id[bank_id]
                content = int(self._entries[hit.position])
                bits = hit.distance
                if bits > bank.pdq_distance and recheck is not None:
                    if not again:
                        again.append(recheck())
                    full = again[0]
                    bits = distance(full.hash, bytes.fromhex(entry)) if full else bits
                if bits <= bank.pdq_distance:
                    keep(Match(path, part, bank.name, label, "pdq", bits,
                               bank.pdq_distance, entry, content))  # fmt: skip
        if signals.vector is not None and self._vectors is not None:
            scores = self._vectors @ np.asarray(signals.vector, np.float32)
            for row in np.flatnonzero(scores >= min(self._score(b) for b in self.banks)):
                picture = self._embedded[int(row)]
                bank = self._by_id[picture.bank_id]
                if scores[row] >= self._score(bank):
                    keep(Match(path, part, bank.name, picture.label, "vector",
                               float(scores[row]), self._score(bank), picture.name,
                               picture.id))  # fmt: skip
        return sorted(found.values(), key=lambda m: (m.bank, m.signal))

    @staticmethod
    def _score(bank: Bank) -> float:
        return bank.vector_score if bank.vector_score is not None else VECTOR_SCORE

    def _entry(self, position: int) -> tuple[int, str, str] | None:
        """(bank id, label, entry) of an indexed hash."""
        with self._lock:
            found = self._store.entry(int(self._entries[position]))
        if found is None:
            return None
        bank_id, digest, label = found
        return bank_id, label, digest.hex()


_KEPT = 2  # matchers kept ready (a server answers many lookups with the same banks)
_ready: OrderedDict[tuple[object, ...], tuple[BankStore, Matcher]] = OrderedDict()
_ready_lock = threading.Lock()


def ready_matcher(
    folder: str | Path, names: Sequence[str] = (), model: str | None = None, slack: int = 0
) -> Matcher:
    """A matcher of the banks ``names`` (all when empty) kept beside the library at
    ``folder``, made once and kept while the banks do not change (each change bumps a bank's
    generation, and so the key): building the index of millions of hashes takes seconds, a
    lookup a fraction of a millisecond."""
    with BankStore(folder) as store:
        chosen = [store.get(n) for n in names] if names else store.banks()
    key = (str(Path(folder).resolve()), tuple((b.id, b.generation, b.pdq_distance, b.vector_score)
                                             for b in chosen), model, slack)  # fmt: skip
    with _ready_lock:
        if key in _ready:
            _ready.move_to_end(key)
            return _ready[key][1]
        store = BankStore(folder)
        try:
            matcher = Matcher(store, names, model, slack)
        except BaseException:
            store.close()
            raise
        _ready[key] = (store, matcher)
        while len(_ready) > _KEPT:  # its store closes when no lookup holds it any more
            _ready.popitem(last=False)
        return matcher
