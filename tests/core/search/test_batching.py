"""Searches that arrive together are embedded in one forward pass and answered as if each had
been searched alone."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.batching import QueueFullError, SearchQueue
from image_finder.core.search.searcher import Query, Searcher, SearchOptions


@pytest.fixture
def searcher(library, photos, lite0):
    index_folders([photos], library, lite0)
    return Searcher(library, lite0)


def test_searches_together_are_batched_and_answer_as_alone(searcher, photos):
    names = ("coffee", "horse", "rocket", "clock", "moon", "chelsea", "camera", "coins")
    queries = [Query.image((photos / f"{n}.jpg").read_bytes(), n) for n in names]
    queries += [Query.words("cat"), Query.item(searcher.store.item_by_path(photos / "page.jpg"))]
    options = SearchOptions(top_k=4)
    alone = [searcher.search(q, options) for q in queries]
    queue = SearchQueue(searcher, wait=0.5)  # long enough for all to join one batch
    try:
        prepared = [queue.prepare(q, options) for q in queries]
        futures = [queue.submit(p) for p in prepared]
        together = [f.result(timeout=60) for f in futures]
    finally:
        queue.close()
    assert queue.batches == 1 and queue.batched == 8  # the eight images in one forward pass
    for a, t in zip(alone, together, strict=True):
        assert [r.item.id for r in t.results] == [r.item.id for r in a.results]
        assert [r.match for r in t.results] == [r.match for r in a.results]
        assert [r.score for r in t.results] == pytest.approx([r.score for r in a.results], abs=1e-4)
    assert together[0].results[0].item.filename == "coffee.jpg"
    assert together[0].results[0].match.value == "identical"


def test_a_bad_image_fails_alone_and_the_queue_refuses_past_its_bound(searcher, photos):
    queue = SearchQueue(searcher, max_pending=2)
    try:
        with pytest.raises(ImageLoadError):
            queue.prepare(Query.image(b"not an image"), SearchOptions())
        with queue.reserve(), queue.reserve():
            assert queue.pending == 2
            with pytest.raises(QueueFullError), queue.reserve():
                pass
        assert queue.pending == 0
        buffer = io.BytesIO()
        Image.open(photos / "horse.jpg").save(buffer, "PNG")
        with queue.reserve():
            outcome = queue.submit(queue.prepare(Query.image(buffer.getvalue()), SearchOptions()))
            assert outcome.result(timeout=60).results[0].item.filename == "horse.jpg"
    finally:
        queue.close()
