"""CLIP: loading, the second vector set (progress, cancel, resume), open-vocabulary and combined
queries, the CLI. The model is a tiny randomly initialised open_clip model saved to a file: the
loading and scoring code is the real one; the quality of real CLIP weights is not measured."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from image_finder.core.embedding import clip
from image_finder.core.embedding.models import ModelLoadError
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.searcher import NO_COMBINED, Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library
from tests.conftest import TINY_CLIP as TINY


def test_the_model_loads_from_a_file_and_embeds_words(tiny_clip):
    vectors = tiny_clip.embed_text(["a dog on a beach", "a red car"])
    assert vectors.shape == (2, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    assert tiny_clip.name == "clip_tiny_test" and tiny_clip.min_decode_size == 65


def test_offline_without_weights_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelLoadError, match="not downloaded"):
        clip.ClipExtractor.load_clip("clip_vit_b32", device="cpu")
    assert time.perf_counter() - started < 10
    with pytest.raises(ModelLoadError, match="unknown text model"):
        clip.ClipExtractor.load_clip("clip_nonsense")


def test_terms_split_like_rclip():
    terms = clip.split_terms("a t-shirt on a chair +sunlight -people")
    assert terms.positive == ["a t-shirt on a chair", "sunlight"]
    assert terms.negative == ["people"]


def test_the_text_vector_set_resumes_after_a_cancel(photos, tmp_path, lite0, tiny_clip):
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)
        total = library.count()
        seen = []
        calls = iter(range(1000))
        report = clip.index_text_vectors(
            library, tiny_clip, lambda d, t: seen.append((d, t)), lambda: next(calls) >= 1
        )
        assert report.cancelled and 0 < library.text_counts()[0] < total
        assert report.remaining == total - library.text_counts()[0]
        report = clip.index_text_vectors(library, tiny_clip)  # resumes with what is left
        assert not report.cancelled and library.text_counts() == (total, total)
        assert report.embedded == total - seen[-1][0]
        assert library.text_model == "clip_tiny_test"

        # a changed picture loses its text vector until the next run
        changed = photos / "coffee.jpg"
        changed.write_bytes((photos / "chelsea.jpg").read_bytes())
        index_folders([photos], library, lite0)
        assert library.text_counts() == (total - 1, total)
        clip.index_text_vectors(library, tiny_clip)
        assert library.text_counts() == (total, total)


def test_words_and_image_with_words_rank_by_the_clip_vectors(photos, tmp_path, lite0, tiny_clip):
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)
        clip.index_text_vectors(library, tiny_clip)
        _, ids, stored = library.side_data.text_vectors()
        searcher = Searcher(library, lite0, tiny_clip)
        assert searcher.clip_ready

        outcome = searcher.search(Query.words("a cat -a dog"), SearchOptions(top_k=5))
        words = tiny_clip.embed_text(["a cat", "a dog"])
        query = (words[0] - words[1]) / np.linalg.norm(words[0] - words[1])
        expected = ids[np.argsort(-(stored @ query))[:5]]
        assert [r.item.id for r in outcome.results] == list(expected)
        assert outcome.model == "clip_tiny_test"

        combined = Query.file(photos / "coffee.jpg").with_words("at night")
        outcome = searcher.search(combined, SearchOptions(top_k=3))
        image = tiny_clip.embed_images([photos / "coffee.jpg"])[0]
        total = image + tiny_clip.embed_text(["at night"])[0]
        expected = ids[np.argsort(-(stored @ (total / np.linalg.norm(total))))[:3]]
        assert [r.item.id for r in outcome.results] == list(expected)
        assert outcome.query.endswith("+ “at night”")

        plain = Searcher(library, lite0)  # without CLIP: an honest refusal
        with pytest.raises(Exception, match="needs a CLIP model"):
            plain.search(combined)
        assert plain.search(Query.words("cat")).model == "efficientnet_lite0"
    assert "needs a CLIP model" in NO_COMBINED


def test_cli_index_text_model_then_search_any_words(photos, tmp_path, capsys, tiny_clip):
    from image_finder.cli import main

    data = str(tmp_path / "lib")
    weights = tiny_clip.weights_source
    args = ["--data-dir", data, "index", str(photos), "--model", "efficientnet_lite0"]
    assert main([*args, "--text-model", TINY.name, "--text-weights", weights, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    n = len(list(photos.iterdir()))
    assert report["text"] == {"model": TINY.name, "indexed": n, "images": n, "added": n}

    search = ["--data-dir", data, "search", "--text-weights", weights]
    assert main([*search, "--text", "a dog on a beach", "-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == TINY.name and len(out["results"]) == 3
    assert out["query"] == "“a dog on a beach”"
    code = main([*search, str(photos / "coffee.jpg"), "--text", "at night", "-k", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["query"] == "coffee.jpg + “at night”" and len(out["results"]) == 2
    assert main(["--data-dir", data, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["text_model"] == TINY.name and status["text_indexed"] == n


def test_another_text_model_replaces_the_set(photos, tmp_path, lite0, tiny_clip, monkeypatch):
    import dataclasses

    other = dataclasses.replace(TINY, name="clip_tiny_other")
    monkeypatch.setitem(clip.CLIP_MODELS, other.name, other)
    second = clip.ClipExtractor.load_clip(
        other.name, weights=tiny_clip.weights_source, device="cpu"
    )
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)
        clip.index_text_vectors(library, tiny_clip)
        total = library.count()
        report = clip.index_text_vectors(library, second)
        assert library.text_model == other.name and report.embedded == total
        assert library.text_counts() == (total, total)
        assert not Searcher(library, lite0, tiny_clip).clip_ready  # not its vectors any more
