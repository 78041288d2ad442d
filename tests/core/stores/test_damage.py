"""Damaged, foreign and full: the library is never silently replaced or mangled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_finder.cli import main
from image_finder.core.common.errors import LibraryDamagedError, LibraryVersionError
from image_finder.core.stores.library import BACKUP_NAME, DB_NAME, Library
from image_finder.core.stores.schema import SCHEMA_VERSION
from tests.helpers import ROOT_DIR


def small_library(folder: Path, images: Path, n: int = 12) -> None:
    images.mkdir(exist_ok=True)
    for i in range(n):
        Image.new("RGB", (32, 32), (20 * i, 255 - 20 * i, 7 * i)).save(images / f"{i}.png")
    code = subprocess.run(
        [sys.executable, "-m", "tests.crash_harness", str(folder), str(images)],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert code.returncode == 0, code.stderr


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_database_is_reported_kept_and_recoverable(tmp_path, capsys, damage):
    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img")
    assert (lib_dir / BACKUP_NAME).exists()  # made after the indexing run
    db = lib_dir / DB_NAME
    for extra in ("-wal", "-shm"):
        (lib_dir / (DB_NAME + extra)).unlink(missing_ok=True)
    data = db.read_bytes()
    damaged = b"\x13garbage!" * (len(data) // 9) if damage == "garbage" else data[: len(data) // 3]
    db.write_bytes(damaged)

    with pytest.raises(LibraryDamagedError, match=r"backup from .* exists: restore it"):
        Library(lib_dir)
    assert db.read_bytes() == damaged  # not replaced, not "repaired"

    code = main(["--data-dir", str(lib_dir), "status"])
    err = capsys.readouterr().err
    assert code == 1 and "damaged" in err and "recover" in err

    assert main(["--data-dir", str(lib_dir), "--json", "recover"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 12
    assert Path(result["replaced_file"]).read_bytes() == damaged  # kept for the user
    with Library(lib_dir) as lib:
        assert lib.count() == lib.vector_index.info()["vectors"] == 12
        assert lib.check() == []


def test_damage_without_a_backup_says_so(tmp_path):
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    (lib_dir / DB_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(LibraryDamagedError, match="No backup"):
        Library(lib_dir)


def test_a_newer_library_is_refused_untouched(tmp_path):
    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img")
    with sqlite3.connect(lib_dir / DB_NAME) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    before = (lib_dir / DB_NAME).read_bytes()
    with pytest.raises(LibraryVersionError, match="newer version"):
        Library(lib_dir)
    assert (lib_dir / DB_NAME).read_bytes() == before


def test_a_version_1_library_is_migrated(tmp_path):
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    vector = np.ones(4, np.float32) / 2
    with sqlite3.connect(lib_dir / DB_NAME) as db:  # the version 1 layout
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE folders (id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE,
                                  added_at REAL NOT NULL, last_indexed REAL);
            CREATE TABLE images (id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL,
                path BLOB NOT NULL UNIQUE, filename TEXT NOT NULL, size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL, content_hash TEXT NOT NULL, indexed_at REAL NOT NULL,
                model TEXT NOT NULL, vector BLOB NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1'), ('generation', '3'),
                                    ('model', 'm'), ('dim', '4');
            INSERT INTO folders VALUES (1, CAST('/photos' AS BLOB), 0, 0);
            """
        )
        db.execute(
            "INSERT INTO images VALUES (7, 1, CAST('/photos/a.jpg' AS BLOB), 'a.jpg', 10, 1, 'h',"
            " 0, 'm', ?)",
            (vector.tobytes(),),
        )
    with Library(lib_dir) as lib:
        item = lib.items([7])[7]
        assert item.filename == "a.jpg" and item.width is None
        assert lib.layouts([7]) == {}  # filled in by the next indexing run
        assert lib.model == "m" and lib.count() == 1
        _, found = lib.vector_index.search(vector[None, :], 1)
        assert found[0, 0] == 7
    with sqlite3.connect(lib_dir / DB_NAME) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION
        )


