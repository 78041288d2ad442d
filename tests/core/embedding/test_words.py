"""Search by words with the library's ImageNet head: word -> classes, scoring, the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import FileFacts, NewImage
from image_finder.core.embedding import words
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.searcher import Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library

VOCABULARY = words.Vocabulary.imagenet()


def classes_named(name: str) -> set[int]:
    return {i for i, n in enumerate(VOCABULARY.class_names) if n == name}


def test_a_word_reaches_its_class_its_synonyms_and_every_class_below_it():
    dog = VOCABULARY.lookup("dog")
    assert dog is not None and len(dog) == 118  # every breed, through WordNet's hypernyms
    assert classes_named("golden retriever") <= set(dog)
    assert VOCABULARY.lookup("Domestic dog") == dog  # a synonym, any case
    assert VOCABULARY.lookup("dogs") == dog  # a plural
    assert VOCABULARY.lookup("butterflies") == VOCABULARY.lookup("butterfly")
    bird = set(VOCABULARY.lookup("bird") or ())
    assert len(bird) == 59 and not bird & set(dog)
    assert classes_named("tabby") <= set(VOCABULARY.lookup("cat") or ())
    assert VOCABULARY.lookup("xyzzy") is None


def test_phrases_plus_and_minus_terms_and_unknown_words():
    parsed = VOCABULARY.parse('a golden retriever on the seashore -"tennis ball" +grass')
    assert [(c.text, c.sign) for c in parsed.concepts] == [
        ("golden retriever", 1),
        ("seashore", 1),
        ("tennis ball", -1),
    ]
    assert parsed.unknown == ["grass"] and parsed.notice.startswith("Not known, left out: grass")

    with pytest.raises(words.UnknownWordsError) as caught:
        VOCABULARY.require("dgo")
    assert "dog" in caught.value.suggestions and "Close known words" in str(caught.value)
    with pytest.raises(words.UnknownWordsError, match="too general"):
        VOCABULARY.require("object")
    with pytest.raises(words.UnknownWordsError, match="Type a word"):
        VOCABULARY.require("   ")
    with pytest.raises(words.UnknownWordsError):  # only a word against: nothing to rank by
        VOCABULARY.require("-dog")
    assert "dog" in VOCABULARY.words() and "entity" not in VOCABULARY.words()


def test_scoring_on_hand_made_vectors_follows_the_head():
    """Three images, a head of three classes made by hand: each word finds its image first,
    a group word finds both of its classes, and a minus term pushes one down."""
    eye = np.eye(4, dtype=np.float32)
    head = words.Head("m", weight=eye[:3] * 4, bias=np.zeros(3, np.float32), scale=1.0)
    vectors = eye[:3]  # image i is class i's direction
    cat = head.log_probs(vectors, [0])
    assert np.argmax(cat) == 0 and np.exp(cat[0]) == pytest.approx(np.e**4 / (np.e**4 + 2))
    group = head.log_probs(vectors, [0, 1])
    assert group[0] == pytest.approx(group[1]) and group[2] < group[0]
    scale = words.Head("m", eye[:3] * 4, np.zeros(3, np.float32), scale=3.0)
    assert np.exp(scale.log_probs(vectors, [0])[0]) > np.exp(cat[0])  # longer features: surer


def _library_with_head(tmp_path, vectors, head) -> Library:
    library = Library(tmp_path / "lib")
    folder = tmp_path / "files"
    folder.mkdir()
    with library.writing():
        info = library.add_folder(folder)
        rows = [
            NewImage(info.id, str(folder / f"{i}.jpg"), FileFacts(1, 1, f"h{i}"))
            for i in range(len(vectors))
        ]
        library.apply_changes(model=head.model, added=rows, added_vectors=vectors)
    head.save(library.folder)
    return library


def test_rank_uses_stored_vectors_only(tmp_path):
    rng = np.random.default_rng(0)
    dim = 16
    weight = rng.normal(size=(1000, dim)).astype(np.float32)
    vectors = rng.normal(size=(300, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    head = words.Head("efficientnet_lite0", weight, np.zeros(1000, np.float32), scale=5.0)
    dog = VOCABULARY.lookup("dog")
    assert dog is not None
    expected = np.argsort(-head.log_probs(vectors, dog))[:5] + 1  # ids start at 1
    with _library_with_head(tmp_path, vectors, head) as library:
        parsed = VOCABULARY.require("dog")
        found = words.rank(library, head, parsed, 5)
        assert found.ids == list(expected)
        assert all(0 < s <= 1 for s in found.scores) and found.scores == sorted(found.scores)[::-1]
        bird = VOCABULARY.lookup("bird")
        assert bird is not None
        against = words.rank(library, head, VOCABULARY.require("dog -bird"), 300)
        p_bird = np.exp(head.log_probs(vectors, bird))
        p_dog = np.exp(head.log_probs(vectors, [c for c in dog if c not in set(bird)]))
        shows_bird = np.zeros(len(p_bird), bool)
        for bound, ratio in words.LEAVE_OUT:
            shows_bird |= (p_bird >= bound) & (p_bird >= ratio * p_dog)
        assert shows_bird.any()
        assert not any(shows_bird[i - 1] for i in against.ids)  # left out
        assert against.ids[:5] == found.ids  # the dogs without birds keep their scores


def test_a_real_library_finds_the_cat_by_word(photos, tmp_path, lite0):
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)
        assert (library.folder / words.HEAD_FILE).exists()  # kept with the library's model
        searcher = Searcher(library, lite0)
        outcome = searcher.search(Query.words("cat"), SearchOptions(top_k=3))
        assert outcome.results[0].path.endswith("chelsea.jpg") and outcome.close_matches
        assert outcome.query == "“cat”" and outcome.results[0].score > 0.5
        horse = searcher.search(Query.words("horses"), SearchOptions(top_k=1)).results[0]
        assert horse.path.endswith("horse.jpg")
        animals = searcher.search(Query.words("animal"), SearchOptions(top_k=8)).results
        no_cat = searcher.search(Query.words("animal -cat"), SearchOptions(top_k=8)).results
        assert "chelsea.jpg" in [os.path.basename(r.path) for r in animals]
        assert "chelsea.jpg" not in [os.path.basename(r.path) for r in no_cat]
        score = {os.path.basename(r.path): r.score for r in animals}
        assert no_cat[0].path.endswith("horse.jpg")
        assert no_cat[0].score == pytest.approx(score["horse.jpg"], abs=0.03)
        with pytest.raises(ImageFinderError, match="Close known words"):
            searcher.search(Query.words("dgo"))


def test_cli_search_by_words(photos, tmp_path, capsys):
    from image_finder.cli import main

    data = str(tmp_path / "lib")
    assert main(["--data-dir", data, "index", str(photos), "--model", "efficientnet_lite0"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "search", "--text", "cat", "-k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "“cat”" and out["results"][0]["filename"] == "chelsea.jpg"
    assert set(out["results"][0]) >= {"rank", "score", "path", "indexed_at"}
    assert main(["--data-dir", data, "search", "--text", "cat dgo", "-k", "2"]) == 0
    text = capsys.readouterr().out
    assert "Not known, left out: dgo" in text and "chelsea.jpg" in text
    code = main(["--data-dir", data, "search", "--text", "xyzzy"])
    assert code == 1 and "not a word this model knows" in capsys.readouterr().err
    code = main(["--data-dir", data, "search", str(photos / "coffee.jpg"), "--text", "at night"])
    err = capsys.readouterr().err
    assert code == 1 and "needs a CLIP model" in err and "--text-model" in err


def _class_library(tmp_path, picks: dict[str, list]):
    """A head of 1,000 orthogonal-ish class rows and one picture per entry of ``picks``: a
    picture made of the rows of its classes (it shows those classes, nothing else)."""
    rng = np.random.default_rng(4)
    dim = 1024
    weight = np.linalg.qr(rng.normal(size=(dim, dim)))[0][:1000].astype(np.float32) * 12
    head = words.Head("m", weight, np.zeros(1000, np.float32), scale=1.0)
    vectors = []
    for classes in picks.values():  # a class, or (class, weight) for a weaker share of it
        parts = [c if isinstance(c, tuple) else (c, 1.0) for c in classes]
        v = sum(w * weight[c] for c, w in parts)
        vectors.append(v / np.linalg.norm(v))
    return _library_with_head(tmp_path, np.asarray(vectors, np.float32), head), head


def test_minus_leaves_out_what_shows_the_word_and_keeps_the_other_scores(tmp_path):
    daisy = VOCABULARY.lookup("daisy")
    flower = VOCABULARY.lookup("flower")
    assert daisy and flower and set(daisy) < set(flower)
    sunflower = next(c for c in flower if c not in daisy)
    picks = {"daisy": [daisy[0]], "sunflower": [sunflower], "both": [daisy[0], sunflower]}
    library, head = _class_library(tmp_path, picks)
    with library:
        plain = words.rank(library, head, VOCABULARY.require("flowers"), 10)
        minus = words.rank(library, head, VOCABULARY.require("flowers -daisy"), 10)
    names = dict(zip(range(1, 4), picks, strict=True))
    assert {names[i] for i in plain.ids} == {"daisy", "sunflower", "both"}
    assert [names[i] for i in minus.ids] == ["sunflower"]  # pictures with a daisy: not listed
    before = plain.scores[plain.ids.index(2)]
    assert minus.scores[0] == pytest.approx(before, abs=1e-3)  # the sunflower keeps its score


def test_minus_keeps_a_flower_the_model_sees_a_little_of_the_word_in(tmp_path):
    """ "flowers -daisy": a sunflower that the model gives "daisy" 0.06 (and sunflower 0.89)
    is a sunflower, not a daisy: it stays, with its score; the daisy goes."""
    daisy = VOCABULARY.lookup("daisy")
    flower = VOCABULARY.lookup("flower")
    assert daisy and flower
    sunflower = next(c for c in flower if c not in daisy)
    picks = {"daisy": [daisy[0]], "sunflower": [sunflower, (daisy[0], 0.72)]}
    library, head = _class_library(tmp_path, picks)
    with library:
        plain = words.rank(library, head, VOCABULARY.require("flowers"), 10)
        minus = words.rank(library, head, VOCABULARY.require("flowers -daisy"), 10)
        vectors = library.vectors([2], original=True)
    assert float(np.exp(head.log_probs(vectors, daisy))[0]) > 0.05  # the bound alone: out
    assert minus.ids == [2]
    rest = [c for c in flower if c not in daisy]
    assert minus.scores[0] == pytest.approx(float(np.exp(head.log_probs(vectors, rest))[0]),
                                            abs=1e-3)  # fmt: skip
    assert set(plain.ids) == {1, 2}


def test_pictures_that_show_none_of_the_words_are_no_results(tmp_path):
    retriever = VOCABULARY.lookup("golden retriever")
    bear = VOCABULARY.lookup("teddy bear")
    assert retriever and bear
    library, head = _class_library(
        tmp_path, {"dog": [retriever[0]], "bear": [bear[0]], "plane": [404]}
    )
    with library:
        found = words.rank(library, head, VOCABULARY.require("golden retriever"), 24)
    assert found.ids == [1]  # not a teddy bear and a plane at 0.00 after it
    assert all(s >= words.MIN_PROBABILITY for s in found.scores)
    library, head = _class_library(tmp_path / "weak", {"bear": [bear[0]], "plane": [404]})
    with library:
        found = words.rank(library, head, VOCABULARY.require("golden retriever"), 24)
    assert len(found.ids) <= 2 and all(s < words.MIN_PROBABILITY for s in found.scores)
