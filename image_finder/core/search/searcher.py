"""Query by example: an image file, an in-memory image or a library item -> ranked results.

:meth:`Searcher.search` is the one route every face takes: the command line and the window's
worker both hand it a :class:`Query` and :class:`SearchOptions`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import EmptyLibraryError, ImageFinderError
from image_finder.core.embedding import precision, words
from image_finder.core.embedding.clip import CLOSE_SCORE as CLIP_CLOSE_SCORE
from image_finder.core.embedding.clip import ClipExtractor, TextVectors
from image_finder.core.embedding.clip import query_vector as clip_query_vector
from image_finder.core.embedding.models import PRECISIONS
from image_finder.core.learning import concepts
from image_finder.core.pictures import layout
from image_finder.core.pictures.images import ImageSource
from image_finder.core.pictures.video import is_video_name
from image_finder.core.search import examples
from image_finder.core.search.conditions import FactCache
from image_finder.core.search.grouping import PART_ROOM, grouped
from image_finder.core.search.page_matches import page_match
from image_finder.core.search.query import Query as Query
from image_finder.core.search.query import QueryKind as QueryKind
from image_finder.core.search.query_images import (
    QueryFeatures,
    embed_prepared,
    prepare_image,
)
from image_finder.core.search.results import (
    CLOSE_MATCH_SCORE as CLOSE_MATCH_SCORE,
)
from image_finder.core.search.results import (
    SAME_LAYOUT_SCORE as SAME_LAYOUT_SCORE,
)
from image_finder.core.search.results import (
    SAME_PICTURE_SCORE as SAME_PICTURE_SCORE,
)
from image_finder.core.search.results import (
    MatchKind as MatchKind,
)
from image_finder.core.search.results import (
    SearchOptions as SearchOptions,
)
from image_finder.core.search.results import (
    SearchOutcome as SearchOutcome,
)
from image_finder.core.search.results import (
    SearchResult as SearchResult,
)
from image_finder.core.search.results import (
    shown_score as shown_score,
)
from image_finder.core.stores.store import Store, require_library

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor

log = logging.getLogger(__name__)


EMPTY_LIBRARY = "The library is empty: add a folder of pictures to it first."
SAYING_AT_MOST = 5000  # pictures saying the words, among which a picture's likes are found
NO_COMBINED = (
    "Searching with an image and words together needs a CLIP model's vectors in the library "
    "(image-finder-cli index --text-model clip_vit_b32); without them, search with the image, "
    "or with the words alone (the words of ImageNet's classes)."
)
QUERY_CACHE_SIZE = 32  # queries whose features are kept (Back/Forward, changed options)
MAX_PART_ROOM = 64  # items fetched per result asked for, at most, for files of many parts


class Searcher:
    """Searches one store (a library, or a catalogue) with one loaded model; keep it alive to
    keep the model warm and the features of recent queries at hand."""

    def __init__(
        self, store: Store, extractor: Extractor, clip: ClipExtractor | None = None
    ) -> None:
        self.store = store
        self.extractor = extractor
        self.clip = clip  # a CLIP model, for the library's second (text) vector set
        self._text_vectors = TextVectors()
        self._features: OrderedDict[tuple[Any, ...], QueryFeatures] = OrderedDict()
        self._head: words.Head | None = None
        self._facts = FactCache()
        self._sample: tuple[int, np.ndarray] | None = None
        self._members: dict[tuple[int, str, float], np.ndarray] = {}

    def check(self) -> None:
        """Raise EmptyLibraryError or ModelMismatchError when nothing can be searched."""
        if self.store.count() == 0:
            raise EmptyLibraryError(EMPTY_LIBRARY)
        self.store.check_model(self.extractor.name, self.extractor.dim)
        library = self.store.as_library()
        if library is not None:
            precision.follow_library(self.extractor, library)
        elif self.extractor.requested_precision == "auto":  # the one the catalogue's job ran in
            made_in = self.store.meta_value("precision")  # "auto" when each of its actors chose
            if made_in in PRECISIONS and made_in != "auto":
                self.extractor.set_precision(made_in, "auto: the catalogue's vectors")

    def embed_query(
        self, source: ImageSource, options: SearchOptions = SearchOptions()
    ) -> QueryFeatures:
        """The query's vectors: one, or one per variant the options ask for (8 with rotations,
        twice as many with crops), and its layouts if it has no colour. Raises ImageLoadError."""
        prepared = prepare_image(source, options, self.extractor)
        return self._searched(embed_prepared([prepared], self.extractor)[0])

    def _searched(self, features: QueryFeatures) -> QueryFeatures:
        """The model's features in the space the library is searched in (its adapter's)."""
        if self.store.active_adapter is None:
            return features
        return dataclasses.replace(features, vectors=self.store.searched(features.vectors))

    def search(
        self,
        query: Query,
        options: SearchOptions = SearchOptions(),
        features: QueryFeatures | None = None,
    ) -> SearchOutcome:
        """Rank the library against ``query``. Raises ImageLoadError for a query image that
        cannot be read, EmptyLibraryError, ModelMismatchError, or ImageFinderError for a library
        item that is gone. ``features``: the query's, already embedded by the model (several
        queries embedded in one batch, core/search/batching.py)."""
        started = time.perf_counter()
        self.check()
        if features is not None:
            features = self._searched(features)
        query.conditions.check()
        restrict = self._restrict(query, options)
        if restrict is not None and not len(restrict):
            outcome = SearchOutcome(query.label, self.extractor.name)  # nothing matches
        elif query.kind is QueryKind.CONCEPT:
            outcome = self._search_concept(query, options, restrict)
        elif query.text and query.kind is not QueryKind.TEXT and not self.clip_ready:
            outcome = self._like_and_saying(query, options, features, restrict)
        elif query.text:
            if query.compound or not (self.clip_ready or query.kind is QueryKind.TEXT):
                raise ImageFinderError(NO_COMBINED)
            search_words = self._search_clip if self.clip_ready else self._search_words
            outcome = self._with_written(query, options, restrict, search_words)
        elif query.compound:
            outcome = self._search_examples(query, options, restrict)
        elif query.kind is QueryKind.FILE and features is None and is_video_name(query.path):
            outcome = self._search_with_clip(query, options)
        else:
            outcome = self._search_image(query, options, features, restrict)
        if query.compound or query.conditions:
            outcome.parts = query.parts_json()
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _with_written(
        self,
        query: Query,
        options: SearchOptions,
        restrict: np.ndarray | None,
        search_words: Callable[[Query, SearchOptions, np.ndarray | None], SearchOutcome],
    ) -> SearchOutcome:
        """A search by words: the pictures that say them (their text, core/search/
        text_search.py) first, then those that show them (the model's words)."""
        from image_finder.core.embedding.words import UnknownWordsError
        from image_finder.core.search import text_search

        written, readable = [], False
        if query.kind is QueryKind.TEXT:
            written = text_search.matches(self.store, query.text, options.top_k, restrict)
            readable = bool(written) or text_search.has_texts(self.store)
        try:
            if self.store.as_library() is None and readable:  # a catalogue: its text only
                no = "" if written else f"No picture says {query.label}."
                outcome = SearchOutcome(query.label, self.extractor.name, notice=no)
            else:
                outcome = search_words(query, options, restrict)
        except UnknownWordsError as exc:
            if not readable:
                raise
            notice = (
                "" if written else f"No picture says {query.label}; as for what they show: {exc}"
            )
            outcome = SearchOutcome(query.label, self.extractor.name, notice=notice)
        shown = [dataclasses.replace(r, matched="picture") for r in outcome.results]
        if written:
            items = self.store.items(i for i, _, _ in written)
            said = [SearchResult(0, score, items[i], matched="text", text=hit)
                    for i, score, hit in written if i in items]  # fmt: skip
            ids = {r.item.id for r in said}
            shown = said + [r for r in shown if r.item.id not in ids]
            if options.group_parts:
                shown = grouped(shown)
        outcome.results = [dataclasses.replace(r, rank=n)
                           for n, r in enumerate(shown[: options.top_k], start=1)]  # fmt: skip
        return outcome

    def _like_and_saying(
        self,
        query: Query,
        options: SearchOptions,
        features: QueryFeatures | None,
        restrict: np.ndarray | None,
    ) -> SearchOutcome:
        """A picture (or several examples) with words, without a CLIP model: the pictures most
        like it among those whose text says the words ("like this receipt, saying Adler")."""
        from image_finder.core.search import text_search

        if not text_search.has_texts(self.store):
            raise ImageFinderError(NO_COMBINED)
        written = text_search.matches(self.store, query.text, SAYING_AT_MOST, restrict)
        if not written:
            return SearchOutcome(query.label, self.extractor.name,
                                 notice=f"No picture says “{query.text}”.")  # fmt: skip
        hits = {i: hit for i, _, hit in written}
        saying = np.asarray(sorted(hits), np.int64)
        base = query.without_words()
        if base.compound:
            outcome = self._search_examples(base, options, saying)
        else:
            outcome = self._search_image(base, options, features, saying)
        outcome.query = query.label
        outcome.results = [dataclasses.replace(r, matched="text", text=hits.get(r.item.id))
                           for r in outcome.results]  # fmt: skip
        return outcome

    def _search_with_clip(self, query: Query, options: SearchOptions) -> SearchOutcome:
        """A video file as the query (core/search/clips.py): the videos holding it, each at the
        moment where it starts there, scored by the share of the clip matched, and the photos
        that are frames of it, best first."""
        from image_finder.core.search.clips import search_clip

        clip = search_clip(self.store, self.extractor, query.path, top_k=options.top_k)
        found = [(m.item, m.score) for m in clip.videos] + clip.photos
        found.sort(key=lambda p: -p[1])
        results = [SearchResult(n, score, item)
                   for n, (item, score) in enumerate(found[: options.top_k], start=1)]  # fmt: skip
        return SearchOutcome(query.label, self.extractor.name, results)

    def _restrict(self, query: Query, options: SearchOptions) -> np.ndarray | None:
        """Ids the folder and conditions allow (None: all)."""
        restrict = self.store.ids_under(options.folder) if options.folder else None
        if not query.conditions:
            return restrict
        library = require_library(self.store, "A condition other than a folder")
        matching = self._facts.matching(library, query.conditions)
        restrict = matching if restrict is None else np.intersect1d(restrict, matching)
        if query.conditions.concept:
            concept = concepts.require(library, query.conditions.concept)
            key = (library.generation, concept.name, concept.updated)
            if key not in self._members:
                self._members = {key: concepts.members(library, concept)}
            members = self._members[key]
            restrict = members if restrict is None else np.intersect1d(restrict, members)
        return restrict

    def _search_concept(
        self, query: Query, options: SearchOptions, restrict: np.ndarray | None
    ) -> SearchOutcome:
        """The pictures most likely to show a concept, each scored by that probability."""
        concept = concepts.require(require_library(self.store, "A concept"), query.concept)
        norm = float(np.linalg.norm(concept.weights)) or 1.0
        unscored = dataclasses.replace(options, min_score=None)
        outcome = self.search_vectors((concept.weights / norm)[None], unscored, restrict=restrict)
        results: list[SearchResult] = []
        for r in outcome.results:
            probability = float(1 / (1 + np.exp(-(r.score * norm + concept.bias))))
            if options.min_score is None or shown_score(probability) >= options.min_score:
                results.append(dataclasses.replace(r, rank=len(results) + 1, score=probability))
        outcome.results = results
        outcome.query = query.label
        outcome.close_score = concepts.MATCH_PROBABILITY
        return outcome

    def _search_image(
        self,
        query: Query,
        options: SearchOptions,
        features: QueryFeatures | None,
        restrict: np.ndarray | None,
    ) -> SearchOutcome:
        if features is None:
            features = self._query_features(query, options)
        outcome = self.search_vectors(
            features.vectors, options, features.layouts, restrict, features.page_print
        )
        outcome.query = query.path or query.label
        if query.kind is not QueryKind.IMAGE:
            _query_first(outcome)
        same_layout = self._same_layout(outcome.results, features.signature, query)
        outcome.results = _with_matches(
            outcome.results, query, features.digest or self._query_hash(query), same_layout
        )
        return outcome

    def _search_examples(
        self, query: Query, options: SearchOptions, restrict: np.ndarray | None
    ) -> SearchOutcome:
        """Several examples and examples to leave out, as one vector (core/search/examples.py); the
        examples found are marked as the query, a negative's near-copies are left out."""
        plain = dataclasses.replace(options, rotations=False, crops=False)

        def vectors(parts: Sequence[Query]) -> np.ndarray:
            rows = [self._query_features(p, plain).vectors[0] for p in parts]
            return np.stack(rows) if rows else np.zeros((0, self.extractor.dim), np.float32)

        positives, negatives = vectors(query.examples), vectors(query.unlike)
        vector = examples.combine(positives, negatives, self._background())
        room = dataclasses.replace(options, top_k=options.top_k + 4 * len(query.unlike) + 8)
        outcome = self.search_vectors(vector[None], room, restrict=restrict)
        left_out = {p.item_id for p in query.unlike if p.kind is QueryKind.ITEM}
        found = [r for r in outcome.results if r.item.id not in left_out]
        stored = self.store.vectors([r.item.id for r in found])
        copies = examples.near_copies(stored, negatives)
        kept = [r for r, copy in zip(found, copies, strict=True) if not copy][: options.top_k]
        wanted = {p.path for p in query.examples if p.kind is not QueryKind.IMAGE}
        outcome.results = [
            dataclasses.replace(
                r, rank=n, match=MatchKind.QUERY if r.path in wanted else MatchKind.NONE
            )
            for n, r in enumerate(kept, start=1)
        ]
        outcome.query = query.summary
        return outcome

    def _background(self) -> np.ndarray:
        """A fixed sample of the library's vectors, kept until the library changes."""
        generation = self.store.generation
        if self._sample is None or self._sample[0] != generation:
            with self.store.snapshot() as source:
                _, sample = source.sample(examples.BACKGROUND_SAMPLE)
            self._sample = (generation, sample)
        return self._sample[1]

    def _results(self, ids: Sequence[int], scores: Sequence[float]) -> list[SearchResult]:
        """Ranked results of those ids still in the library (one may go meanwhile)."""
        items = self.store.items(ids)
        ranked = [(i, s) for i, s in zip(ids, scores, strict=True) if i in items]
        return [SearchResult(rank, s, items[i]) for rank, (i, s) in enumerate(ranked, start=1)]

    @property
    def clip_ready(self) -> bool:
        """A CLIP model is loaded and the library has its vectors."""
        return self.clip is not None and self.store.text_model == self.clip.name

    def _search_clip(
        self, query: Query, options: SearchOptions, restrict: np.ndarray | None
    ) -> SearchOutcome:
        assert self.clip is not None
        library = require_library(self.store, "Searching by words")
        image = None
        if query.kind is not QueryKind.TEXT:
            image = self.clip.embed_images([query.source])[0]
        vector = clip_query_vector(self.clip, query.text, image)
        ids, scores = self._text_vectors.rank(library, vector, options.top_k, restrict)
        results = self._results(ids, scores)
        done, total = library.text_counts()
        notice = (
            f"Searched {done:,} of {total:,} pictures: the others are not indexed for words yet."
            if done < total
            else ""
        )
        return SearchOutcome(
            query.label, self.clip.name, results, notice=notice, close_score=CLIP_CLOSE_SCORE
        )

    def _search_words(
        self, query: Query, options: SearchOptions, restrict: np.ndarray | None
    ) -> SearchOutcome:
        library = require_library(self.store, "Searching by words")
        if self._head is None or self._head.model != library.model:
            self._head = words.keep_head(library, self.extractor)
        if self._head is None:
            raise ImageFinderError(
                f"{self.extractor.spec.title} has no ImageNet classes to search by words."
            )
        parsed = words.Vocabulary.imagenet().require(query.text)
        found = words.rank(
            library,
            self._head,
            parsed,
            options.top_k,
            nprobe=options.nprobe,
            restrict_to=restrict,
        )
        return SearchOutcome(
            query.label,
            self.extractor.name,
            self._results(found.ids, found.scores),
            notice=found.notice,
            close_score=words.CLOSE_PROBABILITY,
        )

    def _same_layout(
        self, results: Sequence[SearchResult], signature: bytes, query: Query
    ) -> set[int]:
        """Ids of the high-scoring results whose brightness layout is the query's."""
        if query.kind is QueryKind.ITEM:
            signature = self.store.layouts([query.item_id]).get(query.item_id, b"")
        ids = [r.item.id for r in results if SAME_LAYOUT_SCORE <= r.score < SAME_PICTURE_SCORE]
        if not signature or not ids:
            return set()
        stored = self.store.layouts(ids)
        found = layout.correlations([signature], list(stored.values()))
        return {i for i, c in zip(stored, found, strict=True) if c >= layout.MATCH}

    def _query_hash(self, query: Query) -> str | None:
        """The query's content hash, to tell byte-identical copies."""
        if query.kind is QueryKind.ITEM:
            item = self.store.items([query.item_id]).get(query.item_id)
            return item.content_hash if item else None
        if query.kind is QueryKind.IMAGE:
            return hashlib.blake2b(query.data, digest_size=16).hexdigest()
        from image_finder.core.pictures.scanning import file_hash

        try:
            return file_hash(query.path)
        except OSError:
            return None

    def _query_features(self, query: Query, options: SearchOptions) -> QueryFeatures:
        """Features of the last few queries are kept, so that Back/Forward and changed options
        search again without decoding."""
        if query.kind is QueryKind.ITEM:
            if not self.store.items([query.item_id]):
                raise ImageFinderError(f"{query.label} is no longer in the library.")
            # Its stored vector is enough for a plain search, and is all there is while its
            # drive is offline.
            if not options.variants or not os.path.exists(query.path):
                page = self.store.page_prints([query.item_id]).get(query.item_id, b"")
                return QueryFeatures(self.store.vectors([query.item_id]), page_print=page)
        key = (*query.key, _file_stamp(query.path), options.rotations, options.crops,
               self.store.space)  # fmt: skip
        cached = self._features.get(key)
        if cached is not None:
            self._features.move_to_end(key)
            return cached
        features = self.embed_query(query.source, options)
        # hashed once with the features: searching again reads the file no more
        features = dataclasses.replace(features, digest=self._query_hash(query))
        self._features[key] = features
        while len(self._features) > QUERY_CACHE_SIZE:
            self._features.popitem(last=False)
        return features

    def search_vectors(
        self,
        vectors: np.ndarray,
        options: SearchOptions,
        layouts: Sequence[bytes] = (),
        restrict: np.ndarray | None = None,
        page: bytes = b"",
    ) -> SearchOutcome:
        """Rank the library against one or more query vectors (variants of one query), among
        ``restrict`` ids when given (else those of ``options.folder``). With ``layouts`` (a
        query with no colour), pictures with the same brightness layout come first; with
        ``page`` (the query's page print), the page it is a photo of."""
        if restrict is None and options.folder:
            restrict = self.store.ids_under(options.folder)
        if restrict is not None and not len(restrict):
            return SearchOutcome("", self.extractor.name)
        room = PART_ROOM if options.group_parts else 1  # a video's moments fill several
        while True:  # a long document's pages can fill the room: more is fetched
            results, found = self._ranked(vectors, options, layouts, restrict, page, room)
            if len(results) >= options.top_k or found < options.top_k * room:
                break
            if not options.group_parts or room >= MAX_PART_ROOM:
                break
            room *= 4
        results = [dataclasses.replace(r, rank=n) for n, r in enumerate(results, start=1)]
        return SearchOutcome("", self.extractor.name, results[: options.top_k])

    def _ranked(
        self,
        vectors: np.ndarray,
        options: SearchOptions,
        layouts: Sequence[bytes],
        restrict: np.ndarray | None,
        page: bytes,
        room: int,
    ) -> tuple[list[SearchResult], int]:
        """The results (grouped when the options say) of the ``top_k * room`` best items, and
        how many items were found."""
        k = max(1, options.top_k * room, layout.SHORTLIST if layouts else 0)
        scores, ids = self.store.vector_index.search(
            vectors, k, nprobe=options.nprobe, restrict_to=restrict
        )
        best: dict[int, float] = {}
        for row_scores, row_ids in zip(scores, ids, strict=True):
            for score, image_id in zip(row_scores, row_ids, strict=True):
                if image_id >= 0 and score > best.get(int(image_id), -2.0):
                    best[int(image_id)] = float(score)
        found = len(best)
        matched = self._grey_matches(best, layouts) if layouts else {}
        first = page_match(self.store, vectors[0], page, best, restrict)
        if first is not None:
            best[first[0]] = max(best.get(first[0], -2.0), first[1])
        ranked = sorted(
            best.items(),
            key=lambda kv: (-1, 0.0) if first is not None and kv[0] == first[0]
            else (0, -matched[kv[0]]) if kv[0] in matched else (1, -kv[1]),
        )[: options.top_k * room]  # fmt: skip
        if options.min_score is not None:  # on the score as shown (two decimals)
            ranked = [
                (i, s) for i, s in ranked if shown_score(s) >= options.min_score or i in matched
            ]
        items = self.store.items(i for i, _ in ranked)
        scans = self.store.scans(list(items))
        results = [
            SearchResult(0, min(1.0, max(-1.0, score)), items[image_id], image_id in matched,
                         scan=scans.get(image_id))
            for image_id, score in ranked
            if image_id in items
        ]  # fmt: skip
        if options.group_parts:
            results = grouped(results, {i: s.series_uid for i, s in scans.items() if s.series_uid})
        return results, found

    def _grey_matches(
        self, candidates: Iterable[int], layouts: Sequence[bytes]
    ) -> dict[int, float]:
        """Candidates whose stored layout correlates with the query's at layout.MATCH or more,
        with that correlation."""
        stored = self.store.layouts(list(candidates))
        ids = list(stored)
        found = layout.correlations(layouts, [stored[i] for i in ids])
        return {i: float(c) for i, c in zip(ids, found, strict=True) if c >= layout.MATCH}


def _with_matches(
    results: list[SearchResult], query: Query, digest: str | None, same_layout: set[int]
) -> list[SearchResult]:
    """Mark the query itself, byte-identical copies and the same picture."""
    marked = []
    for r in results:
        if query.kind is not QueryKind.IMAGE and r.path == query.path:
            kind = MatchKind.QUERY
        elif digest is not None and r.item.content_hash == digest:
            kind = MatchKind.IDENTICAL
        elif r.grey_match or r.score >= SAME_PICTURE_SCORE or r.item.id in same_layout:
            kind = MatchKind.SAME_PICTURE
        else:
            kind = MatchKind.NONE
        marked.append(dataclasses.replace(r, match=kind))
    return marked


def _file_stamp(path: str) -> tuple[int, int]:
    """A file's size and time: a query file changed since it was embedded is embedded again."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns) if st else (0, 0)


def _query_first(outcome: SearchOutcome) -> None:
    """When the query is itself in the library and ties for the best score (identical images),
    it is listed first."""
    results = outcome.results
    for n, result in enumerate(results[1:], start=1):
        if result.score < results[0].score - 1e-4:
            return
        if result.path == outcome.query:
            results.insert(0, results.pop(n))
            outcome.results = [
                dataclasses.replace(r, rank=rank) for rank, r in enumerate(results, start=1)
            ]
            return
