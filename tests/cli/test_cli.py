from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from image_finder.cli import main
from image_finder.core.stores.library import Library
from tests.helpers import run


def test_index_json_then_search_json(indexed, capsys):
    data, photos = indexed
    code, out, _ = run(capsys, "index", str(photos), "--json", "--data-dir", data)
    assert code == 0
    report = json.loads(out)
    assert set(report) >= {
        "added",
        "updated",
        "removed",
        "moved",
        "skipped",
        "seconds",
        "images_per_second",
    }
    assert report["added"] == 0 and report["skipped"] == []

    queries = [str(photos / "coffee.jpg"), str(photos / "rocket.jpg")]
    code, out, _ = run(capsys, "--data-dir", data, "--json", "search", *queries, "--top-k", "3")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["query"] for line in lines] == queries
    for line, query in zip(lines, queries, strict=True):
        assert line["model"] == "efficientnet_lite0"
        first = line["results"][0]
        assert first["path"] == query and first["rank"] == 1 and first["score"] >= 0.99
        assert len(line["results"]) == 3
        assert "T" in first["indexed_at"]


def test_search_options_find_a_turned_crop(indexed, capsys, tmp_path):
    from PIL import Image

    data, photos = indexed
    with Image.open(photos / "chelsea.jpg") as image:
        w, h = image.size
        copy = image.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4))
        copy.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "copy.jpg")
    args = ["--data-dir", data, "--json", "search", str(tmp_path / "copy.jpg"), "-k", "1"]
    code, out, _ = run(capsys, *args, "--rotations", "--crops")
    assert code == 0
    assert json.loads(out)["results"][0]["path"] == str(photos / "chelsea.jpg")


def test_a_black_and_white_copy_finds_its_original_marked(indexed, capsys, tmp_path):
    from PIL import Image

    data, photos = indexed
    Image.open(photos / "astronaut.jpg").convert("L").save(tmp_path / "print.png")
    args = ["--data-dir", data, "search", str(tmp_path / "print.png"), "-k", "3"]
    code, out, _ = run(capsys, "--json", *args)
    assert code == 0
    found = json.loads(out)["results"]
    assert found[0]["path"] == str(photos / "astronaut.jpg") and found[0]["grey_match"]
    assert not any(r["grey_match"] for r in found[1:])
    code, out, _ = run(capsys, *args)
    assert code == 0
    first = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert "astronaut.jpg" in first and "*" in first
    assert "* the same picture as the black-and-white query" in out


def test_search_table_and_status(indexed, capsys):
    data, photos = indexed
    code, out, _ = run(capsys, "--data-dir", data, "search", str(photos / "coffee.jpg"), "-k", "2")
    assert code == 0
    assert "Rank" in out and "Score" in out and "coffee.jpg" in out and str(photos) in out
    code, out, _ = run(capsys, "--data-dir", data, "status", "--json")
    status = json.loads(out)
    n = len(list(photos.iterdir()))
    assert status["images"] == n and status["folders"] == [
        {
            "path": str(photos),
            "images": n,
            "online": True,
            "complete": True,
            "files_found": n,
            "last_indexed": status["folders"][0]["last_indexed"],
        }
    ]
    assert status["model"] == "efficientnet_lite0" and status["device"] == "cpu"
    assert status["index_type"] == "IndexFlatIP" and status["bytes_on_disk"] > 0
    code, out, _ = run(capsys, "--data-dir", data, "status")
    assert "Images:" in out and str(photos) in out


def test_remove_folder(indexed, capsys):
    data, photos = indexed
    code, out, _ = run(capsys, "--data-dir", data, "remove", str(photos), "--json")
    assert code == 0 and json.loads(out)["images"] == 0
    code, _, err = run(capsys, "--data-dir", data, "search", str(photos / "coffee.jpg"))
    assert code == 1 and "empty" in err


def test_user_errors_exit_1_with_one_line(indexed, capsys, tmp_path):
    data, photos = indexed
    note = tmp_path / "note.jpg"
    note.write_text("hello")
    for args in (
        ["search", str(tmp_path / "missing.jpg")],
        ["search", str(note)],
        ["index", str(tmp_path / "no-such-folder")],
        ["remove", str(tmp_path / "never-added")],
        ["index", str(photos), "--model", "vit_base_patch16_224", "--weights", str(note)],
    ):
        code, _, err = run(capsys, "--data-dir", data, *args)
        assert code == 1, args
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    code, _, err = run(
        capsys, "--data-dir", str(tmp_path / "empty"), "search", str(photos / "coffee.jpg")
    )
    assert code == 1 and "There is no library in" in err


