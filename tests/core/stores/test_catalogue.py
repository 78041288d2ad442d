"""A Milvus catalogue filled by a Ray Data job: the same results as a library of the same
photos, a rerun that embeds nothing, a killed job that leaves a catalogue that answers, and a
Milvus Lite server reached on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.stores.catalogue import Catalogue, StoreAddress
from image_finder.core.stores.store import require_library
from tests.helpers import run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``image-finder-cli ARGS`` in a process of its own (Ray lives and dies with it)."""
    command = [sys.executable, "-m", "image_finder.cli", *args]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def milvus_server(tmp_path):
    """``milvus-lite server`` bound to 127.0.0.1 on a free port; its address."""
    port = _free_port()
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "milvus-lite"), "server", "--data-dir",
         str(tmp_path / "milvus"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 60
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail("milvus-lite server did not start")
        time.sleep(0.2)
    yield f"127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def test_store_addresses_are_checked():
    assert StoreAddress.parse("milvus://127.0.0.1:19530/shop").collection == "shop"
    assert StoreAddress.parse("milvus-lite:/tmp/x.db").collection == "image_finder"
    for bad in ("milvus-lite:/tmp/x", "http://host/x", "milvus:///x"):
        with pytest.raises(ImageFinderError, match="--store"):
            StoreAddress.parse(bad)


def tied(results: list[dict]) -> list[tuple[float, str, str]]:
    """Results best first, equal scores (byte copies) in path order; without the last score's
    results, of which a tie may have put either in the top k."""
    last = round(results[-1]["score"], 4)
    return sorted((-round(r["score"], 4), r["path"], r["match"]) for r in results
                  if round(r["score"], 4) != last)  # fmt: skip


def test_a_library_copied_into_a_catalogue_answers_the_same_from_the_command_line(
    indexed, tmp_path, capsys
):
    data, photos = indexed
    for name in ("coffee", "horse"):
        shutil.copy(photos / f"{name}.jpg", photos / f"{name} copy.jpg")
    assert run(capsys, "--data-dir", data, "index", str(photos))[0] == 0
    store = f"milvus-lite:{tmp_path / 'cat' / 'shop.db'}"
    code, out, err = run(capsys, "--data-dir", data, "index", "--store", store, "--from-library",
                         "--json")  # fmt: skip
    assert code == 0, err
    n = len(os.listdir(photos))
    assert json.loads(out) == {"copied": n, "library_images": n, "images": n, "cancelled": False}

    queries = sorted(str(photos / p) for p in os.listdir(photos))
    answers = {}
    for where in (("--data-dir", data), ("--store", store)):
        code, out, err = run(capsys, "search", *where, "-k", "10", "--json", *queries)
        assert code == 0, err
        answers[where[0]] = [json.loads(line)["results"] for line in out.strip().splitlines()]
    for a, b in zip(answers["--store"], answers["--data-dir"], strict=True):
        # byte copies tie: either may come first
        assert tied(a) == tied(b)
        assert np.allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-4)
        assert [set(r) for r in a] == [set(r) for r in b]  # the same JSON object

    groups = {}
    for where in (("--data-dir", data), ("--store", store)):
        code, out, err = run(capsys, "duplicates", *where, "--json")
        assert code == 0, err
        groups[where[0]] = [[(i["path"], i["match"]) for i in g["items"]]
                            for g in json.loads(out)["groups"]]  # fmt: skip
    assert len(groups["--data-dir"]) == 2 and groups["--store"] == groups["--data-dir"]

    code, out, _ = run(capsys, "status", "--store", store, "--json")
    status = json.loads(out)
    assert code == 0 and status["images"] == n and status["model"] == "efficientnet_lite0"
    assert [f["images"] for f in status["folders"]] == [n]
    code, _, err = run(capsys, "search", "--store", store, "--text", "dog")
    assert code == 1 and "Searching by words needs a library" in err
    code, _, err = run(capsys, "duplicates", "--store", store, "--trash-others")
    assert code == 1 and "--trash-others needs a library" in err
    # files moved on the shared file system: their rows follow with their vectors
    with Catalogue(store) as catalogue:
        assert catalogue.as_library() is None
        assert [k for k, v in catalogue.capabilities.to_json().items() if v] == ["texts"]
        assert catalogue.describe()["collection"] == "image_finder"
        with pytest.raises(ImageFinderError, match="A concept needs a library"):
            require_library(catalogue, "A concept")
        old = catalogue.item_by_path(str(photos / "coffee copy.jpg"))
        assert old is not None
        vector = catalogue.vectors([old.id])
        assert catalogue.move([(old.path, str(photos / "moved" / "coffee.jpg"))]) == 1
        moved = catalogue.item_by_path(str(photos / "moved" / "coffee.jpg"))
        assert catalogue.item_by_path(old.path) is None and catalogue.count() == n
        assert moved is not None and moved.content_hash == old.content_hash
        assert moved.id != old.id and moved.folder == str(photos)
        np.testing.assert_array_equal(catalogue.vectors([moved.id]), vector)