def test_a_full_disk_stops_indexing_cleanly_and_keeps_the_library(tmp_path):
    """RLIMIT_FSIZE makes every write past a size fail, as a full disk does."""
    lib_dir = tmp_path / "lib"
    images = tmp_path / "img"
    small_library(lib_dir, images, n=12)
    with Library(lib_dir) as lib:
        before = lib.count()
    for i in range(12, 400):
        Image.new("RGB", (32, 32), (i % 255, (3 * i) % 255, (7 * i) % 255)).save(
            images / f"{i}.png"
        )
    limit = max(p.stat().st_size for p in lib_dir.iterdir()) + 8192
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from image_finder.core.common.errors import LibraryWriteError\n"
        "from tests.crash_harness import main\n"
        f"sys.argv = ['h', {str(lib_dir)!r}, {str(images)!r}]\n"
        "try:\n    main()\nexcept LibraryWriteError as exc:\n    print(exc); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "disk may be full" in result.stdout or "disk is full" in result.stdout
    assert "faiss" not in result.stdout.lower()
    with Library(lib_dir) as lib:
        assert lib.count() >= before
        assert lib.vector_index.info()["vectors"] == lib.count()
        assert lib.check() == []
    (lib_dir / "head.npz.tmp.npz").write_bytes(b"\0" * 100_000)  # a failed write's leftover
    small_library(lib_dir, images, n=0)  # space again: the run completes
    with Library(lib_dir) as lib:
        assert lib.count() == 400 == lib.vector_index.info()["vectors"]
    assert not [p.name for p in lib_dir.iterdir() if ".tmp" in p.name]  # cleaned up
    with sqlite3.connect(lib_dir / BACKUP_NAME) as backup:  # the backup follows the library
        assert backup.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 400


