"""Races, kills, read-only media, emptied files and input mistakes: busy is never damaged, and
nothing indexed is lost."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_finder.cli import main
from image_finder.core.common.errors import (
    LibraryBusyError,
    LibraryDamagedError,
    LibraryReadOnlyError,
)
from image_finder.core.stores.library import BACKUP_NAME, DB_NAME, Library
from tests.core.stores.test_damage import small_library
from tests.helpers import ROOT_DIR

ROOT = ROOT_DIR


def _open_in_rounds(base: str, rounds: int, barrier, failures) -> None:  # a worker process
    for n in range(rounds):
        barrier.wait()
        try:
            with Library(Path(base) / f"lib{n}") as library:
                library.count()
        except Exception as exc:
            failures.put(f"{n}: {type(exc).__name__}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_processes_opening_one_new_library_at_once_never_call_it_damaged(tmp_path, processes):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    failures = context.Queue()
    workers = [
        context.Process(target=_open_in_rounds, args=(str(tmp_path), 300, barrier, failures))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert found == []
    assert all(worker.exitcode == 0 for worker in workers)
    with Library(tmp_path / "lib299") as library:  # each one a working library
        assert library.count() == 0 and library.check() == []


def test_a_locked_database_is_busy_not_damaged(tmp_path, monkeypatch):
    from image_finder.core.stores import schema

    monkeypatch.setattr(schema, "BUSY_RETRY_SECONDS", 0.5)
    Library(tmp_path / "lib").close()
    holder = sqlite3.connect(tmp_path / "lib" / DB_NAME, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")  # a connection that locks readers out
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LibraryBusyError, match="busy"):
            Library(tmp_path / "lib")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Library(tmp_path / "lib") as library:  # nothing was changed or moved aside
        assert library.count() == 0
    assert not list((tmp_path / "lib").glob("*damaged*"))


@pytest.fixture
def read_only_mount(tmp_path):
    """``make(source)`` bind-mounts ``source`` read-only and returns where; skips where the
    system does not let this process mount."""
    mounted = []

    def make(source: Path) -> Path:
        target = tmp_path / f"ro{len(mounted)}"
        target.mkdir()
        bind = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
        if bind.returncode != 0:
            pytest.skip(f"cannot mount here: {bind.stderr.decode().strip()}")
        mounted.append(target)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        return target

    yield make
    for target in mounted:
        subprocess.run(["umount", str(target)], check=False)


def test_a_library_on_a_read_only_medium_opens_for_searching(tmp_path, read_only_mount, capsys):
    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img")
    with Library(lib_dir) as library:
        vector = library.vectors([1])[0]
    for extra in ("-wal", "-shm"):
        assert not (lib_dir / (DB_NAME + extra)).exists()  # closed cleanly
    mounted = read_only_mount(lib_dir)

    with Library(mounted) as library:
        assert library.read_only and "read-only" in library.notices[0]
        assert library.count() == 12
        _, found = library.vector_index.search(vector[None, :], 3)
        assert found[0, 0] == 1
        with pytest.raises(LibraryReadOnlyError):
            library.begin_writing()

    assert main(["--data-dir", str(mounted), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["images"] == 12 and status["read_only"] is True
    assert main(["--data-dir", str(mounted), "check"]) == 0
    out = capsys.readouterr()
    assert "intact" in out.out and "read-only" in out.err
    assert main(["--data-dir", str(mounted), "remove", str(tmp_path / "img")]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "damaged" not in err
    assert main(["--data-dir", str(mounted), "recover", "--force"]) == 1
    err = capsys.readouterr().err
    assert "cannot be written" in err and "internal error" not in err


def test_a_folder_that_is_no_library_is_not_called_damaged(tmp_path, read_only_mount, capsys):
    empty = tmp_path / "not a library"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    mounted = read_only_mount(empty)
    assert main(["--data-dir", str(mounted), "status"]) == 1
    err = capsys.readouterr().err
    assert "holds no Image Finder library" in err and "damaged" not in err
    assert main(["--data-dir", str(mounted / "new"), "status"]) == 1
    err = capsys.readouterr().err
    assert "cannot be created" in err and "Error" not in err


def test_an_emptied_database_beside_a_backup_is_damage_not_a_new_library(tmp_path, capsys):
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    small_library(lib_dir, images, n=12)
    backup = (lib_dir / BACKUP_NAME).read_bytes()
    for extra in ("-wal", "-shm"):
        (lib_dir / (DB_NAME + extra)).unlink(missing_ok=True)
    (lib_dir / DB_NAME).write_bytes(b"")  # what a crash or a full disk can leave

    with pytest.raises(LibraryDamagedError, match="empty"):
        Library(lib_dir)
    assert main(["--data-dir", str(lib_dir), "index", str(images)]) == 1
    assert "recover" in capsys.readouterr().err
    assert (lib_dir / BACKUP_NAME).read_bytes() == backup  # the backup is untouched
    assert main(["--data-dir", str(lib_dir), "--json", "recover"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 12


def _backup_count(lib_dir: Path, name: str = BACKUP_NAME) -> int:
    with sqlite3.connect(lib_dir / name) as db:
        return int(db.execute("SELECT COUNT(*) FROM images").fetchone()[0])


def test_a_backup_is_never_replaced_by_one_that_lost_most_of_the_images(tmp_path):
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    small_library(lib_dir, images, n=20)
    assert _backup_count(lib_dir) == 20
    for path in sorted(images.iterdir())[:16]:  # most of the files gone, no `remove`
        path.unlink()
    small_library(lib_dir, images, n=0)
    kept = list(lib_dir.glob(f"{BACKUP_NAME}-kept-*"))
    assert len(kept) == 1 and _backup_count(lib_dir, kept[0].name) == 20
    assert _backup_count(lib_dir) == 4

    # a database moved aside by hand: missing, never a fresh start over its backup
    lib2, images2 = tmp_path / "lib2", tmp_path / "img2"
    small_library(lib2, images2, n=20)
    for suffix in ("", "-wal", "-shm"):
        if (lib2 / (DB_NAME + suffix)).exists():
            os.replace(lib2 / (DB_NAME + suffix), tmp_path / f"aside{suffix}")
    with pytest.raises(LibraryDamagedError, match="is missing, but its backup"):
        Library(lib2)
    assert not (lib2 / DB_NAME).exists() and _backup_count(lib2) == 20


def test_removing_folders_may_shrink_the_backup(tmp_path):
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    small_library(lib_dir, images, n=20)
    with Library(lib_dir) as library:
        library.remove_folders([images])
    assert _backup_count(lib_dir) == 0 and not list(lib_dir.glob(f"{BACKUP_NAME}-kept-*"))


def _run_harness(lib_dir: Path, images: Path, kill_at: str | None = None) -> int:
    env = dict(os.environ)
    env.pop("IMAGE_FINDER_KILL_AT", None)
    if kill_at:
        env["IMAGE_FINDER_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_harness", str(lib_dir), str(images)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    ).returncode


def _generation(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])


@pytest.mark.parametrize("point", ["folders_marked", "backup_copied"])
def test_a_run_killed_before_its_backup_gets_one_at_the_next_run(tmp_path, point):
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    small_library(lib_dir, images, n=12)
    for i in range(12, 30):
        Image.new("RGB", (32, 32), (9 * i % 255, 50, 3 * i % 255)).save(images / f"{i}.png")
    assert _run_harness(lib_dir, images, kill_at=point) == -9
    assert _backup_count(lib_dir) == 12  # the old backup, intact
    assert _run_harness(lib_dir, images) == 0  # "up to date": nothing to index
    assert _backup_count(lib_dir) == 30
    assert _generation(lib_dir / BACKUP_NAME) == _generation(lib_dir / DB_NAME)
    assert not [p.name for p in lib_dir.iterdir() if ".tmp" in p.name]


# -- duplicates --trash-others ---------------------------------------------------------------


@pytest.fixture
def copies(tmp_path):
    """A library of 8 pictures, each with a byte-identical copy: 8 groups, 8 files to trash."""
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    images.mkdir()
    rng = np.random.default_rng(3)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(images / f"{i}.png")
        shutil.copyfile(images / f"{i}.png", images / f"{i} copy.png")
    small_library(lib_dir, images, n=0)
    return lib_dir, images


def _entries(lib_dir: Path) -> set[str]:
    with Library(lib_dir) as library:
        return {r.path for f in library.folders() for r in library.folder_rows(f.id)}


def _on_disk(images: Path) -> set[str]:
    return {str(p) for p in images.iterdir()}


def test_trash_others_waits_for_nobody_and_moves_nothing_while_another_writes(
    copies, xdg_trash, capsys
):
    lib_dir, images = copies
    holder = Library(lib_dir)
    holder.begin_writing()
    try:
        code = main(["--data-dir", str(lib_dir), "duplicates", "--trash-others", "--yes"])
    finally:
        holder.close()
    assert code == 1 and "busy" in capsys.readouterr().err
    assert len(_on_disk(images)) == 16  # nothing moved


def test_trash_others_killed_midway_leaves_a_library_that_matches_the_files(copies, xdg_trash):
    lib_dir, images = copies
    env = {
        **os.environ,
        "IMAGE_FINDER_KILL_AT": "file_moved:4",
        "XDG_DATA_HOME": str(xdg_trash.parent),
    }
    run = subprocess.run(
        [sys.executable, "-m", "image_finder.cli", "--data-dir", str(lib_dir), "duplicates",
         "--trash-others", "--yes"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == -9, run.stderr
    moved = list((xdg_trash / "files").iterdir())
    assert len(moved) == 4
    # three moves committed with their files; at most the one in flight is still listed
    assert len(_entries(lib_dir) - _on_disk(images)) <= 1
    small_library(lib_dir, images, n=0)
    assert _entries(lib_dir) == _on_disk(images)


def test_trash_others_lists_what_it_moved(copies, xdg_trash, capsys):
    lib_dir, images = copies
    assert (
        main(["--data-dir", str(lib_dir), "--json", "duplicates", "--trash-others", "--yes"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert len(out["trashed"]) == 8 and not out["skipped"]
    assert _entries(lib_dir) == _on_disk(images) and len(_on_disk(images)) == 8


def test_trashing_below_the_similar_range_needs_the_count_confirmed(copies, xdg_trash, capsys):
    lib_dir, images = copies
    args = ["--data-dir", str(lib_dir), "duplicates", "--threshold", "0.05", "--trash-others"]
    assert main([*args, "--yes"]) == 1
    err = capsys.readouterr().err
    assert "below the similar range" in err and "--confirm-count" in err
    assert len(_on_disk(images)) == 16
    assert main([*args, "--yes", "--confirm-count", "3"]) == 1  # not what would go
    capsys.readouterr()
    assert len(_on_disk(images)) == 16
    assert main(["--data-dir", str(lib_dir), "--json", "duplicates", "--threshold", "0.05"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    matches = [i["match"] for g in groups for i in g["items"]]
    assert "similar" in matches  # unrelated pictures joined: listed, never trashed
    n = sum(m in ("identical", "same") for m in matches)
    assert main([*args, "--yes", "--confirm-count", str(n)]) == 0
    assert len(_on_disk(images)) == 16 - n  # the copies of each keeper only


# -- input mistakes ----------------------------------------------------------------------------


def test_input_mistakes_get_one_clear_line(tmp_path, capsys):
    (tmp_path / "a file").write_text("x")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16)).save(photo)
    cases = [
        (["--data-dir", str(tmp_path / "a file"), "status"], "is a file"),
        (["--data-dir", str(tmp_path / "a file" / "below"), "status"], "a part of its path"),
        (["--data-dir", "", "status"], "--data-dir is empty"),
        (["--data-dir", str(tmp_path / "lib"), "remove", ""], "empty folder name"),
        (["--data-dir", str(tmp_path / "lib"), "index", str(photo)], "is a file, not a folder"),
    ]
    for argv, words in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert words in err and "Error" not in err, (argv, err)
    assert not (Path.cwd() / DB_NAME).exists()


def test_words_that_start_with_a_dash_and_empty_words(tmp_path, capsys):
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    small_library(lib_dir, images, n=3)
    assert main(["--data-dir", str(lib_dir), "search", "--text", ""]) == 1
    assert "needs words" in capsys.readouterr().err
    # "-dog" is words, not an option (the pixel test model has no classes: it says so)
    assert main(["--data-dir", str(lib_dir), "search", "--text", "-dog"]) == 1
    err = capsys.readouterr().err
    assert "unrecognized" not in err and "expected one argument" not in err


def test_json_names_a_non_utf8_file_losslessly(tmp_path, capsys):
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    images.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not UTF-8
    Image.new("RGB", (32, 32), (200, 10, 10)).save(images / name)
    shutil.copyfile(images / name, images / "copy.png")
    small_library(lib_dir, images, n=0)
    assert main(["--data-dir", str(lib_dir), "--json", "duplicates"]) == 0
    items = json.loads(capsys.readouterr().out)["groups"][0]["items"]
    odd = next(i for i in items if "path_bytes" in i)
    assert os.path.exists(base64.b64decode(odd["path_bytes"]))
    assert "\ufffd" in odd["path"]
    assert all("path_bytes" not in i for i in items if i is not odd)


def test_status_imports_no_torch(tmp_path):
    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img", n=3)
    code = (
        "import sys, json\n"
        "from image_finder.cli import main\n"
        f"assert main(['--data-dir', {str(lib_dir)!r}, 'status', '--json']) == 0\n"
        f"assert main(['--data-dir', {str(lib_dir)!r}, 'check']) == 0\n"
        f"assert main(['--data-dir', {str(lib_dir)!r}, 'duplicates']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_read_only_search_writes_nothing(tmp_path):
    """Searching keeps the library's files as they are (the words head is written by the next
    indexing run, not by a search)."""
    from image_finder.core.embedding import words

    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img", n=3)
    (lib_dir / words.HEAD_FILE).unlink(missing_ok=True)
    before = {p.name: p.stat().st_mtime_ns for p in lib_dir.iterdir() if "-shm" not in p.name}
    with Library(lib_dir) as library:

        class Extractor:  # a model with a head, as the real ones have
            name = library.model

            def classifier(self):
                return np.zeros((1000, library.dim), np.float32), np.zeros(1000, np.float32)

            def mean_feature_norm(self):
                return 1.0

        assert words.keep_head(library, Extractor()) is not None
    after = {p.name: p.stat().st_mtime_ns for p in lib_dir.iterdir() if "-shm" not in p.name}
    assert words.HEAD_FILE not in after
    assert {k: v for k, v in after.items() if k in before} == before


def test_remove_on_a_full_disk_says_so_and_keeps_the_library(tmp_path):
    """RLIMIT_FSIZE makes every write past a size fail, as a full disk does: `remove` says the
    disk is full (not "run check; recover"), and the library is as it was."""
    lib_dir, images = tmp_path / "lib", tmp_path / "img"
    small_library(lib_dir, images, n=12)
    for extra in ("-wal", "-shm"):
        (lib_dir / (DB_NAME + extra)).unlink(missing_ok=True)
    limit = 36_000  # the library opens (its -shm is 32 kB); the removal cannot be written
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from image_finder.cli import main\n"
        f"sys.exit(main(['--data-dir', {str(lib_dir)!r}, 'remove', {str(images)!r}]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1, run.stderr
    assert "writing the library failed" in run.stderr.lower()  # the removal, not the opening
    assert "disk may be full" in run.stderr or "disk is full" in run.stderr
    assert "recover" not in run.stderr and "internal error" not in run.stderr
    with Library(lib_dir) as library:
        assert library.count() == 12 and library.check() == []


def test_a_failing_library_update_stops_the_trash_and_lists_what_moved(copies, xdg_trash):
    """The library cannot be written after the 2nd file went to the trash: it stops there, and
    the report names both files that moved (the next indexing run drops the stale entry)."""
    import contextlib

    from image_finder.core.indexing.cleanup import trash_images
    from image_finder.core.search.duplicates import Tier, find_duplicates

    lib_dir, images = copies
    with Library(lib_dir) as library:
        extra = [i for g in find_duplicates(library, min_tier=Tier.IDENTICAL) for i in g.removable]
        removing = library.removing
        calls = []

        @contextlib.contextmanager
        def failing(image_id):
            calls.append(image_id)
            with removing(image_id):
                yield
                if len(calls) == 2:
                    raise sqlite3.OperationalError("disk I/O error")

        library.removing = failing
        report = trash_images(library, extra)
    assert [i.id for i in report.done] == calls[:2]
    assert "could not be updated" in report.error and len(report.skipped) == len(extra) - 2
    assert not any(os.path.exists(i.path) for i in report.done)
    small_library(lib_dir, images, n=0)
    assert _entries(lib_dir) == _on_disk(images)
