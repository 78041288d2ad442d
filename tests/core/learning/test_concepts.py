"""Concepts: a calibrated classifier learnt from examples, kept by name, used as a query and
as a condition."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.learning import concepts
from image_finder.core.search.conditions import Conditions
from tests.helpers import run


def test_a_concept_s_probability_is_calibrated_on_hand_made_vectors():
    """Two overlapping clouds: among the pictures given probability ~p, about p show it."""
    rng = np.random.default_rng(0)
    d = 16
    centre = np.zeros(d, np.float32)
    centre[0] = 1.0
    pos = centre + 0.9 * rng.normal(size=(600, d)).astype(np.float32)
    neg = -0.3 * centre + 0.9 * rng.normal(size=(2400, d)).astype(np.float32)
    weights, bias = concepts.train(pos[:300], neg[:1200])
    concept = concepts.Concept("c", "m", weights, bias, 300, 1200, 0.0, 0.0)
    held = np.concatenate([pos[300:], neg[1200:]])
    truth = np.r_[np.ones(300), np.zeros(1200)]
    p = concept.probabilities(held)
    assert p.min() >= 0 and p.max() <= 1
    for low, high in ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.0)):
        chosen = (p >= low) & (p < high)
        if chosen.sum() >= 30:  # the share that shows it, where the concept says low..high
            assert low - 0.12 <= truth[chosen].mean() <= high + 0.12, (low, high)
    assert truth[p >= 0.5].mean() > 0.6 and truth[p < 0.5].mean() < 0.2


def test_concept_names_and_unknown_concepts_are_refused():
    with pytest.raises(ImageFinderError, match="letters, digits"):
        concepts.check_name("a/b")
    assert concepts.check_name("  red   shoes ") == "red shoes"


@pytest.fixture
def kinds(photos, tmp_path):
    """A folder of cats and a folder of coffee cups (copies resized and turned), in one
    library."""
    root = tmp_path / "kinds"
    for kind, source in (("cats", "chelsea.jpg"), ("cups", "coffee.jpg")):
        folder = root / kind
        folder.mkdir(parents=True)
        image = Image.open(photos / source)
        for n, (size, angle) in enumerate([(300, 0), (260, 5), (220, -5), (280, 10)]):
            image.rotate(angle).resize((size, size * 2 // 3)).save(folder / f"{kind}{n}.jpg")
    shutil.copytree(photos, root / "others")
    return root


def test_concepts_from_folders_as_a_query_and_as_a_condition(kinds, capsys, tmp_path):
    data = str(tmp_path / "lib")
    assert run(capsys, "--data-dir", data, "index", str(kinds))[0] == 0
    code, out, err = run(capsys, "--data-dir", data, "concept", "add", "my cats",
                         "--from", str(kinds / "cats"), "--json")  # fmt: skip
    assert code == 0, err
    learnt = json.loads(out)
    assert learnt["name"] == "my cats" and learnt["positives"] == 4 and learnt["seconds"] < 5
    code, out, _ = run(capsys, "--data-dir", data, "concept", "list", "--json")
    assert [c["name"] for c in json.loads(out)["concepts"]] == ["my cats"]

    code, out, err = run(capsys, "--data-dir", data, "search", "--concept", "my cats",
                         "-k", "6", "--json")  # fmt: skip
    assert code == 0, err
    found = json.loads(out)
    names = [r["filename"] for r in found["results"]]
    assert sorted(names[:4]) == ["cats0.jpg", "cats1.jpg", "cats2.jpg", "cats3.jpg"]
    assert all(r["score"] > 0.5 for r in found["results"][:4])  # probabilities
    assert found["results"][-1]["score"] < 0.5

    # the search reads stored vectors only: no model, no torch
    probe = ("import sys; from image_finder.cli import main; "
             f"code = main(['--data-dir', {data!r}, 'search', '--concept', 'my cats', '--json']); "
             "print(code, 'torch' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr
    assert json.loads(done.stdout.splitlines()[0])["results"][0]["filename"].startswith("cats")

    # as a condition: a cup query among the pictures that show cats
    code, out, err = run(capsys, "--data-dir", data, "search", str(kinds / "cups" / "cups0.jpg"),
                         "--where-concept", "my cats", "-k", "30", "--json")  # fmt: skip
    assert code == 0, err
    names = {r["filename"] for r in json.loads(out)["results"]}
    assert names and names <= {"cats0.jpg", "cats1.jpg", "cats2.jpg", "cats3.jpg", "chelsea.jpg"}

    code, _, err = run(capsys, "--data-dir", data, "search", "--concept", "dogs")
    assert code == 1 and "no concept 'dogs'" in err and "my cats" in err
    assert run(capsys, "--data-dir", data, "concept", "remove", "my cats")[0] == 0
    code, out, _ = run(capsys, "--data-dir", data, "concept", "list", "--json")
    assert json.loads(out)["concepts"] == []
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "--data-dir", data, "concept", "add", "x", "--from",
                       str(tmp_path / "empty"))  # fmt: skip
    assert code == 1 and "no picture there could be read" in err
    code, _, err = run(capsys, "--data-dir", data, "concept", "add", "x", "--from",
                       str(tmp_path / "nowhere"))  # fmt: skip
    assert code == 1 and "holds no pictures of the library" in err
    code, _, err = run(capsys, "--data-dir", data, "concept", "add", "all", "--from", str(kinds))
    assert code == 1 and "pictures that are not it" in err  # every picture given as it
    assert Conditions(concept="my cats")  # a concept alone narrows a search


def test_a_concept_from_a_folder_outside_the_library_is_kept_with_the_concept_alone(
    kinds, photos, capsys, tmp_path
):
    """Examples collected in a folder of one's own: embedded for the concept, never added to
    the library or its results; the concept finds the library's own cats."""
    data = str(tmp_path / "lib")
    library_part = tmp_path / "library part"
    shutil.copytree(kinds / "others", library_part)
    shutil.copytree(kinds / "cups", library_part / "cups")
    shutil.copy(kinds / "cats" / "cats0.jpg", library_part / "a cat.jpg")
    assert run(capsys, "--data-dir", data, "index", str(library_part))[0] == 0
    _, out, _ = run(capsys, "--data-dir", data, "status", "--json")
    before = json.loads(out)["images"]
    mine = tmp_path / "my cat examples"  # never indexed
    shutil.copytree(kinds / "cats", mine)
    (mine / "notes.jpg").write_text("not a picture")
    code, out, err = run(capsys, "--data-dir", data, "concept", "add", "cats", "--from", str(mine),
                         "--json")  # fmt: skip
    assert code == 0, err
    learnt = json.loads(out)
    assert learnt["outside_examples"] == 4 and learnt["positives"] == 4
    assert "Embedding the examples from outside the library: 5 of 5" in err
    assert "left out" in err and "notes.jpg" in err
    _, out, _ = run(capsys, "--data-dir", data, "status", "--json")
    assert json.loads(out)["images"] == before  # nothing was added to the library
    code, out, err = run(capsys, "--data-dir", data, "search", "--concept", "cats", "-k", "3",
                         "--json")  # fmt: skip
    assert code == 0, err
    found = [r["filename"] for r in json.loads(out)["results"]]
    assert found[0] in ("a cat.jpg", "chelsea.jpg")
    assert not any(str(mine) in r["path"] for r in json.loads(out)["results"])
    # the examples stay with the concept: it is learnt again from them when the library's
    # features change
    from image_finder.core.stores.library import Library

    with Library(data) as library:
        kept = library.side_data.concept("cats")
        assert kept is not None and kept.outside is not None and kept.outside.shape[0] == 4
        with library.writing():
            relearnt = concepts.refine(library, "cats", [], [])
        assert relearnt.positives == 4
