"""A process killed at any moment leaves a library that opens, agrees with itself, and reaches
exactly the state of a clean run when indexing runs again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from image_finder.core.stores.library import Library
from tests.helpers import ROOT_DIR

IVF_MIN = 60

# (crash point, n-th time it is reached): mid-scan, after the moves/removals commit, between
# embedding and committing a batch, inside a transaction before COMMIT, right after COMMIT
# (before the in-memory index is updated), after the index temp file is written but before the
# rename, after the rename but before old files are removed, during IVF training, and after the
# folders are marked indexed but before the index is optimised.
KILL_POINTS = [
    ("scan", 1), ("scan", 40), ("scan", 85),
    ("moves_applied", 1),
    ("batch_embedded", 1), ("batch_embedded", 4), ("batch_embedded", 9),
    ("before_commit", 1), ("before_commit", 2), ("before_commit", 6), ("before_commit", 12),
    ("after_commit", 1), ("after_commit", 3), ("after_commit", 7), ("after_commit", 13),
    ("folders_marked", 1),
    ("ivf_training", 1),
    ("index_written", 1),
    ("index_renamed", 1),
    ("batch_embedded", 2), ("before_commit", 4), ("after_commit", 10),
]  # fmt: skip
# The same, on a first run into an empty library.
FIRST_RUN_KILL_POINTS = [
    ("batch_embedded", 3), ("before_commit", 3), ("after_commit", 5), ("ivf_training", 1),
    ("index_written", 1), ("index_renamed", 1),
]  # fmt: skip


def picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (64, 48), tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        box = sorted(rng.integers(0, 64, 2)) + sorted(rng.integers(0, 48, 2))
        draw.rectangle(
            (box[0], box[2], box[1], box[3]), fill=tuple(int(c) for c in rng.integers(0, 255, 3))
        )
    return image


def run_harness(
    library_dir: Path, folder: Path, kill_at: str | None = None, roots: tuple[str, ...] = ()
) -> int:
    env = dict(os.environ)
    env.pop("IMAGE_FINDER_KILL_AT", None)
    if kill_at:
        env["IMAGE_FINDER_KILL_AT"] = kill_at
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.crash_harness",
            str(library_dir),
            str(folder),
            str(IVF_MIN),
            *roots,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT_DIR,
    )
    if result.returncode not in (0, -9):
        raise AssertionError(result.stderr)
    return result.returncode


def state(library_dir: Path) -> dict[str, np.ndarray]:
    with Library(library_dir, ivf_min_vectors=IVF_MIN) as lib:
        assert lib.vector_index.info()["vectors"] == lib.count(), "index and database disagree"
        rows = [r for f in lib.folders() for r in lib.folder_rows(f.id)]
        vectors = lib.vectors([r[0] for r in rows])
        # every stored vector is findable
        if rows:
            _, found = lib.vector_index.search(vectors[:5], 1)
            assert list(found[:, 0]) == [r[0] for r in rows[:5]]
    return {r[1]: v for r, v in zip(rows, vectors, strict=True)}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A library indexed from folder state A, the folder then changed to state B (added,
    removed, moved, modified files, enough to cross into IVF), and the state a clean run on B
    reaches."""
    root = tmp_path_factory.mktemp("crash")
    folder = root / "photos"
    folder.mkdir()
    for i in range(50):
        picture(i).save(folder / f"a{i:03d}.png")
    template = root / "template"
    assert run_harness(template, folder) == 0
    for i in range(5):
        (folder / f"a{i:03d}.png").unlink()
    (folder / "moved").mkdir()
    for i in range(5, 10):
        os.rename(folder / f"a{i:03d}.png", folder / "moved" / f"renamed{i}.png")
    for i in range(10, 15):
        picture(1000 + i).save(folder / f"a{i:03d}.png")
    for i in range(40):
        picture(2000 + i).save(folder / f"b{i:03d}.png")
    reference = root / "reference"
    assert run_harness(reference, folder) == 0
    return template, folder, state(reference)


CASES = [(p, n, False) for p, n in KILL_POINTS] + [(p, n, True) for p, n in FIRST_RUN_KILL_POINTS]


