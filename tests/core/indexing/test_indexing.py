from __future__ import annotations

import json
import os
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from image_finder.core.common.errors import ModelMismatchError
from image_finder.core.indexing.indexer import IndexPhase, index_folders
from image_finder.core.pictures.layout import has_colours
from image_finder.core.pictures.scanning import scan_folder
from image_finder.core.search.searcher import Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library
from tests import corpus


def ids_by_name(library: Library) -> dict[str, int]:
    out = {}
    for folder in library.folders():
        for image_id, path, *_ in library.folder_rows(folder.id):
            out[os.path.basename(path)] = image_id
    return out


def assert_consistent(library: Library) -> None:
    assert library.vector_index.info()["vectors"] == library.count()


def test_first_run_indexes_everything_and_search_finds_each_image_first(photos, library, lite0):
    report = index_folders([photos], library, lite0)
    n = len(list(photos.iterdir()))
    assert (report.added, report.updated, report.removed, report.skipped) == (n, 0, 0, [])
    assert library.count() == n
    assert_consistent(library)
    searcher = Searcher(library, lite0)
    for path in sorted(photos.iterdir())[:5]:
        top = searcher.search(Query.of(path), SearchOptions(top_k=3)).results[0]
        assert top.path == str(path)
        assert top.score >= 0.99


def test_second_run_reads_nothing_and_changes_nothing(photos, library, lite0):
    index_folders([photos], library, lite0)
    before = ids_by_name(library)
    report = index_folders([photos], library, lite0)
    assert report.embedded == 0 and report.unchanged == len(before)
    assert ids_by_name(library) == before


def test_add_modify_delete_move_and_rename(photos, library, lite0, tmp_path):
    index_folders([photos], library, lite0)
    before = ids_by_name(library)
    coffee_vector = library.vectors([before["coffee.jpg"]])[0]

    # moved into a subfolder and renamed: same content, same id, no extraction
    (photos / "kitchen").mkdir()
    os.rename(photos / "coffee.jpg", photos / "kitchen" / "morning-cup.jpg")
    # modified: new pixels, same name
    Image.open(photos / "rocket.jpg").transpose(Image.Transpose.ROTATE_90).save(
        photos / "rocket.jpg"
    )
    # deleted
    (photos / "moon.jpg").unlink()
    # added
    Image.open(photos / "astronaut.jpg").resize((200, 200)).save(photos / "new-small-astronaut.png")
    # touched but identical bytes: not re-embedded
    os.utime(photos / "clock.jpg", ns=(1, 1))

    report = index_folders([photos], library, lite0)
    assert (report.added, report.updated, report.removed, report.moved) == (1, 1, 1, 1)
    assert report.embedded == 2
    after = ids_by_name(library)
    assert after["morning-cup.jpg"] == before["coffee.jpg"]
    assert "coffee.jpg" not in after and "moon.jpg" not in after
    assert after["rocket.jpg"] == before["rocket.jpg"]
    assert np.array_equal(library.vectors([after["morning-cup.jpg"]])[0], coffee_vector)
    assert_consistent(library)
    searcher = Searcher(library, lite0)
    top = searcher.search(Query.of(photos / "kitchen" / "morning-cup.jpg")).results[0]
    assert top.item.filename == "morning-cup.jpg"


def test_offline_folder_keeps_its_entries(photos, library, lite0, tmp_path):
    index_folders([photos], library, lite0)
    n = library.count()
    unplugged = tmp_path / "unplugged"
    photos.rename(unplugged)
    report = index_folders([photos], library, lite0)
    assert report.offline_folders == [str(photos)]
    assert report.removed == 0 and library.count() == n
    assert not library.folders()[0].online
    unplugged.rename(photos)
    report = index_folders([photos], library, lite0)
    assert report.embedded == 0 and library.count() == n


def test_awkward_folder_indexes_good_files_and_reports_each_bad_one(tmp_path, library, lite0):
    expected = corpus.build(tmp_path / "mess")
    (tmp_path / "mess" / ".hidden").mkdir()
    (tmp_path / "mess" / ".hidden" / "secret.jpg").write_bytes(b"x")
    report = index_folders([tmp_path / "mess"], library, lite0)
    bad = {n for n, v in expected.items() if v == "bad"}
    skipped = [os.path.basename(s.path) for s in report.skipped]
    assert sorted(skipped) == sorted(bad)  # each bad file once, nothing else
    assert all(s.reason for s in report.skipped)
    good = {n for n, v in expected.items() if v == "ok"}
    assert report.added == len(good) == library.count()
    indexed = {os.fsencode(n) for n in ids_by_name(library)}
    assert corpus.NON_UTF8_NAME in indexed


