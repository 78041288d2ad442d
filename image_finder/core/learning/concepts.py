"""Concepts: a classifier learned from examples of something (and, if given, of what it is
not), kept by name in the library and used as a query or as a condition.

A concept is a logistic regression over the stored vectors, so nothing is embedded again and
it is one vector and a bias: searching by it is one index search. Its probabilities are
calibrated (Platt scaling on out-of-fold decision values), so that "0.8" reads as "shows it,
four times in five". Negatives not given are sampled from the library. Training on 10,000
vectors takes about a second on two cores.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from image_finder.core.common.errors import ImageFinderError, UnknownConceptError

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.pictures.scanning import Skipped
    from image_finder.core.stores.library import Library

SAMPLED_NEGATIVES = 2000  # library vectors that stand for "anything else"
MIN_POSITIVES = 2
CALIBRATE_FROM = 5  # examples needed to calibrate on out-of-fold scores
MATCH_PROBABILITY = 0.5  # a concept as a condition: the pictures at least this likely
NAME = re.compile(r"^[\w][\w .'-]{0,63}$")


@dataclass(frozen=True)
class Concept:
    name: str
    model: str
    weights: np.ndarray  # [dim]: probability = sigmoid(vector · weights + bias)
    bias: float
    positives: int
    negatives: int
    created: float
    updated: float
    # the pictures it was learnt from, so that it can be refined and learnt again when the
    # library's vectors change (an adapter: core/learning/adapter.py)
    positive_ids: tuple[int, ...] = ()
    negative_ids: tuple[int, ...] = ()
    # examples from outside the library (a folder of the user's own): the model's vectors of
    # them, kept with the concept and never added to the library's search
    outside: np.ndarray | None = None

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = np.asarray(vectors, np.float32) @ self.weights + self.bias
        found: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))
        return found

    def to_json(self) -> dict[str, object]:
        from image_finder.core.common.records import iso_time

        return {
            "name": self.name,
            "model": self.model,
            "positives": self.positives,
            "outside_examples": 0 if self.outside is None else len(self.outside),
            "negatives": self.negatives,
            "created": iso_time(self.created),
            "updated": iso_time(self.updated),
        }


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not NAME.match(name):
        raise ImageFinderError(
            f"concept name {name!r}: letters, digits, spaces and . ' - (at most 64)"
        )
    return name


def train(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, float]:
    """A calibrated linear classifier: (weights, bias) of its log-odds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    data = np.concatenate([positives, negatives]).astype(np.float64)
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    # tol 1e-3: the ranking has settled by then, at half the time of the default (10,000 vectors:
    # 0.9 s against 2.1 s on two cores, calibration folds included)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500, tol=1e-3)
    model.fit(data, labels)
    a, c = 1.0, 0.0  # uncalibrated log-odds, when too few examples to calibrate on
    if len(positives) >= CALIBRATE_FROM:
        folds = int(min(3, len(positives)))
        scores = cross_val_predict(model, data, labels, cv=folds, method="decision_function")
        platt = LogisticRegression(C=1e4).fit(scores[:, None], labels)
        if platt.coef_[0, 0] > 0:  # out-of-fold scores that still rank: their scale
            a, c = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    weights = (a * model.coef_[0]).astype(np.float32)
    return weights, float(a * model.intercept_[0] + c)


def learn(
    library: Library,
    name: str,
    positive_ids: Sequence[int],
    negative_ids: Sequence[int] = (),
    *,
    outside: np.ndarray | None = None,
    seed: int = 0,
) -> Concept:
    """Learn ``name`` from library items (and items it is not), and from ``outside``: the
    model's vectors of example pictures that are not in the library (:func:`embed_outside`).
    Keep it in the library (replacing one of that name) and return it."""
    name = check_name(name)
    positives = sorted(set(int(i) for i in positive_ids))
    given = len(positives) + (0 if outside is None else len(outside))
    if given < MIN_POSITIVES:
        raise ImageFinderError(
            f"a concept needs at least {MIN_POSITIVES} example pictures ({given} given)"
        )
    negatives = sorted(set(int(i) for i in negative_ids) - set(positives))
    concept = _learn(library, name, positives, negatives, seed, outside)
    library.side_data.save_concept(concept)
    return concept


def _learn(
    library: Library,
    name: str,
    positives: list[int],
    negatives: list[int],
    seed: int,
    outside: np.ndarray | None = None,
) -> Concept:
    if library.model is None:
        raise ImageFinderError("The library is empty: index some pictures first.")
    if outside is not None and len(outside) and outside.shape[1] != library.dim:
        raise ImageFinderError("the examples from outside were embedded by another model")
    sampled = _sample(library, SAMPLED_NEGATIVES, positives + negatives, seed)
    pos = library.vectors(positives)
    if outside is not None and len(outside):  # in the space the library is searched in
        pos = np.concatenate([pos.reshape(-1, outside.shape[1]), library.searched(outside)])
    neg = np.concatenate([library.vectors(negatives), sampled]) if negatives else sampled
    if not len(neg):
        raise ImageFinderError("a concept needs pictures that are not it: the library has none")
    weights, bias = train(pos, neg)
    now = time.time()
    old = library.side_data.concept(name)
    return Concept(name, library.space, weights, bias, len(pos), len(neg),
                   old.created if old else now, now, tuple(positives),
                   tuple(negatives), outside)  # fmt: skip


