from __future__ import annotations

import numpy as np
import pytest

from image_finder.core.common.errors import LibraryBusyError, ModelMismatchError
from image_finder.core.common.records import FileFacts, NewImage
from image_finder.core.stores.library import Library
from image_finder.core.stores.vector_index import (
    MIN_POINTS_PER_REGION,
    IndexPlan,
    PlanKind,
    ideal_regions,
    index_plan,
)


def clustered(
    n: int, dim: int = 32, clusters: int = 40, seed: int = 0, noise_seed: int | None = None
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    if noise_seed is not None:  # new points around the same centres
        rng = np.random.default_rng(noise_seed)
    points = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def fill(lib: Library, vectors: np.ndarray, folder, start: int = 0) -> list[int]:
    folder.mkdir(exist_ok=True)
    info = lib.add_folder(folder)
    rows = [
        NewImage(info.id, str(folder / f"{start + i}.jpg"), FileFacts(100, 1, f"h{start + i}"))
        for i in range(len(vectors))
    ]
    return lib.apply_changes(model="test", added=rows, added_vectors=vectors)


def exact_top(vectors: np.ndarray, ids: list[int], queries: np.ndarray, k: int) -> list[set[int]]:
    order = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
    return [{ids[j] for j in row} for row in order]


def test_region_rule_trains_every_region_on_enough_points():
    for n in (2_000, 20_000, 100_000, 1_000_000):
        assert n / ideal_regions(n) >= MIN_POINTS_PER_REGION
    assert ideal_regions(1_000_000) == 2000
    assert index_plan(19_999).kind is PlanKind.FLAT
    assert index_plan(20_000) == IndexPlan(PlanKind.IVF, 282)
    ivf = IndexPlan(PlanKind.IVF, 282)
    assert index_plan(30_000, ivf, trained_on=20_000) == ivf  # not grown enough to retrain
    assert index_plan(40_000, ivf, trained_on=20_000) == IndexPlan(
        PlanKind.IVF, ideal_regions(40_000)
    )
    assert index_plan(9_000, ivf, trained_on=20_000).kind is PlanKind.FLAT


def test_small_library_is_exact_and_finds_itself(library, tmp_path):
    vectors = clustered(300)
    with library.writing():
        ids = fill(library, vectors, tmp_path / "photos")
        library.vector_index.optimize()
    assert library.vector_index.info()["index_type"] == "IndexFlatIP"
    scores, found = library.vector_index.search(vectors[:5], 3)
    assert list(found[:, 0]) == ids[:5]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)