@pytest.mark.parametrize(
    ("point", "n", "first_run"),
    CASES,
    ids=[f"{'first-' if f else ''}{p}-{n}" for p, n, f in CASES],
)
def test_killed_indexing_recovers_to_the_clean_state(scenario, tmp_path, point, n, first_run):
    template, folder, expected = scenario
    library_dir = tmp_path / "lib"
    if not first_run:
        shutil.copytree(template, library_dir)
    assert run_harness(library_dir, folder, f"{point}:{n}") == -9, "the crash point was not reached"
    state(library_dir)  # opens, and the index agrees with the database
    assert run_harness(library_dir, folder) == 0
    final = state(library_dir)
    assert sorted(final) == sorted(expected)
    for path, vector in expected.items():
        assert np.allclose(final[path], vector, atol=1e-6), path
    with Library(library_dir, ivf_min_vectors=IVF_MIN) as lib:
        assert lib.vector_index.info()["index_type"] == "IndexIVFFlat"
        assert all(f.last_indexed for f in lib.folders())


@pytest.fixture(scope="module")
def watch_scenario(tmp_path_factory):
    """A library of folder A; then, as a watched folder sees it, a new camera card copied into a
    subfolder and a file moved into it: a batch of that subfolder and the one moved from."""
    root = tmp_path_factory.mktemp("crash-watch")
    folder = root / "photos"
    (folder / "old").mkdir(parents=True)
    for i in range(30):
        picture(3000 + i).save(folder / "old" / f"a{i:03d}.png")
    template = root / "template"
    assert run_harness(template, folder) == 0
    (folder / "card").mkdir()
    for i in range(30):
        picture(4000 + i).save(folder / "card" / f"c{i:03d}.png")
    os.rename(folder / "old" / "a000.png", folder / "card" / "moved.png")
    roots = (str(folder / "card"), str(folder / "old"))
    reference = root / "reference"
    shutil.copytree(template, reference)
    assert run_harness(reference, folder, roots=roots) == 0
    return template, folder, roots, state(reference)


@pytest.mark.parametrize(
    ("point", "n"), [("batch_embedded", 2), ("after_commit", 3), ("ivf_training", 1),
                     ("index_written", 1)]
)  # fmt: skip
def test_a_watch_batch_killed_recovers_to_the_clean_state(watch_scenario, tmp_path, point, n):
    template, folder, roots, expected = watch_scenario
    library_dir = tmp_path / "lib"
    shutil.copytree(template, library_dir)
    assert run_harness(library_dir, folder, f"{point}:{n}", roots) == -9
    state(library_dir)  # opens, and the index agrees with the database
    assert run_harness(library_dir, folder, roots=roots) == 0  # the batch, applied again
    final = state(library_dir)
    assert sorted(final) == sorted(expected)
    for path, vector in expected.items():
        assert np.allclose(final[path], vector, atol=1e-6), path


@pytest.fixture(scope="module")
def video_scenario(tmp_path_factory):
    """Photos, two videos and a PDF of three pages, and the state a clean run reaches."""
    pytest.importorskip("av")
    pytest.importorskip("pypdfium2")
    from tests.core.indexing.test_documents import pdf
    from tests.videos import slideshow

    root = tmp_path_factory.mktemp("crash-video")
    folder = root / "media"
    folder.mkdir()
    for i in range(6):
        picture(i).save(folder / f"p{i}.png")
    slideshow(folder / "a.mp4", seconds=2.0)
    slideshow(folder / "b.mp4", ["rocket", "coffee"], seconds=2.0)
    pdf(folder / "c.pdf", ["camera", "moon", "page"])
    clean = root / "clean"
    run_harness(clean, folder)
    with Library(clean, ivf_min_vectors=IVF_MIN) as lib:
        moments = {v: len(lib.file_items(folder / v)) for v in ("a.mp4", "b.mp4", "c.pdf")}
    assert moments["c.pdf"] == 3
    return folder, state(clean), moments


@pytest.mark.parametrize(
    "point", [("video_embedded", 1), ("video_embedded", 3), ("before_commit", 3)]
)
def test_a_kill_in_a_video_leaves_none_of_its_moments_and_the_rerun_finishes_it(
    video_scenario, tmp_path, point
):
    folder, clean, clean_moments = video_scenario
    library_dir = tmp_path / "lib"
    assert run_harness(library_dir, folder, kill_at=f"{point[0]}:{point[1]}") == -9
    with Library(library_dir, ivf_min_vectors=IVF_MIN) as lib:
        assert lib.vector_index.info()["vectors"] == lib.count()
        for video, whole in clean_moments.items():  # a video (a PDF) is all there, or none
            assert len(lib.file_items(folder / video)) in (0, whole), video
    assert run_harness(library_dir, folder) == 0
    again = state(library_dir)
    assert sorted(again) == sorted(clean)
    with Library(library_dir, ivf_min_vectors=IVF_MIN) as lib:
        assert {v: len(lib.file_items(folder / v)) for v in clean_moments} == clean_moments
