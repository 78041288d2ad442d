"""Search by words with the model a library already has.

Every model Image Finder builds libraries with is an ImageNet classifier: its head maps the
stored features to 1,000 classes, whose names and WordNet concepts ship with Image Finder
(``image_finder/resources/imagenet_words.json``, built from WordNet 3.0 by
``packaging/imagenet_words.py``).
A word reaches the classes it names, its synonyms' and, through the WordNet hierarchy, every
class below it ("dog": 118 breeds; "vehicle": 67 classes).

An image's score for a concept is the log-probability the head gives the concept's classes
(log-sum-exp of the log-softmax over them); words joined in a phrase all count (their scores
add up), and ``-word`` adds the log-probability that the image does *not* show that word.
Only stored vectors are used: nothing is embedded again.
The head needs the features' length, which the stored unit vectors lost: the library keeps the
mean length of its features with the head (``head.npz``), and scoring uses it.

To stay fast in large libraries, candidates come from the vector index (the head's class rows
are query vectors like any other), and only they are scored exactly.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.dberrors import is_disk_full
from image_finder.core.common.errors import DISK_FULL, ImageFinderError, LibraryWriteError

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)

HEAD_FILE = "head.npz"
MAX_CLASSES = 450  # a word covering more is too general to rank by ("object", "artifact")
MAX_WORDS_PER_CONCEPT = 4  # the longest name looked up as one ("great white shark")
CANDIDATES_PER_CLASS = 200
# Below this probability the best picture is not said to show the words (the closest there is)
CLOSE_PROBABILITY = 0.2
# Below this probability a picture is no result at all: it shows none of the words (a teddy
# bear for "golden retriever"), however few pictures are left; unless even the best is below
# it, when the pictures within a factor WEAK_SPAN of the best are listed as the closest there
# are (marked so: no close matches), and no others.
MIN_PROBABILITY = 0.02
WEAK_SPAN = 4.0
# "-word" leaves a picture out where the model sees the word there rather than only the rest of
# the query: for one (bound, ratio) of LEAVE_OUT, the word's classes get the bound or more and
# at least ratio times what the other words get there; the word's classes are also taken out of
# the other words. Why this rule: docs/decisions/words-minus.md.
LEAVE_OUT: tuple[tuple[float, float], ...] = ((0.05, 0.1),)
MAX_SUGGESTED = 3  # unknown words that get close known words suggested
STOP_WORDS = frozenset(
    {
        *("a", "an", "the", "of", "on", "in", "at", "by", "with", "and", "or", "to", "for"),
        *("from", "near", "under", "over", "some", "this", "that", "my", "showing"),
        *("picture", "pictures", "photo", "photos", "image", "images"),
    }
)


class UnknownWordsError(ImageFinderError):
    """None of the words names a concept the library's model knows."""

    def __init__(self, words: Sequence[str], suggestions: Sequence[str], why: str = "") -> None:
        self.words = list(words)
        self.suggestions = list(suggestions)
        quoted = ", ".join(f"“{w}”" for w in words)
        message = why or f"{quoted}: not a word this model knows."
        if suggestions:
            message += " Close known words: " + ", ".join(suggestions) + "."
        super().__init__(message)


@dataclass(frozen=True)
class Concept:
    text: str  # as the user typed it
    classes: tuple[int, ...]
    sign: int = 1  # -1 for a "-word" term


@dataclass
class ParsedWords:
    concepts: list[Concept] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    general: list[str] = field(default_factory=list)  # known, but covering too many classes
    suggestions: list[str] = field(default_factory=list)
    seen: set[tuple[str, int]] = field(default_factory=set, repr=False)  # said twice: once

    @property
    def notice(self) -> str:
        """What was left out, in a user's words ('' when every word counted)."""
        parts = []
        if self.unknown:
            parts.append("Not known, left out: " + ", ".join(self.unknown) + ".")
        if self.general:
            parts.append("Too general, left out: " + ", ".join(self.general) + ".")
        if self.suggestions:
            parts.append("Close known words: " + ", ".join(self.suggestions) + ".")
        return " ".join(parts)


