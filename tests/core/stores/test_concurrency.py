"""The window and the command line (or two of either) on one library at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from image_finder.cli import main
from image_finder.core.stores.library import Library
from tests.helpers import ROOT_DIR

ROOT = ROOT_DIR


def make_images(folder: Path, n: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_a_second_writer_is_told_the_library_is_busy(tmp_path, capsys):
    lib_dir = tmp_path / "lib"
    make_images(tmp_path / "img", 3)
    holder = Library(lib_dir)
    holder.begin_writing()  # as a window that is indexing
    try:
        code = main(["--data-dir", str(lib_dir), "index", str(tmp_path / "img")])
        err = capsys.readouterr().err
        assert code == 1 and "busy" in err
        assert main(["--data-dir", str(lib_dir), "status", "--json"]) == 0  # readers work
    finally:
        holder.close()


def test_readers_keep_searching_while_another_process_indexes(tmp_path):
    lib_dir = tmp_path / "lib"
    folder = tmp_path / "img"
    make_images(folder, 400)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_harness", str(lib_dir), str(folder), "100000"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    searches = 0
    counts = []
    try:
        while writer.poll() is None:
            if not (lib_dir / "library.sqlite3").exists():
                time.sleep(0.05)
                continue
            with Library(lib_dir) as reader:
                generation = reader.generation
                n = reader.count()
                if n:
                    vectors = reader.vector_index.info()["vectors"]
                    if reader.generation == generation:  # no commit in between
                        assert vectors == n
                    probe = reader.vectors([reader.folder_rows(1).__next__()[0]])
                    scores, ids = reader.vector_index.search(probe, 1)
                    assert ids[0, 0] > 0 and scores[0, 0] > 0.99
                    searches += 1
                    counts.append(n)
            time.sleep(0.02)
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0, writer.stderr.read()
    assert searches >= 3 and counts == sorted(counts)  # saw the library grow, batch by batch
    with Library(lib_dir) as lib:
        assert lib.count() == 400 == lib.vector_index.info()["vectors"]
        assert lib.check() == []


def test_searching_while_a_writer_finishes_its_batches_never_deadlocks(tmp_path):
    """A search takes the index's lock and then the store's; a writer ending a batch saves the
    index: it must not hold the store's lock meanwhile (the two would wait for each other)."""
    import threading

    from image_finder.core.common.records import FileFacts, NewImage

    rng = np.random.default_rng(2)
    folder = tmp_path / "img"
    folder.mkdir()
    library = Library(tmp_path / "lib")
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            info = None
            for n in range(400):
                with library.writing():
                    info = info or library.add_folder(folder)
                    vectors = rng.normal(size=(5, 8)).astype(np.float32)
                    rows = [
                        NewImage(info.id, str(folder / f"{n}-{i}.png"), FileFacts(1, 1, f"{n}{i}"))
                        for i in range(5)
                    ]
                    library.apply_changes(model="m", added=rows, added_vectors=vectors)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def search() -> None:
        query = np.ones((1, 8), np.float32)
        while not stop.is_set():
            if library.count():
                library.vector_index.search(query, 3)

    threads = [threading.Thread(target=write, daemon=True)]  # daemons: a deadlock fails the test
    threads += [threading.Thread(target=search, daemon=True) for _ in range(3)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: every interleaving gets its chance
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    sys.setswitchinterval(switch)
    try:
        assert not any(t.is_alive() for t in threads), "the writer and the search wait forever"
        assert errors == [] and library.count() == 2000
    finally:
        stop.set()
        if not any(t.is_alive() for t in threads):
            library.close()


def test_threads_asking_whether_another_process_writes_never_take_each_other_for_one(tmp_path):
    """The server answers a status poll while a job starts writing: neither the probe nor the
    write may read the other as another process (a spurious "busy")."""
    import threading

    from image_finder.core.common.errors import LibraryBusyError

    library = Library(tmp_path / "lib")
    seen: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            if library.writer_elsewhere():
                seen.append("elsewhere")

    probes = [threading.Thread(target=probe) for _ in range(3)]
    for thread in probes:
        thread.start()
    try:
        for _ in range(300):
            try:
                with library.writing():
                    pass
            except LibraryBusyError:
                seen.append("busy")
    finally:
        stop.set()
        for thread in probes:
            thread.join()
        library.close()
    assert seen == []
    other, asking = Library(tmp_path / "lib"), Library(tmp_path / "lib")
    try:  # another process (another lock) is still seen
        other.begin_writing()
        assert asking.writer_elsewhere()
    finally:
        other.close()
        asking.close()