def test_scan_does_not_loop_on_symlinks(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "b" / "x.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "up")
    os.symlink(tmp_path / "a" / "b", tmp_path / "b-again")
    found = [e.path for e in scan_folder(str(tmp_path))]
    assert found == [str(tmp_path / "a" / "b" / "x.png")]


def test_links_out_of_the_folder_are_listed_as_skipped_and_not_followed(tmp_path, library, lite0):
    """A link to / (or to a picture elsewhere) pulls nothing from outside the folder into the
    library; a FIFO is listed as skipped, and the rest is indexed."""
    folder, elsewhere = tmp_path / "Pictures", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / "mine.png")
    Image.new("RGB", (40, 30), (10, 10, 200)).save(elsewhere / "private.png")
    os.symlink("/", folder / "rootlink")
    os.symlink(elsewhere, folder / "elsewhere-link")
    os.symlink(elsewhere / "private.png", folder / "private-link.png")
    os.mkfifo(folder / "pipe.png")
    report = index_folders([folder], library, lite0)
    skipped = {os.path.basename(s.path): s.reason for s in report.skipped}
    assert set(skipped) == {"rootlink", "elsewhere-link", "private-link.png", "pipe.png"}
    assert "outside the folder" in skipped["rootlink"] and "FIFO" in skipped["pipe.png"]
    assert report.added == library.count() == 1
    assert list(ids_by_name(library)) == ["mine.png"]


def test_cancel_keeps_committed_batches(photos, library, lite0):
    calls = []

    def cancel_after_first_batch() -> bool:
        return len(calls) >= 1

    report = index_folders(
        [photos],
        library,
        lite0,
        progress=lambda p: p.phase is IndexPhase.EMBEDDING and p.done and calls.append(p),
        cancelled=cancel_after_first_batch,
        batch_size=4,
    )
    assert report.cancelled
    assert 0 < library.count() < len(list(photos.iterdir()))
    assert_consistent(library)
    rest = index_folders([photos], library, lite0, batch_size=4)
    assert not rest.cancelled
    assert library.count() == len(list(photos.iterdir()))
    assert_consistent(library)


def test_model_change_is_refused_then_rebuilt(photos, library, lite0):
    import copy
    import dataclasses

    index_folders([photos], library, lite0)
    other = copy.copy(lite0)  # same network, recorded under another model name
    other.spec = dataclasses.replace(lite0.spec, name="another_model")
    with pytest.raises(ModelMismatchError):
        index_folders([photos], library, other)
    with pytest.raises(ModelMismatchError):
        Searcher(library, other).search(Query.of(photos / "coffee.jpg"))
    report = index_folders([photos], library, other, rebuild=True)
    assert report.added == library.count() and library.model == "another_model"


def test_progress_reports_counts_rate_and_eta(photos, library, lite0):
    seen = []
    index_folders([photos], library, lite0, progress=seen.append, batch_size=4)
    embedding = [p for p in seen if p.phase is IndexPhase.EMBEDDING]
    total = len(list(photos.iterdir()))
    assert embedding[-1].done == embedding[-1].total == total
    assert any(p.images_per_second > 0 and p.eta_seconds is not None for p in embedding[1:])


def test_folder_filter_and_min_score(photos, library, lite0):
    (photos / "sub").mkdir()
    for name in ("grass.jpg", "gravel.jpg"):
        shutil.move(photos / name, photos / "sub" / name)
    index_folders([photos], library, lite0)
    searcher = Searcher(library, lite0)
    results = searcher.search(
        Query.of(photos / "coffee.jpg"), SearchOptions(folder=str(photos / "sub"))
    ).results
    assert {r.item.filename for r in results} == {"grass.jpg", "gravel.jpg"}
    strict = searcher.search(Query.of(photos / "coffee.jpg"), SearchOptions(min_score=0.99)).results
    assert [r.item.filename for r in strict] == ["coffee.jpg"]