class Vocabulary:
    """The words the ImageNet head knows, each with the classes it covers."""

    def __init__(self, data: dict[str, Any]) -> None:
        classes: dict[str, set[int]] = {}
        for entry in data["concepts"].values():
            for lemma in entry["lemmas"]:
                classes.setdefault(_normal(lemma), set()).update(entry["classes"])
        for index, lemmas in enumerate(data["classes"]):
            for lemma in lemmas:
                classes.setdefault(_normal(lemma), set()).add(index)
        self.classes = {w: tuple(sorted(c)) for w, c in classes.items() if w}
        self.class_names = [lemmas[0] for lemmas in data["classes"]]

    @classmethod
    @functools.cache
    def imagenet(cls) -> Vocabulary:
        text = resources.files("image_finder.resources").joinpath("imagenet_words.json")
        return cls(json.loads(text.read_text(encoding="utf-8")))

    def words(self) -> list[str]:
        """Every known word that is specific enough to search by, for completion."""
        return sorted(w for w, c in self.classes.items() if len(c) <= MAX_CLASSES)

    def lookup(self, word: str) -> tuple[int, ...] | None:
        """The classes of ``word`` (a plural or a different case is found too)."""
        word = _normal(word)
        for form in (word, *_singulars(word)):
            if form in self.classes:
                return self.classes[form]
        return None

    def close(self, word: str, n: int = 5) -> list[str]:
        return difflib.get_close_matches(_normal(word), self.words(), n=n, cutoff=0.6)

    def parse(self, text: str) -> ParsedWords:
        """Concepts in ``text``: names of up to four words are looked up whole first; small
        words are skipped; ``-word`` and ``-"two words"`` count against, ``+word`` for."""
        parsed = ParsedWords()
        for sign, chunk in _terms(text):
            tokens = [t for t in re.findall(r"[\w'-]+", chunk.lower()) if t.strip("-'")]
            start = 0
            while start < len(tokens):
                start += self._take(tokens, start, sign, parsed)
        parsed.suggestions = parsed.suggestions[:6]
        return parsed

    def _take(self, tokens: list[str], start: int, sign: int, parsed: ParsedWords) -> int:
        """Read the longest known name at ``tokens[start]`` into ``parsed``; returns how many
        tokens it took."""
        for size in range(min(MAX_WORDS_PER_CONCEPT, len(tokens) - start), 0, -1):
            words = " ".join(tokens[start : start + size])
            found = self.lookup(words)
            if found is None or (size == 1 and words in STOP_WORDS):
                continue
            if (words, sign) in parsed.seen:
                return size
            parsed.seen.add((words, sign))
            if len(found) > MAX_CLASSES:
                parsed.general.append(words)
            else:
                parsed.concepts.append(Concept(words, found, sign))
            return size
        word = tokens[start]
        if word not in STOP_WORDS and (word, 0) not in parsed.seen:
            parsed.seen.add((word, 0))
            parsed.unknown.append(word)
            if len(parsed.unknown) <= MAX_SUGGESTED:  # close words are costly to find
                parsed.suggestions += [s for s in self.close(word) if s not in parsed.suggestions]
        return 1

    def require(self, text: str) -> ParsedWords:
        """:meth:`parse`, raising UnknownWordsError when no word can be searched for."""
        if not text.strip():
            raise UnknownWordsError([], [], "Type a word to search for, such as “dog”.")
        parsed = self.parse(text)
        if any(c.sign > 0 for c in parsed.concepts):
            return parsed
        if parsed.general and not parsed.unknown:
            quoted = ", ".join(f"“{w}”" for w in parsed.general)
            raise UnknownWordsError(
                parsed.general,
                [],
                f"{quoted}: too general to search by; try a more specific word (dog, car, "
                "flower…).",
            )
        raise UnknownWordsError(parsed.unknown or [text.strip()], parsed.suggestions)


def _normal(word: str) -> str:
    return " ".join(word.lower().replace("_", " ").split())


def _singulars(word: str) -> list[str]:
    last = word.rsplit(" ", 1)
    stem, tail = (last[0] + " ", last[1]) if len(last) == 2 else ("", last[0])
    forms = []
    if tail.endswith("ies"):
        forms.append(tail[:-3] + "y")
    if tail.endswith("es"):
        forms.append(tail[:-2])
    if tail.endswith("s") and not tail.endswith("ss"):
        forms.append(tail[:-1])
    return [stem + f for f in forms]


def _terms(text: str) -> list[tuple[int, str]]:
    """(sign, text) of each term: ``-word``, ``-"a phrase"``, ``+word``, or plain words."""
    terms: list[tuple[int, str]] = []
    plain: list[str] = []
    for match in re.finditer(r'([+-])"([^"]*)"|([+-])(\S+)|"([^"]*)"|(\S+)', text):
        sign_q, quoted, sign_w, word, plain_q, plain_w = match.groups()
        if sign_q or sign_w:
            if plain:
                terms.append((1, " ".join(plain)))
                plain = []
            terms.append((-1 if (sign_q or sign_w) == "-" else 1, quoted if sign_q else word))
        else:
            plain.append(plain_q if plain_q is not None else plain_w)
    if plain:
        terms.append((1, " ".join(plain)))
    return terms


# --------------------------------------------------------------------------------------------
# The head