def refine(
    library: Library, name: str, positive_ids: Sequence[int], negative_ids: Sequence[int] = ()
) -> Concept:
    """Learn ``name`` again with more examples (and pictures it is not): *Update concept*."""
    old = require(library, name)
    negatives = set(old.negative_ids) | {int(i) for i in negative_ids}
    positives = (set(old.positive_ids) | {int(i) for i in positive_ids}) - negatives
    return learn(library, old.name, sorted(positives), sorted(negatives), outside=old.outside)


def relearn_all(library: Library) -> list[str]:
    """Learn every concept again on the vectors now searched (after an adapter was applied or
    switched off); returns the names of those that cannot be (no examples kept, or gone)."""
    stale = []
    for concept in library.side_data.concepts():
        if concept.model == library.space:
            continue
        try:
            library.side_data.save_concept(_relearnt(library, concept))
        except ImageFinderError:
            stale.append(concept.name)
    return stale


def _relearnt(library: Library, concept: Concept) -> Concept:
    alive = set(library.items(concept.positive_ids))
    positives = [i for i in concept.positive_ids if i in alive]
    outside = 0 if concept.outside is None else len(concept.outside)
    if len(positives) + outside < MIN_POSITIVES:
        raise ImageFinderError(
            f"the concept {concept.name!r} was learnt on other features and its examples are "
            "not kept; learn it again (image-finder-cli concept add)"
        )
    negatives = [i for i in concept.negative_ids if i in set(library.items(concept.negative_ids))]
    found = _learn(library, concept.name, positives, negatives, 0, concept.outside)
    return Concept(**{**found.__dict__, "created": concept.created, "updated": concept.updated})


def _sample(library: Library, n: int, exclude: Sequence[int], seed: int) -> np.ndarray:
    """``n`` library vectors at random (fewer in a small library), none of ``exclude``."""
    with library.snapshot() as source:
        _, vectors = source.sample(n, exclude=np.asarray(exclude, np.int64))
    return vectors


_RELEARNT: dict[tuple[str, str, float, str], Concept] = {}


def require(library: Library, name: str) -> Concept:
    """The concept ``name`` on the vectors the library is searched with (learnt again from its
    examples, in memory, when it was learnt on others). UnknownConceptError naming the known
    ones when there is none; ImageFinderError when it cannot be learnt again."""
    concept = library.side_data.concept(" ".join(name.split()))
    if concept is None:
        known = ", ".join(c.name for c in library.side_data.concepts()) or "none yet"
        raise UnknownConceptError(f"no concept {name!r} (the library's: {known})")
    if concept.model == library.space:
        return concept
    if not concept.model.startswith(library.model or "?") or not concept.positive_ids:
        raise ImageFinderError(
            f"the concept {concept.name!r} was learnt on {concept.model}'s features; "
            "learn it again (image-finder-cli concept add)"
        )
    key = (str(library.db_path), concept.name, concept.updated, library.space)
    if key not in _RELEARNT:
        _RELEARNT.clear()
        _RELEARNT[key] = _relearnt(library, concept)
    return _RELEARNT[key]


def members(library: Library, concept: Concept) -> np.ndarray:
    """Ids of the library's pictures that show ``concept`` with probability 0.5 or more."""
    found = []
    with library.snapshot() as source:
        for ids, vectors in source.chunks():
            found.append(ids[concept.probabilities(vectors) >= MATCH_PROBABILITY])
    out: np.ndarray = np.concatenate(found) if found else np.zeros(0, np.int64)
    return np.sort(out)


def embed_outside(
    paths: Sequence[str],
    extractor: Extractor,
    progress: Callable[[int, int], None] = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[np.ndarray, list[Skipped]]:
    """The model's vectors of example pictures that are not in the library (files, or the
    pictures under folders), with the ones that could not be read; ``progress(done,
    total)`` as they are embedded. Nothing is added to the library."""
    from image_finder.core.pictures.scanning import ScanEntry, Skipped, scan_folder

    files: list[str] = []
    skipped: list[Skipped] = []
    for path in paths:
        if os.path.isdir(path):
            for found in scan_folder(os.path.abspath(path), videos=False):
                if isinstance(found, ScanEntry):
                    files.append(found.path)
                else:
                    skipped.append(found)
        elif os.path.isfile(path):
            files.append(os.path.abspath(path))
        else:
            skipped.append(Skipped(path, "not found"))
    vectors: list[np.ndarray] = []
    done = 0
    progress(0, len(files))
    for batch in extractor.iter_embeddings(files, cancelled=cancelled):
        if len(batch.items):
            vectors.append(batch.vectors)
        skipped += [Skipped(f.item, f.reason) for f in batch.failures]
        done += len(batch.items) + len(batch.failures)
        progress(done, len(files))
    dim = extractor.dim
    return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), skipped