def test_a_ray_job_asks_for_a_local_weights_file_before_ray_starts(photos, tmp_path):
    """The actors never fetch weights from a hub: a model without bundled weights needs
    --weights, and the job says so before it starts anything."""
    store = f"milvus-lite:{tmp_path / 'c.db'}"
    done = cli("index", "--store", store, "--ray", "--model", "vit_base_patch16_224", str(photos))
    assert done.returncode == 1
    assert "--weights FILE" in done.stderr and "never from a hub" in done.stderr
    missing = cli("index", "--store", store, "--ray", "--model", "vit_base_patch16_224",
                  "--weights", str(tmp_path / "none.pth"), str(photos))  # fmt: skip
    assert missing.returncode == 1 and "weights file not found" in missing.stderr
    # a folder right after --ray is a folder to index, not Ray's address
    folder_first = cli("index", "--store", store, "--ray", str(photos), "--model",
                       "vit_base_patch16_224")  # fmt: skip
    assert folder_first.returncode == 1 and "--weights FILE" in folder_first.stderr
    assert json.loads(cli("status", "--store", store, "--json").stdout)["images"] == 0


@pytest.mark.load  # Ray's start is minutes on a busy two-core machine: pytest -m load
def test_a_ray_job_fills_a_catalogue_that_searches_like_the_library(photos, tmp_path, capsys):
    data, store = str(tmp_path / "lib"), f"milvus-lite:{tmp_path / 'cat' / 'c.db'}"
    assert run(capsys, "--data-dir", data, "index", str(photos), "--model",
               "efficientnet_lite0")[0] == 0  # fmt: skip
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.pdq import pdq_of

    known = sorted(photos.iterdir())[0]  # in a watched bank of the library: checked by the job
    (tmp_path / "known.csv").write_text(f"{pdq_of(load_image(known)).hex},known\n")
    for args in (("bank", "create", "leaks", "--watch"),
                 ("bank", "import", "leaks", str(tmp_path / "known.csv"))):  # fmt: skip
        assert run(capsys, "--data-dir", data, *args)[0] == 0
    done = cli("index", "--store", store, "--ray", "--model", "efficientnet_lite0", "--json",
               "--data-dir", data, str(photos))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = last_json(done.stdout)
    n = len([p for p in os.listdir(photos) if not p.startswith(".")])
    assert report["embedded"] == report["images"] == n and not report["skipped"]
    assert [(m["path"], m["bank"], m["signal"]) for m in report["matches"]] == [
        (str(known), "leaks", "pdq")
    ]
    assert '"done"' in done.stdout  # progress lines before the report

    # the same results for every photo: same paths in the same order, scores within 1e-4
    queries = sorted(str(photos / p) for p in os.listdir(photos))
    searched = cli("search", "--store", store, "-k", "10", "--json", *queries)
    assert searched.returncode == 0, searched.stderr
    from_store = [json.loads(line) for line in searched.stdout.strip().splitlines()]
    code, out, err = run(capsys, "--data-dir", data, "search", "-k", "10", "--json", *queries)
    assert code == 0, err
    from_library = [json.loads(line) for line in out.strip().splitlines()]
    for a, b in zip(from_store, from_library, strict=True):
        assert [r["path"] for r in a["results"]] == [r["path"] for r in b["results"]]
        assert np.allclose([r["score"] for r in a["results"]], [r["score"] for r in b["results"]],
                           atol=1e-4)  # fmt: skip
        assert [set(r) - {"id"} for r in a["results"]] == [set(r) - {"id"} for r in b["results"]]
        assert [r["match"] for r in a["results"]] == [r["match"] for r in b["results"]]

    again = cli("index", "--store", store, "--ray", "--json", str(photos))
    assert last_json(again.stdout)["unchanged"] == n and last_json(again.stdout)["embedded"] == 0
    status = cli("status", "--store", store, "--json")
    assert json.loads(status.stdout)["images"] == n
    exported = cli("export", "--store", store, "--parquet", str(tmp_path / "pq"), "--json")
    assert json.loads(exported.stdout)["rows"] == n
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "pq")
    assert table.num_rows == n and {"path", "content_hash", "vector"} <= set(table.column_names)