@dataclass(frozen=True)
class Head:
    """The model's ImageNet classifier over the stored vectors: logits = scale * W v + b."""

    model: str
    weight: np.ndarray  # [classes, dim]
    bias: np.ndarray  # [classes]
    scale: float  # the mean length of the model's features before they were normalised

    def log_probs(self, vectors: np.ndarray, classes: Sequence[int]) -> np.ndarray:
        """log p(any of ``classes`` | image) for each row of ``vectors`` (unit vectors)."""
        logits = self.scale * (vectors @ self.weight.T) + self.bias
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        chosen = logits[:, list(classes)]
        top_c = chosen.max(axis=1, keepdims=True)
        log_c = top_c[:, 0] + np.log(np.exp(chosen - top_c).sum(axis=1))
        out: np.ndarray = log_c - log_z
        return out

    def save(self, folder: Path) -> None:
        """Atomically, beside the library's database."""
        target = folder / HEAD_FILE
        tmp = target.with_name(target.name + ".tmp.npz")
        try:
            np.savez(
                tmp,
                model=np.array(self.model),
                weight=self.weight,
                bias=self.bias,
                scale=np.array(self.scale),
            )
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full(exc):
                raise LibraryWriteError(f"The words head could not be saved: {DISK_FULL}") from exc
            raise

    @classmethod
    def load(cls, folder: Path, model: str) -> Head | None:
        try:
            with np.load(folder / HEAD_FILE) as data:
                if str(data["model"]) != model:
                    return None
                return cls(
                    model,
                    data["weight"].astype(np.float32),
                    data["bias"].astype(np.float32),
                    float(data["scale"]),
                )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring an unreadable %s: %s", HEAD_FILE, exc)
            return None


def keep_head(library: Library, extractor: Extractor) -> Head | None:
    """The library's head for its model, saved from ``extractor`` if the library has none yet
    (after its first indexing run, or for a library of an earlier version)."""
    model = library.model or extractor.name
    head = Head.load(library.folder, model)
    if head is not None or extractor.name != model:
        return head
    found = extractor.classifier()
    if found is None:
        return None
    weight, bias = found
    scale = extractor.mean_feature_norm() or _measure_norm(library, extractor)
    if scale is None:
        return None
    head = Head(model, weight, bias, scale)
    if library.writer_held:  # a search only reads: the next indexing run keeps the head
        head.save(library.folder)
        log.info("kept the %s head (feature length %.2f) with the library", model, scale)
    return head


def _measure_norm(library: Library, extractor: Extractor, n: int = 8) -> float | None:
    """The features' mean length, from a few of the library's pictures (a library of an
    earlier version, searched by words before anything was embedded this session)."""
    from image_finder.core.common.errors import ImageLoadError

    paths = []
    for folder in library.folders():
        for row in library.folder_rows(folder.id):
            if os.path.exists(row.path):
                paths.append(row.path)
            if len(paths) >= n:
                break
        if len(paths) >= n:
            break
    for path in paths:
        try:
            extractor.embed_images([path])
        except ImageLoadError:
            continue
    return extractor.mean_feature_norm()


@dataclass
class WordResults:
    ids: list[int]
    scores: list[float]  # probabilities of the concepts (product over the words)
    notice: str = ""


def rank(
    library: Library,
    head: Head,
    parsed: ParsedWords,
    top_k: int,
    *,
    nprobe: int | None = None,
    restrict_to: np.ndarray | None = None,
) -> WordResults:
    """The ``top_k`` library images most probably showing every concept of ``parsed``."""
    against = [c for c in parsed.concepts if c.sign < 0]
    left_out = {k for c in against for k in c.classes}
    positive = [
        Concept(c.text, tuple(k for k in c.classes if k not in left_out), 1)
        for c in parsed.concepts
        if c.sign > 0
    ]
    if any(not c.classes for c in positive):
        empty = next(c.text for c in positive if not c.classes)
        raise ImageFinderError(f"“{empty}” leaves nothing once the words after - are left out.")
    # candidates: the images nearest to the class rows of the most specific concept
    seed = min(positive, key=lambda c: len(c.classes))
    per_class = max(CANDIDATES_PER_CLASS, 4 * top_k // max(1, len(seed.classes)))
    rows = head.weight[list(seed.classes)]
    # candidates in the space searched; the classes' probabilities from the model's own vectors
    _, found = library.vector_index.search(
        library.searched(rows.astype(np.float32)),
        per_class,
        nprobe=nprobe,
        restrict_to=restrict_to,
    )
    candidates = np.unique(found[found >= 0])
    if not len(candidates):
        return WordResults([], [], parsed.notice)
    vectors = library.vectors(list(candidates), original=True)
    total = np.zeros(len(candidates), np.float64)
    for concept in positive:
        total += head.log_probs(vectors, concept.classes)
    keep = np.ones(len(candidates), bool)
    rest = total / max(1, len(positive))  # what the other words see there (log, per word)
    for concept in against:  # pictures where the model sees it, rather than the rest, go
        seen = head.log_probs(vectors, concept.classes)
        shows = np.zeros(len(candidates), bool)
        for bound, ratio in LEAVE_OUT:
            with np.errstate(divide="ignore"):
                shows |= (seen >= np.log(bound)) & (seen >= rest + np.log(ratio))
        keep &= ~shows
    if keep.any():
        floor = min(np.log(MIN_PROBABILITY), total[keep].max() - np.log(WEAK_SPAN))
        keep &= total >= floor
    candidates, total = candidates[keep], total[keep]
    order = np.argsort(-total)[:top_k]
    return WordResults(
        [int(candidates[i]) for i in order],
        [float(np.exp(min(0.0, total[i]))) for i in order],
        parsed.notice,
    )