def test_flat_switches_to_ivf_with_good_recall_and_stable_ids(tmp_path):
    # Large enough that the calibration queries are held out of k-means, as in real libraries.
    vectors = clustered(10_000, dim=48)
    with Library(tmp_path / "lib", ivf_min_vectors=8_000) as lib, lib.writing():
        ids = fill(lib, vectors[:5_000], tmp_path / "a")
        lib.vector_index.optimize()
        assert lib.vector_index.info()["index_type"] == "IndexFlatIP"
        ids += fill(lib, vectors[5_000:], tmp_path / "a", start=5_000)
        lib.vector_index.optimize()
        info = lib.vector_index.info()
        assert info["index_type"] == "IndexIVFFlat"
        assert info["n_regions"] == ideal_regions(10_000)
        assert 1 <= info["nprobe"] <= info["n_regions"]

        queries = clustered(200, dim=48, noise_seed=7)
        truth = exact_top(vectors, ids, queries, 10)
        _, found = lib.vector_index.search(queries, 10)
        recall = np.mean([len(t & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
        assert recall >= 0.95

        # removing keeps the other ids and needs no retraining
        gone = ids[:100]
        lib.apply_changes(model="test", removed=gone)
        _, found = lib.vector_index.search(vectors[:100], 5)
        assert not set(found.ravel()) & set(gone)
        _, found = lib.vector_index.search(vectors[200:201], 1)
        assert found[0, 0] == ids[200]

    # reopened from disk: same index, nothing rebuilt
    with Library(tmp_path / "lib", ivf_min_vectors=8_000) as lib:
        assert lib.vector_index.info()["vectors"] == lib.count() == 9_900
        assert lib.notices == []


def test_another_model_is_refused(library, tmp_path):
    with library.writing():
        fill(library, clustered(10), tmp_path / "p")
    with pytest.raises(ModelMismatchError, match="index the library again"):
        library.check_model("other", 32)
    library.check_model("test", 32)


def test_only_one_writer_at_a_time(library):
    other = Library(library.folder)
    with library.writing():
        with pytest.raises(LibraryBusyError, match="busy"):
            other.begin_writing()
        assert other.count() == 0  # readers keep working
    other.begin_writing()
    other.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing", "stale"])
def test_damaged_or_stale_index_file_is_rebuilt_from_stored_vectors(tmp_path, damage):
    vectors = clustered(200)
    with Library(tmp_path / "lib") as lib, lib.writing():
        ids = fill(lib, vectors, tmp_path / "p")
        lib.vector_index.save()
    files = list((tmp_path / "lib").glob("index-*.faiss"))
    assert len(files) == 1
    if damage == "garbage":
        files[0].write_bytes(b"\x00garbage" * 100)
    elif damage == "truncated":
        files[0].write_bytes(files[0].read_bytes()[:500])
    elif damage == "missing":
        files[0].unlink()
    else:  # the database moved on without the index (a crash between the two writes)
        files[0].rename(files[0].with_name("index-0.faiss"))
    with Library(tmp_path / "lib") as lib:
        _, found = lib.vector_index.search(vectors[:3], 1)
        assert list(found[:, 0]) == ids[:3]
        assert lib.vector_index.info()["vectors"] == 200
        if damage in ("garbage", "truncated"):
            assert lib.notices  # damage is worth telling; a stale file is routine after a crash


def test_nested_folders_are_merged(library, tmp_path):
    (tmp_path / "top" / "sub").mkdir(parents=True)
    with library.writing():
        sub = library.add_folder(tmp_path / "top" / "sub")
        fill(library, clustered(5), tmp_path / "top" / "sub")
        top = library.add_folder(tmp_path / "top")
        assert library.add_folder(tmp_path / "top" / "sub").id == top.id
    folders = library.folders()
    assert [f.path for f in folders] == [str(tmp_path / "top")]
    assert folders[0].images == 5 and sub.id != top.id


def test_searches_and_reads_go_on_while_the_index_trains(tmp_path, monkeypatch):
    """Training reads a snapshot outside every lock: another thread searches the old index
    and reads the store meanwhile, and the trained index is swapped in afterwards."""
    import threading

    from image_finder.core.stores import vector_index

    vectors = clustered(4_000, dim=32)
    seen: dict[str, object] = {}
    with Library(tmp_path / "lib", ivf_min_vectors=3_000) as lib, lib.writing():
        ids = fill(lib, vectors[:2_000], tmp_path / "a")
        lib.vector_index.optimize()
        assert lib.vector_index.info()["index_type"] == "IndexFlatIP"
        ids += fill(lib, vectors[2_000:], tmp_path / "a", start=2_000)

        def reader() -> None:
            seen["found"] = int(lib.vector_index.search(vectors[:1], 1)[1][0, 0])
            seen["model"] = lib.model
            seen["type"] = lib.vector_index.info()["index_type"]

        def while_training(point: str) -> None:
            if point == "ivf_training":
                thread = threading.Thread(target=reader)
                thread.start()
                thread.join(timeout=10)
                seen["waited"] = thread.is_alive()

        monkeypatch.setattr(vector_index, "checkpoint", while_training)
        lib.vector_index.optimize()
        info = lib.vector_index.info()
    assert seen == {"found": ids[0], "model": "test", "type": "IndexFlatIP", "waited": False}
    assert info["index_type"] == "IndexIVFFlat" and info["vectors"] == 4_000


def test_a_sample_is_the_same_for_the_same_library_state_and_leaves_out_what_it_is_told(
    library, tmp_path
):
    """The index is trained and calibrated on samples: the same library state gives the same
    sample (the same index, the same results), and a change of the library another one."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    with library.writing():
        ids = fill(library, vectors, tmp_path / "files")
    with library.snapshot() as first, library.snapshot() as second:
        a, a_vectors = first.sample(50)
        b, _ = second.sample(50)
        left_out, _ = second.sample(50, exclude=a)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 50 and set(a) <= set(ids)
    np.testing.assert_array_equal(a_vectors, library.vectors(a.tolist()))
    assert not set(left_out.tolist()) & set(a.tolist()) and len(left_out) == 50
    with library.writing():
        fill(library, vectors[:1], tmp_path / "more", start=300)
    with library.snapshot() as later:
        assert later.sample(50)[0].tolist() != a.tolist()