@pytest.mark.load
def test_a_killed_ray_job_leaves_a_catalogue_that_answers_and_a_rerun_completes(
    photos, tmp_path, milvus_server
):
    source = tmp_path / "many"
    for n in range(3):  # 3 copies of the photos: more than one batch
        shutil.copytree(photos, source / f"copy{n}")
    killed_store = f"milvus://{milvus_server}/killed"
    clean_store = f"milvus://{milvus_server}/clean"
    model = ("--model", "efficientnet_lite0")
    killed = cli("index", "--store", killed_store, "--ray", *model, str(source),
                 env={"IMAGE_FINDER_KILL_AT": "catalogue_upserted:1"})  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    status = cli("status", "--store", killed_store, "--json")
    assert status.returncode == 0, status.stderr
    assert 0 < json.loads(status.stdout)["images"] < 3 * len(os.listdir(photos))
    for store in (killed_store, clean_store):
        finished = cli("index", "--store", store, "--ray", *model, "--json", str(source))
        assert finished.returncode == 0, finished.stderr
    with Catalogue(killed_store) as a, Catalogue(clean_store) as b:
        paths = sorted(str(p) for p in source.rglob("*") if p.is_file())
        assert a.count() == b.count() == len(paths)
        assert a.stamps(paths) == b.stamps(paths)
        ids = sorted(a.items(i.id for i in [a.item_by_path(p) for p in paths] if i))
        assert len(ids) == len(paths)
        np.testing.assert_allclose(a.vectors(ids), b.vectors(ids), atol=1e-5)


@pytest.mark.load
def test_a_model_worker_killed_mid_job_is_replaced_and_the_rows_are_a_clean_run_s(photos, tmp_path):
    source = tmp_path / "many"
    for n in range(3):  # more than one batch, so that the kill lands mid-job
        shutil.copytree(photos, source / f"copy{n}")
    marker = tmp_path / "killed-once"
    killed_store = f"milvus-lite:{tmp_path / 'killed.db'}"
    clean_store = f"milvus-lite:{tmp_path / 'clean.db'}"
    model = ("--model", "efficientnet_lite0")
    env = {"IMAGE_FINDER_KILL_AT": "ray_actor_embedding:2", "IMAGE_FINDER_KILL_ONCE": str(marker)}
    done = cli("index", "--store", killed_store, "--ray", *model, "--json", str(source), env=env)
    assert marker.exists()  # a model actor was SIGKILLed in its second batch
    assert done.returncode == 0, done.stderr  # Ray replaced it and ran the batch again
    assert cli("index", "--store", clean_store, "--ray", *model, str(source)).returncode == 0
    paths = sorted(str(p) for p in source.rglob("*") if p.is_file())
    # stdout holds only the job's JSON lines, though Ray reported the lost worker meanwhile
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert lines[-1]["embedded"] == len(paths) and "done" in lines[0]
    with Catalogue(killed_store) as a, Catalogue(clean_store) as b:
        assert a.count() == b.count() == len(paths)
        assert a.stamps(paths) == b.stamps(paths)
        ids = [i.id for i in (a.item_by_path(p) for p in paths) if i]
        np.testing.assert_allclose(a.vectors(ids), b.vectors(ids), atol=1e-5)