def test_entries_from_an_earlier_version_get_their_layouts_without_the_model(
    photos, library, lite0, monkeypatch
):
    index_folders([photos], library, lite0)
    ids = [row[0] for f in library.folders() for row in library.folder_rows(f.id)]
    stored = library.layouts(ids)
    assert len(stored) == len(ids)
    with library.writing(), sqlite3.connect(library.db_path) as db:
        # as a library from before layouts were stored, or before they held colours
        db.execute("UPDATE images SET layout=NULL WHERE id % 2 = 0")
        db.execute("UPDATE images SET layout=substr(layout, 1, 256) WHERE id % 2 = 1")
    assert set(library.layouts(ids)) == {i for i in ids if i % 2}
    assert not any(has_colours(b) for b in library.layouts(ids).values())

    def no_model(*args, **kwargs):
        raise AssertionError("the model was run")

    monkeypatch.setattr(lite0, "embed_tensors", no_model)
    # a file damaged since, with its size and time kept: the scan takes it as unchanged
    damaged = photos / "coffee.jpg"
    info = damaged.stat()
    damaged.write_bytes(b"\0" * info.st_size)
    os.utime(damaged, ns=(info.st_atime_ns, info.st_mtime_ns))
    damaged_id = library.item_by_path(damaged).id
    phases = []
    report = index_folders([photos], library, lite0, progress=lambda p: phases.append(p.phase))
    assert report.embedded == 0 and report.unchanged == len(ids)
    assert IndexPhase.LAYOUTS in phases
    assert library.layouts(ids) == {i: b for i, b in stored.items() if i != damaged_id}
    assert all(has_colours(b) for b in library.layouts(ids).values())
    # the damaged file is not tried again on the next run
    phases.clear()
    index_folders([photos], library, lite0, progress=lambda p: phases.append(p.phase))
    assert IndexPhase.LAYOUTS not in phases


def test_an_interrupted_run_leaves_its_folder_unfinished_until_a_run_completes(
    photos, library, lite0, capsys
):
    from image_finder.cli import main

    n = len(list(photos.iterdir()))
    report = index_folders([photos], library, lite0, cancelled=lambda: library.count() >= 4,
                           batch_size=4)  # fmt: skip
    assert report.cancelled and report.remaining == n - report.added > 0
    from image_finder.text import index_summary

    assert index_summary(report) == (f"Indexing stopped: 4 added; {n - 4} left for when you resume")
    info = library.folder_info(str(photos))
    assert not info.complete and info.files_found == n and info.images == report.added

    # both faces say so
    assert main(["--data-dir", str(library.folder), "--json", "status"]) == 0
    folder = json.loads(capsys.readouterr().out)["folders"][0]
    assert (folder["complete"], folder["files_found"], folder["images"]) == (False, n, 4)
    assert folder["last_indexed"] is None  # never finished; times are ISO 8601 otherwise
    assert main(["--data-dir", str(library.folder), "status"]) == 0
    assert f"unfinished: 4 of {n} indexed" in capsys.readouterr().out

    # 'index' with no folder continues every folder of the library
    assert main(["--data-dir", str(library.folder), "index"]) == 0
    info = library.folder_info(str(photos))
    assert info.complete and info.images == n == library.count()
    capsys.readouterr()
    assert main(["--data-dir", str(library.folder), "--json", "status"]) == 0
    stamp = json.loads(capsys.readouterr().out)["folders"][0]["last_indexed"]
    assert "T" in stamp and stamp[:4].isdigit() and stamp[-6] in "+-"


def test_a_file_deleted_while_indexing_runs_is_listed_as_skipped(photos, library, lite0):
    last = sorted(photos.iterdir())[-1]
    gone = []

    def progress(p):
        if p.phase is IndexPhase.EMBEDDING and not gone:
            last.unlink()  # deleted after the scan listed it, before it is read
            gone.append(last)

    report = index_folders([photos], library, lite0, progress=progress, batch_size=2)
    assert gone
    skipped = {s.path: s.reason for s in report.skipped}
    assert str(last) in skipped and skipped[str(last)], skipped
    assert library.count() == len(list(photos.iterdir()))
