"""Large libraries and large folder trees. Opt-in (minutes, gigabytes):

.venv/bin/python -m pytest -m load -s
"""

from __future__ import annotations

import os
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_finder.core.common.records import FileFacts, NewImage
from image_finder.core.embedding.extractor import PixelExtractor
from image_finder.core.indexing.indexer import (
    IndexReport,
    _new_files,
    _scan_into,
    _Work,
    index_folders,
)
from image_finder.core.pictures.layout import signature
from image_finder.core.pictures.scanning import scan_folder
from image_finder.core.stores.library import Library

pytestmark = pytest.mark.load


def link_tree(root: Path, source: Path, n: int, per_folder: int = 1000) -> None:
    """``n`` hard links to copies of one small image, ``per_folder`` to a folder: a big tree,
    cheaply (a file system allows some 65,000 links to one file)."""
    target = source
    for i in range(n):
        folder = root / f"d{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        if i % 60_000 == 0:
            target = source.with_name(f"{source.stem}-{i}{source.suffix}")
            shutil.copyfile(source, target)
        os.link(target, folder / f"{i:07d}.png")


def test_a_200k_library_opens_fast_and_stays_correct(tmp_path):
    n, dim = 200_000, 768
    source = tmp_path / "one.png"
    Image.new("RGB", (8, 8), (90, 90, 90)).save(source)
    photos = tmp_path / "photos"
    link_tree(photos, source, n)
    layout = signature(Image.open(source))  # as indexing stores it
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(500, dim)).astype(np.float32)
    started = time.perf_counter()
    with Library(tmp_path / "lib") as lib, lib.writing():
        folder = lib.add_folder(photos)
        paths = sorted(str(p) for p in photos.rglob("*.png"))
        for start in range(0, n, 10_000):
            chunk = paths[start : start + 10_000]
            vectors = centres[rng.integers(0, 500, len(chunk))] + 0.6 * rng.normal(
                size=(len(chunk), dim)
            ).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            stats = [os.stat(p) for p in chunk]
            rows = [
                NewImage(folder.id, p, FileFacts(st.st_size, st.st_mtime_ns, "same", 8, 8, layout))
                for p, st in zip(chunk, stats, strict=True)
            ]
            lib.apply_changes(model="raw_pixels", added=rows, added_vectors=vectors)
        lib.vector_index.optimize()
        lib.set_folder_indexed(folder.id)
    print(f"\nbuilt 200k library in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    lib = Library(tmp_path / "lib")
    info = lib.vector_index.info()
    opened = time.perf_counter() - started
    print(f"opened in {opened:.2f} s: {info}")
    assert opened < 2.0
    assert info["index_type"] == "IndexIVFFlat" and info["vectors"] == n

    # searches: recall@10 of the default nprobe against exact search
    ids = np.arange(1, n + 1)
    sample = rng.choice(ids, 100, replace=False)
    queries = lib.vectors(list(sample)) + 0.05 * rng.normal(size=(100, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, found = lib.vector_index.search(queries, 10)
    with lib.snapshot() as snapshot:
        every = np.concatenate([v for _, v in snapshot.chunks()])
    truth = np.argsort(-(queries @ every.T), axis=1)[:, :10] + 1
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    print(f"recall@10 {recall:.3f} at nprobe {info['nprobe']}")
    assert recall >= 0.95

    # removes: gone from results, nothing else touched (ids follow the sorted paths)
    gone = list(range(1, 51))
    with lib.writing():
        lib.apply_changes(model="raw_pixels", removed=gone)
    _, found = lib.vector_index.search(lib.vectors([60]), 20)
    assert not set(found.ravel()) & set(gone) and found[0, 0] == 60
    assert lib.count() == n - 50 == lib.vector_index.info()["vectors"]

    # re-scan: unchanged links are not read; deleted files are dropped; new ones are added
    for p in paths[:100]:  # the 50 removed above and 50 more
        os.unlink(p)
    new = photos / "new"
    new.mkdir()
    for i in range(30):
        Image.new("RGB", (16, 16), (i * 8, 255 - i * 8, 40)).save(new / f"n{i}.png")
    started = time.perf_counter()
    report: IndexReport = index_folders([photos], lib, PixelExtractor())
    print(f"re-scan of 200k files in {time.perf_counter() - started:.1f} s: {report.to_json()}")
    assert (report.added, report.removed, report.embedded) == (30, 50, 30)
    assert report.unchanged == n - 100
    assert lib.count() == lib.vector_index.info()["vectors"] == n - 100 + 30
    lib.close()


def test_scanning_a_million_files_keeps_memory_flat(tmp_path):
    source = tmp_path / "one.png"
    Image.new("RGB", (8, 8)).save(source)
    root = tmp_path / "tree"
    link_tree(root, source, 1_000_000)
    with Library(tmp_path / "lib") as lib, lib.writing():
        folder = lib.add_folder(root)
        tracemalloc.start()
        work = _Work()
        _scan_into(work, lib, folder.id, str(root), IndexReport(), lambda p: None, lambda: False)
        streamed = sum(1 for _ in _new_files(work))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    tracemalloc.start()
    listed = [e.path for e in scan_folder(str(root))]
    _, list_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\n1,000,000 files: two-pass scan peak {peak / 2**20:.1f} MiB; "
        f"a list of the paths alone {list_peak / 2**20:.1f} MiB (ratio {peak / list_peak:.3f})"
    )
    assert work.new_count == streamed == len(listed) == 1_000_000
    assert peak < 32 * 2**20