def test_the_decode_tasks_make_the_same_pixels_and_tensors_as_index_without_torch(lite0):
    """The Ray job's decode tasks resize and crop in Pillow alone (no torch to import in each
    worker); the model's tensor from their 8-bit pixels is bit for bit the one index makes."""
    import torch
    from PIL import Image

    from image_finder.core.indexing.scale_out import EmbedActor, split_transform
    from image_finder.core.pictures.steps import PictureSteps
    from tests.conftest import skimage_photo

    picture_steps, tensor_steps = split_transform(lite0.transform)
    assert isinstance(picture_steps, PictureSteps) and tensor_steps is not None
    actor = EmbedActor.__new__(EmbedActor)  # its tensor step, without loading a model
    actor.finish = tensor_steps
    pictures = [skimage_photo(name) for name in ("coffee", "astronaut", "camera", "page")]
    pictures += [Image.new("RGB", size, (30, 140, 220)) for size in
                 ((1, 500), (300, 299), (225, 224), (10, 10), (4000, 257), (257, 256))]  # fmt: skip
    for picture in pictures:
        picture = picture.convert("RGB")
        pixels = np.asarray(picture_steps(picture))
        assert pixels.dtype == np.uint8 and pixels.shape == (224, 224, 3)
        made = actor.tensor_of(pixels.ravel(), np.asarray(pixels.shape))
        assert torch.equal(made, lite0.transform(picture)), picture.size


def test_a_catalogue_keeps_a_video_s_moments_as_the_library_does(tmp_path, lite0):
    """Parts in both stores: a library with a video, copied into a catalogue, finds the
    video at the same moment; its moments are replaced whole, move with the file, and go
    with it."""
    pytest.importorskip("av")
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library
    from tests.videos import photo, slideshow

    media = tmp_path / "media"
    media.mkdir()
    slideshow(media / "holiday.mp4")  # astronaut, coffee, chelsea, rocket: 3 s each
    photo("camera").save(media / "camera.jpg")
    photo("chelsea").resize((300, 200)).save(tmp_path / "query.jpg")
    store = f"milvus-lite:{tmp_path / 'cat' / 'videos.db'}"
    with Library(tmp_path / "lib") as library, Catalogue(store) as catalogue:
        index_folders([media], library, lite0)
        moments = library.file_items(media / "holiday.mp4")
        assert copy_library(library, catalogue) == library.count() == len(moments) + 1
        assert len(catalogue.part_ids()) == len(moments) >= 4
        kept = catalogue.file_items(str(media / "holiday.mp4"))
        assert [m.part for m in kept] == [m.part for m in moments]
        answers = []
        for where in (library, catalogue):
            outcome = Searcher(where, lite0).search(Query.file(str(tmp_path / "query.jpg")),
                                                    SearchOptions(top_k=5))  # fmt: skip
            best = outcome.results[0]
            answers.append((best.item.filename, best.item.part, best.to_json()["part"]))
        assert answers[0] == answers[1]
        assert answers[0][0] == "holiday.mp4"
        assert answers[0][2]["seconds"] == pytest.approx(6.0, abs=1)
        assert len(catalogue.same_content_groups()) == 0  # a video's moments are not copies

        # copied again after the video changed: its moments replaced whole, none left over
        slideshow(media / "holiday.mp4", ["coffee", "rocket"])
        index_folders([media], library, lite0)
        copy_library(library, catalogue)
        again = catalogue.file_items(str(media / "holiday.mp4"))
        assert [m.part for m in again] == [
            m.part for m in library.file_items(media / "holiday.mp4")
        ]
        assert catalogue.count() == library.count()

        # moved on the shared file system: every moment follows with its vector; then gone
        assert catalogue.move([(str(media / "holiday.mp4"), str(media / "trip.mp4"))]) == 1
        assert catalogue.file_items(str(media / "holiday.mp4")) == []
        moved = catalogue.file_items(str(media / "trip.mp4"))
        assert [m.part for m in moved] == [m.part for m in again]
        indexed = library.file_items(media / "holiday.mp4")
        np.testing.assert_allclose(catalogue.vectors([m.id for m in moved]),
                                   library.vectors([m.id for m in indexed], original=True),
                                   atol=1e-5)  # fmt: skip
        assert catalogue.stamps([str(media / "trip.mp4")])[str(media / "trip.mp4")][0] > 0
        assert catalogue.delete([str(media / "trip.mp4")]) == len(moved)
        assert catalogue.count() == 1


