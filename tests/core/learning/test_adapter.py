"""The adapter: a projection of the stored vectors tuned on labelled folders, applied only when
it helps on held-out pictures, switched off and on at once, kept across reopening and crashes,
and applied to pictures indexed later."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.embedding.extractor import PixelExtractor
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.learning import adapter, concepts
from image_finder.core.stores.library import Library
from tests.helpers import run

COLOURS = [(230, 30, 30), (30, 200, 30), (40, 40, 230), (230, 230, 30), (200, 30, 200),
           (30, 210, 210), (120, 60, 0), (250, 140, 0)]  # fmt: skip


def _picture(rng: np.random.Generator, colour: tuple[int, int, int] | None) -> Image.Image:
    """Coarse random noise over the whole picture and, for a label, its colour in one corner:
    raw pixels see mostly the noise, so only a tuned projection tells the labels apart."""
    cells = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    if colour is not None:
        cells[:3, :3] = colour
    return Image.fromarray(cells).resize((64, 64), Image.Resampling.NEAREST)


def _make(root, labels: int, per_label: int, seed: int, *, random_labels: bool = False) -> None:
    rng = np.random.default_rng(seed)
    for n in range(labels):
        folder = root / f"label{n}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_label):
            colour = COLOURS[int(rng.integers(labels))] if random_labels else COLOURS[n]
            _picture(rng, colour).save(folder / f"{seed}-{n}-{k}.png")


def _index(lib_dir, *roots) -> None:
    with Library(lib_dir) as library:
        report = index_folders([str(r) for r in roots], library, PixelExtractor(), batch_size=16)
    assert not report.skipped


def _ranking(library: Library, ids: list[int], k: int = 10):
    """Each picture's neighbours and scores, as searched now."""
    scores, found = library.vector_index.search(library.vectors(ids), k)
    return found, scores


@pytest.fixture
def labelled(tmp_path):
    root = tmp_path / "labelled"
    _make(root, 6, 15, seed=1)
    lib_dir = tmp_path / "lib"
    _index(lib_dir, root)
    return lib_dir, root