def test_recover_refuses_an_intact_library_and_the_backup_follows_removals(tmp_path, capsys):
    """A healthy library is never rolled back by mistake, and a folder removed since the last
    indexing run does not come back with a restore."""
    from image_finder.core.stores.backup import recovery_facts

    lib_dir = tmp_path / "lib"
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    for folder, colour in ((keep, (200, 0, 0)), (drop, (0, 0, 200))):
        folder.mkdir()
        for i in range(3):
            Image.new("RGB", (32, 32), (colour[0], 40 * i, colour[2])).save(folder / f"{i}.png")
    for folder in (keep, drop):
        assert main(["--data-dir", str(lib_dir), "index", str(folder), "--model",
                     "efficientnet_lite0"]) == 0  # fmt: skip
    assert main(["--data-dir", str(lib_dir), "remove", str(drop)]) == 0
    capsys.readouterr()

    code = main(["--data-dir", str(lib_dir), "recover"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "intact" in err and "--force" in err
    assert "Current library: 3 images in 1 folder, saved" in out
    assert "Backup: 3 images in 1 folder, saved" in out
    facts = recovery_facts(lib_dir)
    assert facts.current.intact and facts.backup.images == 3
    with Library(lib_dir) as library:
        assert [f.path for f in library.folders()] == [str(keep)]

    # forced, the backup (written after the removal) still has only the kept folder
    assert main(["--data-dir", str(lib_dir), "--json", "recover", "--force"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 3 and ".replaced-" in result["replaced_file"]
    with Library(lib_dir) as library:
        assert [f.path for f in library.folders()] == [str(keep)]


def test_a_damaged_backup_is_never_restored_and_nothing_is_deleted(tmp_path, capsys):
    """Database and backup both damaged: recover says so, restores nothing, moves nothing and
    keeps the vector index as it was."""
    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img")
    for extra in ("-wal", "-shm"):
        (lib_dir / (DB_NAME + extra)).unlink(missing_ok=True)
    before = sorted(p.name for p in lib_dir.iterdir())
    db, backup = lib_dir / DB_NAME, lib_dir / BACKUP_NAME
    db.write_bytes(b"\x13garbage!" * 4000)
    backup.write_bytes(backup.read_bytes()[:5000])
    files = {p.name: p.read_bytes() for p in lib_dir.iterdir() if p.is_file()}

    code = main(["--data-dir", str(lib_dir), "recover"])
    out, err = capsys.readouterr()
    assert code == 1 and "Backup: damaged" in out
    assert "damaged too" in err and "nothing was changed" in err
    assert sorted(p.name for p in lib_dir.iterdir()) == before
    assert {p.name: p.read_bytes() for p in lib_dir.iterdir() if p.is_file()} == files


def test_a_deleted_database_beside_its_backup_is_missing_not_a_fresh_start(tmp_path, capsys):
    lib_dir = tmp_path / "lib"
    small_library(lib_dir, tmp_path / "img")
    for extra in ("", "-wal", "-shm"):
        (lib_dir / (DB_NAME + extra)).unlink(missing_ok=True)

    code = main(["--data-dir", str(lib_dir), "status"])
    err = capsys.readouterr().err
    assert code == 1 and "missing" in err and "image-finder-cli recover" in err
    more = tmp_path / "more"
    more.mkdir()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(more / "x.png")
    code = main(["--data-dir", str(lib_dir), "index", str(more), "--model", "efficientnet_lite0"])
    assert code == 1 and "missing" in capsys.readouterr().err
    assert not (lib_dir / DB_NAME).exists()  # nothing was created in its place

    assert main(["--data-dir", str(lib_dir), "--json", "recover"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 12
    with Library(lib_dir) as library:
        assert library.count() == library.vector_index.info()["vectors"] == 12


def test_a_library_of_the_version_before_parts_keeps_its_items_and_words(tmp_path):
    """Version 8 to 9 rebuilds the items' table: no item, vector or vector for words is lost,
    and a file may then hold several items (a video's moments)."""
    from image_finder.core.common.records import FileFacts, NewImage, Part

    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    vector = np.ones(4, np.float32) / 2
    with sqlite3.connect(lib_dir / DB_NAME) as db:  # the version 8 layout, in short
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE folders (id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE,
                added_at REAL NOT NULL, last_indexed REAL, complete INTEGER NOT NULL DEFAULT 1,
                files_found INTEGER);
            CREATE TABLE images (id INTEGER PRIMARY KEY,
                folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
                path BLOB NOT NULL UNIQUE, filename TEXT NOT NULL, size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL, content_hash TEXT NOT NULL, indexed_at REAL NOT NULL,
                model TEXT NOT NULL, vector BLOB NOT NULL, width INTEGER, height INTEGER,
                layout BLOB, taken_at REAL, format TEXT, camera TEXT, adapted BLOB);
            CREATE INDEX images_folder ON images(folder_id);
            CREATE INDEX images_hash ON images(content_hash);
            CREATE TABLE text_vectors (
                image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
                vector BLOB NOT NULL);
            CREATE TABLE concepts (name TEXT PRIMARY KEY, model TEXT NOT NULL,
                weights BLOB NOT NULL, bias REAL NOT NULL, positives INTEGER NOT NULL,
                negatives INTEGER NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
                examples TEXT);
            CREATE TABLE adapter (id INTEGER PRIMARY KEY CHECK (id = 1), model TEXT NOT NULL,
                weights BLOB NOT NULL, bias BLOB NOT NULL, labels TEXT NOT NULL,
                created REAL NOT NULL, map_before REAL NOT NULL, map_after REAL NOT NULL,
                held_out INTEGER NOT NULL, trained_on INTEGER NOT NULL, seconds REAL NOT NULL,
                active INTEGER NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '8'), ('generation', '3'),
                                    ('model', 'm'), ('dim', '4');
            INSERT INTO folders VALUES (1, CAST('/photos' AS BLOB), 0, 0, 1, 1);
            """
        )
        db.execute(
            "INSERT INTO images (id, folder_id, path, filename, size, mtime_ns, content_hash,"
            " indexed_at, model, vector, width, height) VALUES (7, 1, CAST('/photos/a.jpg' AS"
            " BLOB), 'a.jpg', 10, 1, 'h', 0, 'm', ?, 30, 20)",
            (vector.tobytes(),),
        )
        db.execute("INSERT INTO text_vectors VALUES (7, ?)", (vector.tobytes(),))
    with Library(lib_dir) as lib:
        item = lib.items([7])[7]
        assert (item.filename, item.width, item.part) == ("a.jpg", 30, None)
        assert lib.text_counts() == (1, 1)
        facts = FileFacts(10, 1, "v", 20, 30)
        parts = [NewImage(1, "/photos/clip.mp4", facts, Part.time(t)) for t in (0.0, 4.0)]
        with lib.writing():
            ids = lib.apply_changes(model="m", added=parts, added_vectors=np.stack([vector] * 2))
            with pytest.raises(sqlite3.IntegrityError):  # a part is stored once
                lib.apply_changes(model="m", added=parts[:1], added_vectors=vector[None])
        assert [i.part for i in lib.file_items("/photos/clip.mp4")] == [Part.time(0), Part.time(4)]
        assert len(ids) == 2 and lib.count() == 3
        # schema 10: a video's length, read with its facts (the photo has none)
        assert {i for i, _ in lib.side_data.missing_facts([1])} == {7, *ids}
        with lib.writing():
            lib.side_data.set_facts([(i, "mp4", None, "", 8.5) for i in ids])
        assert {r[0]: r[8] for r in lib.side_data.fact_rows()} == {
            7: None,
            **dict.fromkeys(ids, 8.5),
        }
    with sqlite3.connect(lib_dir / DB_NAME) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION
        )
