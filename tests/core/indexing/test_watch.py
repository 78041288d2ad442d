"""Watching drives real file-system events in temporary folders: each change is applied through
the ordinary incremental index, in batches, once files have settled."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import time

import numpy as np
import pytest
from PIL import Image

from image_finder.core.embedding.extractor import PixelExtractor
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.indexing.watch import FolderWatcher, WatchBatch, WatchMode


def picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))


class Watching:
    """A watcher whose batches are applied to the library as the window and CLI apply them."""

    def __init__(self, library, folder, **kwargs):
        self.library = library
        self.extractor = PixelExtractor()
        self.batches: queue.Queue[WatchBatch] = queue.Queue()
        self.reports = []
        self.notices = []
        self.watcher = FolderWatcher([str(folder)], self.batches.put, settle=0.5,
                                     notice=self.notices.append, **kwargs)  # fmt: skip

    def apply(self, timeout: float = 15.0) -> WatchBatch:
        batch = self.batches.get(timeout=timeout)
        self.reports.append(
            index_folders(
                list(batch.roots),
                self.library,
                self.extractor,
                unsettled=batch.unsettled,
                settle=batch.settle,
            )
        )
        return batch

    def apply_until(self, wanted: set[str], timeout: float = 20.0) -> list[WatchBatch]:
        """Apply batches until ``wanted`` are all indexed (a stream: several batches)."""
        taken = []
        deadline = time.monotonic() + timeout
        while not wanted <= self.paths():
            taken.append(self.apply(timeout=max(0.1, deadline - time.monotonic())))
        return taken

    def paths(self) -> set[str]:
        return {
            os.path.relpath(r.path, self.folder)
            for f in self.library.folders()
            for r in self.library.folder_rows(f.id)
        }


@pytest.fixture
def watched(tmp_path, library):
    folder = tmp_path / "Pictures"
    (folder / "trip").mkdir(parents=True)
    for i in range(3):
        picture(i).save(folder / "trip" / f"{i}.png")
    index_folders([folder], library, PixelExtractor())
    watching = Watching(library, folder)
    watching.folder = str(folder)
    watching.watcher.start()
    yield watching, folder
    watching.watcher.stop()


def test_created_modified_moved_and_deleted_images_follow(watched, tmp_path):
    watching, folder = watched
    assert watching.watcher.modes[str(folder)] is WatchMode.NATIVE
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    picture(10).save(outside / "new.png")

    picture(11).save(folder / "trip" / "3.png")  # created
    watching.apply()
    assert "trip/3.png" in watching.paths() and watching.reports[-1].added == 1

    picture(12).save(folder / "trip" / "0.png")  # modified
    watching.apply()
    assert watching.reports[-1].updated == 1

    (folder / "kept").mkdir()
    os.rename(folder / "trip" / "1.png", folder / "kept" / "renamed.png")  # moved within
    watching.apply()
    assert watching.reports[-1].moved == 1 and watching.reports[-1].added == 0
    assert "kept/renamed.png" in watching.paths() and "trip/1.png" not in watching.paths()

    shutil.move(outside / "new.png", folder / "trip" / "from outside.png")  # moved in
    shutil.move(folder / "trip" / "2.png", outside / "gone.png")  # moved out
    watching.apply()
    assert "trip/from outside.png" in watching.paths() and "trip/2.png" not in watching.paths()

    (folder / "trip" / "3.png").unlink()  # deleted
    (folder / "notes.txt").write_text("not a picture")  # ignored
    watching.apply()
    assert watching.reports[-1].removed == 1
    assert watching.paths() == {"trip/0.png", "kept/renamed.png", "trip/from outside.png"}

    shutil.rmtree(folder / "trip")  # a whole folder removed
    watching.apply()
    assert watching.paths() == {"kept/renamed.png"}
    assert watching.library.vector_index.info()["vectors"] == 1


def test_a_file_still_being_written_is_applied_once_it_settles(watched):
    watching, folder = watched
    picture(20).save(folder / "part.png")
    full = (folder / "part.png").read_bytes()
    with open(folder / "slow.png", "wb") as f:  # written bit by bit, for longer than settle
        for start in range(0, len(full), max(1, len(full) // 6)):
            chunk = full[start : start + max(1, len(full) // 6)]
            f.write(chunk)
            f.flush()
            time.sleep(0.15)
    batches = watching.apply_until({"part.png", "slow.png"})
    assert sum(b.paths for b in batches) >= 2
    assert not any(r.skipped for r in watching.reports)  # never read half-written


def test_a_slow_download_does_not_hold_back_a_photo_added_elsewhere(watched):
    watching, folder = watched
    (folder / "downloads").mkdir()
    picture(50).save(folder / "whole.png")
    full = (folder / "whole.png").read_bytes()

    def download() -> None:  # written for ~4 s
        with open(folder / "downloads" / "big.png", "wb") as f:
            step = max(1, len(full) // 16)
            for start in range(0, len(full), step):
                f.write(full[start : start + step])
                f.flush()
                time.sleep(0.25)

    writer = threading.Thread(target=download)
    writer.start()
    time.sleep(0.5)
    picture(51).save(folder / "trip" / "from the phone.png")
    watching.apply_until({"trip/from the phone.png"}, timeout=3.0)
    assert writer.is_alive()  # indexed while the download goes on
    assert "downloads/big.png" not in watching.paths()  # never read half-written
    writer.join()
    watching.apply_until({"downloads/big.png"})  # the download, once it has settled
    assert not any(r.skipped for r in watching.reports)


def test_many_files_copied_in_are_applied_in_few_batches(watched, tmp_path):
    watching, folder = watched
    source = tmp_path / "card"
    source.mkdir()
    for i in range(200):
        picture(100 + i).save(source / f"IMG_{i:04d}.png")
    shutil.copytree(source, folder / "card")
    wanted = {f"card/IMG_{i:04d}.png" for i in range(200)}
    batches = watching.apply_until(wanted)
    assert all(b.roots == (str(folder / "card"),) for b in batches)
    assert sum(r.added for r in watching.reports) == 200 and len(batches) <= 5
    with pytest.raises(queue.Empty):
        watching.batches.get(timeout=1.0)  # nothing left over


def test_a_steady_stream_is_searchable_while_it_goes_on(watched):
    """One photo every 0.25 s for 5 s: photos are indexed as they settle, not once the stream
    stops (p50 and max latencies are measured in benchmarks/watch_latency.py)."""
    watching, folder = watched
    (folder / "tether").mkdir()
    found_during = 0
    for i in range(20):
        picture(700 + i).save(folder / "tether" / f"shot{i:03d}.png")
        time.sleep(0.25)
        with contextlib.suppress(queue.Empty):
            while True:
                watching.apply(timeout=0.01)
        found_during = len({p for p in watching.paths() if p.startswith("tether/")})
    assert found_during >= 10  # at most ~1.5 s behind, while the stream still went on
    watching.apply_until({f"tether/shot{i:03d}.png" for i in range(20)})
    assert not any(r.skipped for r in watching.reports)


def test_merged_batches_keep_a_file_a_later_batch_took():
    from image_finder.core.indexing.watch import merge_batches

    first = WatchBatch(("/p/a",), 1, frozenset({"/p/a/slow.png"}), frozenset({"/p/a/1.png"}))
    second = WatchBatch(("/p/a",), 1, frozenset(), frozenset({"/p/a/slow.png"}))
    third = WatchBatch(("/p",), 1, frozenset({"/p/b/new.png"}), frozenset({"/p/x.png"}))
    merged = merge_batches([first, second, third])
    assert merged.roots == ("/p",)
    assert merged.unsettled == {"/p/b/new.png"}  # slow.png settled and is taken
    assert merged.paths == 3


def test_a_folder_that_goes_away_is_watched_again_when_it_returns(watched, tmp_path):
    watching, folder = watched
    away = tmp_path / "unplugged"
    folder.rename(away)
    deadline = time.monotonic() + 10
    while watching.watcher.modes[str(folder)] is not WatchMode.MISSING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert any("offline" in n for n in watching.notices)
    while not watching.batches.empty():  # what the move reported: the folder is offline
        report = index_folders(list(watching.batches.get().roots), watching.library,
                               watching.extractor)  # fmt: skip
        assert report.offline_folders and report.removed == 0
    away.rename(folder)
    picture(30).save(folder / "trip" / "while away.png")
    watching.apply()
    assert watching.watcher.modes[str(folder)] is WatchMode.NATIVE
    assert "trip/while away.png" in watching.paths()
    assert len(watching.paths()) == 4  # nothing indexed before was lost


def test_polling_is_the_fallback(tmp_path, library):
    folder = tmp_path / "share"
    folder.mkdir()
    index_folders([folder], library, PixelExtractor())
    watching = Watching(library, folder, polling=True)
    watching.folder = str(folder)
    watching.watcher.start()
    try:
        assert watching.watcher.modes[str(folder)] is WatchMode.POLLING
        picture(40).save(folder / "a.png")
        watching.apply()
        assert watching.paths() == {"a.png"}
    finally:
        watching.watcher.stop()


@pytest.mark.parametrize("cause", ["network drive", "watch limit"])
def test_network_drives_and_the_watch_limit_fall_back_to_polling(tmp_path, library, cause,
                                                                 monkeypatch):  # fmt: skip
    import errno

    from image_finder.core.indexing import watch

    folder = tmp_path / "share"
    folder.mkdir()
    index_folders([folder], library, PixelExtractor())
    if cause == "network drive":
        monkeypatch.setattr(watch, "_mount_type", lambda path: "nfs4")
    else:
        from watchdog.observers import Observer

        def full(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        monkeypatch.setattr(Observer, "schedule", full)
    watching = Watching(library, folder)
    watching.folder = str(folder)
    watching.watcher.start()
    try:
        assert watching.watcher.modes[str(folder)] is WatchMode.POLLING
        assert len(watching.notices) == 1
        assert ("network drive" if cause == "network drive" else "limit") in watching.notices[0]
        picture(41).save(folder / "b.png")
        watching.apply()
        assert watching.paths() == {"b.png"}
    finally:
        watching.watcher.stop()


def start_cli_watch(data: str, folder):
    """``image-finder-cli watch FOLDER --json`` on the library ``data``, in its own process."""
    import subprocess
    import sys

    cli = [sys.executable, "-m", "image_finder.cli", "--data-dir", data]
    watch = [*cli, "watch", str(folder), "--json", "--model", "efficientnet_lite0"]
    proc = subprocess.Popen(watch, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return cli, proc


def test_cli_watch_applies_batches_until_sigterm(photos, tmp_path):
    """The headless face: index, then one JSON line per committed batch; another process can
    read the library meanwhile; SIGTERM ends it with 0."""
    import json
    import signal
    import subprocess

    from image_finder.cli import main
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.pdq import pdq_of

    data = str(tmp_path / "lib")
    known = tmp_path / "known.csv"  # a watched bank that knows the coffee photo
    known.write_text(f"{pdq_of(load_image(photos / 'coffee.jpg')).hex},coffee leak\n")
    assert main(["--data-dir", data, "bank", "create", "leaks", "--watch"]) == 0
    assert main(["--data-dir", data, "bank", "import", "leaks", str(known)]) == 0
    cli, proc = start_cli_watch(data, photos)
    try:
        match = json.loads(proc.stdout.readline())  # found while indexing, said at once
        assert (match["event"], os.path.basename(match["path"]), match["bank"]) == (
            "match", "coffee.jpg", "leaks")  # fmt: skip
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "indexed" and first["added"] == len(list(photos.iterdir()))
        shutil.copy(photos / "coffee.jpg", photos / "coffee again.jpg")
        os.rename(photos / "rocket.jpg", photos / "rocket renamed.jpg")
        match = json.loads(proc.stdout.readline())
        assert (match["event"], os.path.basename(match["path"]), match["signal"]) == (
            "match", "coffee again.jpg", "pdq")  # fmt: skip
        line = json.loads(proc.stdout.readline())
        assert line["event"] == "batch" and set(line) == {
            "event", "added", "moved", "updated", "removed", "seconds"
        }  # fmt: skip
        assert (line["added"], line["moved"]) == (1, 1)
        status = subprocess.run([*cli, "--json", "status"], capture_output=True, text=True)
        assert status.returncode == 0
        assert json.loads(status.stdout)["images"] == len(list(photos.iterdir()))
        found = subprocess.run(
            [*cli, "--json", "search", str(photos / "coffee.jpg"), "-k", "2"],
            capture_output=True,
            text=True,
        )
        paths = [r["path"] for r in json.loads(found.stdout)["results"]]
        assert str(photos / "coffee again.jpg") in paths
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read()


def test_cli_watch_waits_for_another_writer_and_forgets_a_removed_folder(photos, tmp_path):
    """While another process holds the writer lock, changes wait and are then applied (none
    is dropped); a folder another process removes is not indexed again by later changes."""
    import json
    import signal

    from image_finder.cli import main
    from image_finder.core.stores.library import Library

    data = str(tmp_path / "lib")
    _cli, proc = start_cli_watch(data, photos)
    try:
        assert json.loads(proc.stdout.readline())["event"] == "indexed"
        holder = Library(data)
        holder.begin_writing()  # as an `index` run in another terminal
        try:
            for n in range(3):
                shutil.copy(photos / "coffee.jpg", photos / f"coffee {n}.jpg")
            time.sleep(4)  # settled, and waiting for the lock
            assert proc.poll() is None
            assert holder.item_by_path(photos / "coffee 0.jpg") is None
        finally:
            holder.close()
        applied = 0
        while applied < 3:  # then applied, in one or more batches
            line = json.loads(proc.stdout.readline())
            assert line["event"] == "batch"
            applied += line["added"]
        with Library(data) as library:
            assert all(library.item_by_path(photos / f"coffee {n}.jpg") for n in range(3))

        assert main(["--data-dir", data, "remove", str(photos)]) == 0
        shutil.copy(photos / "rocket.jpg", photos / "rocket again.jpg")
        time.sleep(4)
        with Library(data) as library:
            assert library.folders() == [] and library.count() == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read()


def test_a_file_held_back_as_unsettled_still_moves_with_its_vector(tmp_path, library):
    """A stream batch may hold back where a file was (its move not yet seen whole) while its
    new place is taken: the new place is matched to it, and nothing is embedded again."""
    folder = tmp_path / "Pictures"
    (folder / "card").mkdir(parents=True)
    picture(900).save(folder / "card" / "a.png")
    picture(901).save(folder / "card" / "b.png")
    index_folders([folder], library, PixelExtractor())
    os.rename(folder / "card", folder / "card 2026")
    held = frozenset({str(folder / "card" / "a.png"), str(folder / "card" / "b.png")})
    report = index_folders([folder], library, PixelExtractor(), unsettled=held)
    assert (report.moved, report.embedded, report.removed) == (2, 0, 0)
    assert {os.path.basename(os.path.dirname(r.path)) for f in library.folders()
            for r in library.folder_rows(f.id)} == {"card 2026"}  # fmt: skip
    os.rename(folder / "card 2026" / "b.png", folder / "b gone.txt")  # b is gone for good
    report = index_folders([folder], library, PixelExtractor(), unsettled=held)
    assert report.removed == 1 and library.count() == 1  # held paths no longer named it


def test_a_file_changed_after_the_batch_was_taken_waits_for_the_next(tmp_path, library):
    """Written (or moved in) since the watcher took its batch: it is left, and the entry it
    may have come from is kept, until the next batch sees it settled."""
    folder = tmp_path / "Pictures"
    folder.mkdir()
    picture(950).save(folder / "a.png")
    index_folders([folder], library, PixelExtractor())
    os.rename(folder / "a.png", folder / "b.png")  # a rename changes the file's ctime
    picture(951).save(folder / "c.png")
    report = index_folders([folder], library, PixelExtractor(), settle=30.0)
    assert (report.added, report.removed, report.embedded) == (0, 0, 0)
    assert library.item_by_path(folder / "a.png") is not None  # kept: it may have moved
    report = index_folders([folder], library, PixelExtractor())  # the next batch, settled
    assert (report.moved, report.added, report.removed) == (1, 1, 0)


def test_a_video_still_being_recorded_is_indexed_whole_once_it_settles(watched):
    """A camera writing a video for seconds: never read half-written (skipped as damaged, or
    indexed short), a photo added meanwhile is not held back, and the whole video is indexed
    once it stops growing."""
    av = pytest.importorskip("av")
    from tests.videos import SCENES, photo

    watching, folder = watched

    def record() -> None:  # 4 scenes of 2 s at 10 fps, written over ~5 s
        with av.open(str(folder / "camera.mkv"), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
            for name in SCENES:
                frame = av.VideoFrame.from_image(photo(name).resize((320, 180)))
                for _ in range(20):
                    for packet in stream.encode(frame):
                        container.mux(packet)
                    time.sleep(0.06)
            for packet in stream.encode():
                container.mux(packet)

    recorder = threading.Thread(target=record)
    recorder.start()
    time.sleep(0.8)
    picture(60).save(folder / "trip" / "meanwhile.png")
    watching.apply_until({"trip/meanwhile.png"}, timeout=5.0)
    assert recorder.is_alive()  # the photo did not wait for the recording
    assert "camera.mkv" not in watching.paths()
    recorder.join()
    watching.apply_until({"camera.mkv"})
    assert not any(r.skipped for r in watching.reports)
    moments = [i.part.at for i in watching.library.file_items(folder / "camera.mkv")]
    assert len(moments) >= 4 and max(moments) >= 6.0 - 0.5  # every scene, to the last