def test_a_command_that_only_reads_never_creates_a_library(tmp_path):
    nowhere = tmp_path / "no such folder"
    for command in (["status"], ["status", "--json"], ["check"], ["duplicates"]):
        done = subprocess.run(
            [sys.executable, "-m", "image_finder.cli", "--data-dir", str(nowhere), *command],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1, (command, done.stderr)
        assert "There is no library in" in done.stderr and "index FOLDER" in done.stderr
        assert done.stdout == "" and not nowhere.exists()


def test_wrong_model_is_refused(indexed, capsys, tmp_path):
    data, photos = indexed
    import timm
    import torch

    weights = tmp_path / "vit.pth"
    torch.save(timm.create_model("vit_base_patch16_224").state_dict(), weights)
    code, _, err = run(
        capsys,
        "--data-dir",
        data,
        "index",
        str(photos),
        "--model",
        "vit_base_patch16_224",
        "--weights",
        str(weights),
    )
    assert code == 1 and "index the library again" in err and "--rebuild" in err


def test_internal_error_exits_2_and_logs_the_traceback(indexed, capsys, monkeypatch):
    data, _ = indexed
    import image_finder.cli as cli

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cli.COMMANDS, "status", boom)
    code, _, err = run(capsys, "--data-dir", data, "status")
    assert code == 2 and "kaboom" in err and "Traceback" not in err
    with open(os.path.join(os.environ["IMAGE_FINDER_LOG_DIR"], "image-finder.log")) as f:
        log = f.read()
    assert "Traceback" in log and "kaboom" in log


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "image_finder.cli", *args]


@pytest.mark.slow
def test_sigkill_mid_index_leaves_a_consistent_library(photos, tmp_path):
    data = str(tmp_path / "lib")
    for i in range(3):  # more images so that the kill lands mid-run
        for src in list(photos.glob("*.jpg"))[:10]:
            (photos / f"copy{i}-{src.name}").write_bytes(src.read_bytes() + bytes([i]))
    total = len(list(photos.iterdir()))
    args = _cli(
        "--data-dir",
        data,
        "index",
        str(photos),
        "--model",
        "efficientnet_lite0",
        "--batch-size",
        "2",
    )
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    db = os.path.join(data, "library.sqlite3")
    while time.time() < deadline:
        time.sleep(0.2)
        if os.path.exists(db):
            with Library(data) as lib:
                if lib.count() >= 6:
                    break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Library(data) as lib:
        count = lib.count()
        assert 0 < count < total
        assert lib.vector_index.info()["vectors"] == count
    result = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == total - count
    with Library(data) as lib:
        assert lib.count() == total == lib.vector_index.info()["vectors"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "image-finder-cli" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("option", "why"),
    [
        (["-k", "0"], "--top-k must be 1 or more"),
        (["--min-score", "1.5"], "--min-score must be between 0 and 1"),
        (["--min-score", "-0.2"], "--min-score must be between 0 and 1"),
        (["--nprobe", "0"], "--nprobe must be 1 or more"),
        (["--folder", "/somewhere/else"], "is not in the library (its folders: "),
    ],
)
def test_search_options_out_of_range_are_refused_in_one_line(indexed, capsys, option, why):
    data, photos = indexed
    code, out, err = run(capsys, "--data-dir", data, "search", str(photos / "coffee.jpg"), *option)
    assert code == 1 and out == ""
    assert why in err and len(err.strip().splitlines()) == 1


def test_a_mistyped_option_shows_the_command_usage_and_the_close_match(indexed, capsys):
    data, photos = indexed
    with pytest.raises(SystemExit) as exited:
        main(["--data-dir", data, "search", str(photos / "coffee.jpg"), "--min_score", "0.5"])
    err = capsys.readouterr().err
    assert exited.value.code == 1  # a usage mistake; 2 is for internal errors
    assert "usage: image-finder-cli search" in err and "did you mean --min-score?" in err


def test_the_results_table_fits_the_terminal_without_repeating_the_path(
    indexed, capsys, monkeypatch
):
    data, photos = indexed
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "--data-dir", data, "search", str(photos / "coffee.jpg"), "-k", "3")
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("Rank"))
    assert header.split() == ["Rank", "Score", "Match", "Path", "Indexed", "at"]
    table = lines[lines.index(header) :]
    assert all(len(line) <= 80 for line in table)
    assert table[1].split()[-3].endswith("coffee.jpg")  # the file name survives shortening


def test_file_names_with_escape_codes_or_newlines_are_printed_escaped(tmp_path, photos):
    folder = tmp_path / "odd"
    folder.mkdir()
    odd = folder / "red\x1b[31m\nline.jpg"
    (photos / "coffee.jpg").rename(odd)
    data = str(tmp_path / "lib")
    cli = [sys.executable, "-m", "image_finder.cli", "--data-dir", data]
    done = subprocess.run([*cli, "index", str(folder), "--model", "efficientnet_lite0"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = subprocess.run([*cli, "search", str(odd), "-k", "1"], capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "\x1b" not in found.stdout and "red\\x1b[31m\\nline.jpg" in found.stdout
    assert all("line.jpg" not in line or "red" in line for line in found.stdout.splitlines())