def test_the_ray_job_spreads_a_long_video_over_segments_and_writes_it_whole(tmp_path, lite0):
    """A video's decoding is spread over tasks (segments, here of 4 s): together they keep
    the moments one pass keeps, with no gap at their seams; the driver writes the video only
    once every segment's moments are in, and a segment that fails skips the whole video."""
    pytest.importorskip("av")
    from image_finder.core.common.records import Part
    from image_finder.core.indexing import scale_videos
    from image_finder.core.indexing.scale_out import decode_batch, split_transform
    from image_finder.core.pictures.video import moments
    from tests.videos import slideshow

    video = slideshow(tmp_path / "long.mp4", seconds=3.0)  # 12 s: 4 scenes
    photo = tmp_path / "still.jpg"
    next(moments(video)).image.save(photo)
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    items = scale_videos.work_items([str(photo), str(video), str(tmp_path / "bad.mp4")], 4.0)
    assert [(i["segment"], i["segments"]) for i in items if i["path"] == str(video)] == [
        (0, 3), (1, 3), (2, 3)
    ]  # fmt: skip
    steps, _ = split_transform(lite0.transform)
    rows = []
    for item in items:  # each task alone, as Ray runs them
        out = decode_batch({k: [v] for k, v in item.items()}, steps, 0)
        rows += [{k: out[k][n] for k in out} for n in range(len(out["path"]))]
    for row in rows:
        row["vector"] = np.full(4, row["shape"][0], np.float32)  # the actors' work, stood in
    whole = [round(m.seconds, 2) for m in moments(video)]
    segmented = sorted(round(Part.from_key(r["part"]).at, 2)
                       for r in rows if r["path"] == str(video))  # fmt: skip
    assert set(whole) <= set(segmented) and len(segmented) <= len(whole) + 2  # a seam adds one

    gatherer = scale_videos.Gatherer()
    written, skipped = [], []
    order = sorted(rows, key=lambda r: (r["path"] != str(video), -r["segment"]))  # last first
    for start in range(0, len(order), 3):  # batches, as iter_batches gives them
        batch = {k: [r[k] for r in order[start : start + 3]] for k in order[0]}
        got, lost, _ = gatherer.add(batch)
        if any(r.path == str(video) for r in got):
            assert start + 3 >= sum(r["path"] == str(video) for r in rows)  # only when all in
        written += got
        skipped += lost
    moments_written = [r for r in written if r.path == str(video)]
    assert len(moments_written) == len(segmented)
    assert len({r.facts.content_hash for r in moments_written}) == 1  # the file's, on each
    assert [r.part.at for r in moments_written] == sorted(r.part.at for r in moments_written)
    assert [r.path for r in written if r.part is None] == [str(photo)]
    assert [s.path for s in skipped] == [str(tmp_path / "bad.mp4")]

    # a last segment with no keyframe of its own (the one before took it to the end) says so
    empty = scale_videos.decode_segment(
        {"path": str(video), "start": 10.0, "end": -1.0, "segment": 3, "segments": 4}, steps
    )
    assert [(r["part"], r["error"], r["in_segment"]) for r in empty] == [("", "", 1)]

    failing = [dict(r) for r in rows if r["path"] == str(video)]
    failing[-1].update(error="damaged or cut short", part="")  # one segment failed
    failing = [r for r in failing if r["segment"] != failing[-1]["segment"]] + [failing[-1]]
    failing[-1]["in_segment"] = 1
    got, lost, done = scale_videos.Gatherer().add({k: [r[k] for r in failing] for k in failing[0]})
    assert got == [] and [s.reason for s in lost] == ["damaged or cut short"] and done == 1