def test_an_adapter_that_helps_is_applied_and_searched(labelled, capsys):
    lib_dir, root = labelled
    code, out, err = run(capsys, "--data-dir", str(lib_dir), "tune", "--labels-from-folders",
                         str(root), "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)  # one object on stdout; progress goes to stderr
    progress = [json.loads(line) for line in err.splitlines()]
    assert progress and {p["phase"] for p in progress} <= {"training", "projecting"}
    assert report["applied"] and report["labels"] == [f"label{n}" for n in range(6)]
    assert report["held_out"] == 6 * 3 and report["trained_on"] == 6 * 12
    assert report["map_at_r_after"] >= report["map_at_r_before"] + 0.15, report
    code, out, _ = run(capsys, "--data-dir", str(lib_dir), "status", "--json")
    shown = json.loads(out)["adapter"]
    assert shown["active"] and shown["map_at_r_after"] == report["map_at_r_after"]
    with Library(lib_dir) as library:
        labels = {}
        for f in library.folders():
            for row in library.folder_rows(f.id):
                labels[row.id] = os.path.basename(os.path.dirname(row.path))
        ids = sorted(labels)
        found, _ = _ranking(library, ids, 5)
        same = np.mean([[labels[int(j)] == labels[i] for j in row[1:]]
                        for i, row in zip(ids, found, strict=True)])  # fmt: skip
        original = library.vectors(ids, original=True)
        raw = np.argsort(-(original @ original.T), axis=1)[:, 1:5]
        raw_same = np.mean([[labels[ids[j]] == labels[i] for j in row]
                            for i, row in zip(ids, raw, strict=True)])  # fmt: skip
    assert same > raw_same + 0.1, (same, raw_same)  # neighbours now share the label


def test_an_adapter_that_does_not_help_is_refused_and_changes_nothing(tmp_path, capsys):
    root = tmp_path / "noise"
    _make(root, 5, 10, seed=2, random_labels=True)  # folders that mean nothing
    lib_dir = tmp_path / "lib"
    _index(lib_dir, root)
    with Library(lib_dir) as library:
        generation = library.generation
    code, out, _ = run(capsys, "--data-dir", str(lib_dir), "tune", "--labels-from-folders",
                       str(root))  # fmt: skip
    assert code == 1
    assert "Not applied: it does not help these labels" in out and "nothing changed" in out
    with Library(lib_dir) as library:
        assert library.adapter is None and library.generation == generation


def test_labels_that_cannot_train_an_adapter_get_a_clear_message(labelled, tmp_path, capsys):
    lib_dir, _ = labelled
    lonely = tmp_path / "lonely"
    _make(lonely, 1, 8, seed=3)
    _index(lib_dir, lonely)
    code, _, err = run(capsys, "--data-dir", str(lib_dir), "tune", "--labels-from-folders",
                       str(lonely))  # fmt: skip
    assert code == 1 and "at least 2 labels" in err
    code, _, err = run(capsys, "--data-dir", str(lib_dir), "tune", "--labels-from-folders",
                       str(tmp_path / "nowhere"))  # fmt: skip
    assert code == 1 and "is not a folder" in err
    code, _, err = run(capsys, "--data-dir", str(lib_dir), "tune", "--use", "adapted")
    assert code == 1 and "has no adapter" in err


def test_switching_back_restores_the_original_rankings_exactly(labelled):
    lib_dir, root = labelled
    with Library(lib_dir) as library:
        ids = sorted(int(i) for i in library.ids_under(str(root)))
        before = _ranking(library, ids)
        with library.writing():
            assert adapter.tune(library, adapter.labels_from_folders(library, str(root))).applied
        adapted = _ranking(library, ids)
        assert not np.array_equal(adapted[0], before[0])
        with library.writing():
            assert adapter.use(library, adapted=False)
        assert library.space == "raw_pixels" and library.adapter is not None
        back = _ranking(library, ids)
        np.testing.assert_array_equal(back[0], before[0])
        np.testing.assert_array_equal(back[1], before[1])
        with library.writing():
            assert adapter.use(library, adapted=True)
        again = _ranking(library, ids)
        np.testing.assert_array_equal(again[0], adapted[0])


def test_an_adapted_library_survives_reopening_and_projects_new_pictures(labelled, tmp_path):
    lib_dir, root = labelled
    with Library(lib_dir) as library:
        ids = sorted(int(i) for i in library.ids_under(str(root)))
        with library.writing():
            assert adapter.tune(library, adapter.labels_from_folders(library, str(root))).applied
        adapted = _ranking(library, ids)
    with Library(lib_dir) as library:
        assert library.active_adapter is not None and library.space.startswith("raw_pixels+")
        np.testing.assert_array_equal(_ranking(library, ids)[0], adapted[0])
    later = tmp_path / "later"
    _make(later, 6, 2, seed=9)  # new pictures of the same labels, indexed after tuning
    _index(lib_dir, root, later)
    with Library(lib_dir) as library:
        new = sorted(int(i) for i in library.ids_under(str(later)))
        assert len(new) == 12
        projected = library.active_adapter.project(library.vectors(new, original=True))
        np.testing.assert_allclose(library.vectors(new), projected, atol=1e-6)
        # found through the adapter: new pictures' nearest ones share their label more often
        # than with the raw vectors
        everyone = sorted(int(i) for i in library.ids_under(str(tmp_path)))
        label = {i: os.path.basename(it.path).split("-")[1]
                 for i, it in library.items(everyone).items()}  # fmt: skip
        _, found = library.vector_index.search(library.vectors(new), 4)
        adapted_share = np.mean([[label[int(j)] == label[i] for j in row[1:]]
                                 for i, row in zip(new, found, strict=True)])  # fmt: skip
        raw = library.vectors(everyone, original=True)
        raw_found = np.argsort(-(library.vectors(new, original=True) @ raw.T), axis=1)[:, 1:4]
        raw_share = np.mean([[label[everyone[j]] == label[i] for j in row]
                             for i, row in zip(new, raw_found, strict=True)])  # fmt: skip
        assert adapted_share > raw_share + 0.1, (adapted_share, raw_share)


def test_a_crash_while_projecting_leaves_the_library_as_it_was(labelled):
    lib_dir, root = labelled
    with Library(lib_dir) as library:
        ids = sorted(int(i) for i in library.ids_under(str(root)))
        before = _ranking(library, ids)
    env = {**os.environ, "IMAGE_FINDER_KILL_AT": "adapter_projecting:1"}
    command = [sys.executable, "-m", "image_finder.cli", "--data-dir", str(lib_dir), "tune",
               "--labels-from-folders", str(root)]  # fmt: skip
    killed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    with Library(lib_dir) as library:
        assert library.adapter is None and library.check() == []
        np.testing.assert_array_equal(_ranking(library, ids)[0], before[0])
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with Library(lib_dir) as library:
        assert library.active_adapter is not None and library.check() == []


def test_concepts_follow_the_adapter_and_serve_as_labels(labelled, capsys):
    lib_dir, root = labelled
    with Library(lib_dir) as library:
        with library.writing():
            for n in range(3):
                folder_ids = library.ids_under(str(root / f"label{n}"))
                concepts.learn(library, f"kind {n}", folder_ids[:8].tolist())
        labelled_ids = adapter.labels_from_concepts(library, [])
        assert sorted(labelled_ids) == ["kind 0", "kind 1", "kind 2"]
        with library.writing():
            adapter.tune(library, adapter.labels_from_folders(library, str(root)))
        kind = concepts.require(library, "kind 1")
        assert kind.model == library.space  # learnt again on the adapted vectors
        members = set(concepts.members(library, kind).tolist())
        truth = set(library.ids_under(str(root / "label1")).tolist())
        assert len(members & truth) >= 0.6 * len(truth) and len(members - truth) <= 3
    with pytest.raises(ImageFinderError, match="no concept"), Library(lib_dir) as library:
        adapter.labels_from_concepts(library, ["nothing"])