def test_the_ray_job_renders_a_document_s_pages_and_a_scan_s_frames(tmp_path, lite0):
    """A long PDF is spread over tasks of 64 pages, a multi-frame DICOM file is one task;
    the driver writes each file's parts whole, in order."""
    pytest.importorskip("pypdfium2")
    pytest.importorskip("pydicom")
    from image_finder.core.common.records import Part
    from image_finder.core.indexing import scale_videos
    from image_finder.core.indexing.scale_out import decode_batch, split_transform
    from tests import dicoms
    from tests.core.indexing.test_documents import numbered_pdf

    document = str(numbered_pdf(tmp_path / "ledger.pdf", 70))
    stack = np.stack([dicoms.values(n, size=64) for n in ("camera", "moon", "coins")])
    scan = str(dicoms.write(tmp_path / "cine.dcm", stack))
    single = str(dicoms.write(tmp_path / "chest.dcm", dicoms.values("moon", size=64)))
    items = scale_videos.work_items([document, scan, single])
    assert [(i["path"], i["start"], i["end"], i["parts"]) for i in items] == [
        (document, 1.0, 64.0, True), (document, 65.0, 70.0, True), (scan, 1.0, -1.0, True),
        (single, 0.0, -1.0, False),
    ]  # fmt: skip
    steps, _ = split_transform(lite0.transform)
    rows = []
    for item in items:
        out = decode_batch({k: [v] for k, v in item.items()}, steps, 0)
        rows += [{k: out[k][n] for k in out} for n in range(len(out["path"]))]
    assert not [r["error"] for r in rows if r["error"]]
    for row in rows:
        row["vector"] = np.ones(4, np.float32)
    written, skipped, done = scale_videos.Gatherer().add({k: [r[k] for r in rows] for k in rows[0]})
    assert skipped == [] and done == 3
    parts = {}
    for row in written:
        parts.setdefault(row.path, []).append(row.part)
    assert parts[document] == [Part.page(n) for n in range(1, 71)]
    assert parts[scan] == [Part.frame(n) for n in (1, 2, 3)]
    assert parts[single] == [None]


@pytest.mark.load
def test_a_ray_job_indexes_a_video_over_segments_like_the_library(tmp_path, capsys):
    pytest.importorskip("av")
    from tests.videos import photo, slideshow

    media = tmp_path / "media"
    media.mkdir()
    slideshow(media / "harbour.mp4", seconds=8.0)  # 32 s: four segments of 10 s
    photo("camera").save(media / "camera.jpg")
    query = tmp_path / "cat.png"
    photo("chelsea").resize((300, 200)).save(query)
    store = f"milvus-lite:{tmp_path / 'cat' / 'v.db'}"
    done = cli("index", "--store", store, "--ray", "--model", "efficientnet_lite0", "--json",
               "--video-segment", "10", str(media))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = last_json(done.stdout)
    assert report["skipped"] == [] and report["embedded"] >= 5  # the photo and the moments
    data = str(tmp_path / "lib")
    assert run(capsys, "--data-dir", data, "index", str(media), "--model",
               "efficientnet_lite0")[0] == 0  # fmt: skip
    searched = cli("search", "--store", store, "--json", str(query))  # Milvus Lite: one process
    assert searched.returncode == 0, searched.stderr
    code, out, err = run(capsys, "--data-dir", data, "search", "--json", str(query))
    assert code == 0, err
    answers = []
    for found in (last_json(searched.stdout), json.loads(out)):
        best = found["results"][0]
        answers.append((best["filename"], round(best["part"]["seconds"])))
    assert answers[0] == answers[1] == ("harbour.mp4", 16)  # chelsea: the third scene
    again = cli("index", "--store", store, "--ray", "--json", str(media))
    assert again.returncode == 0, again.stderr
    assert last_json(again.stdout)["unchanged"] == 2
