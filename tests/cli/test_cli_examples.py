"""``search`` with several images as one query, images left out, and conditions."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from tests.helpers import run


@pytest.fixture
def with_copies(photos):
    shutil.copy(photos / "coffee.jpg", photos / "coffee again.jpg")
    Image.open(photos / "coffee.jpg").resize((300, 200)).save(photos / "coffee small.png")
    return photos


def test_together_unlike_and_conditions_echo_their_parts(with_copies, indexed, capsys):
    data, photos = indexed
    code, out, err = run(
        capsys, "--data-dir", data, "search", str(photos / "chelsea.jpg"),
        str(photos / "astronaut.jpg"), "--together", "--unlike", str(photos / "coffee.jpg"),
        "-k", "20", "--json",
    )  # fmt: skip
    assert code == 0, err
    (line,) = out.strip().splitlines()  # one query of both
    result = json.loads(line)
    assert result["parts"] == {"like": ["chelsea.jpg", "astronaut.jpg"], "unlike": ["coffee.jpg"]}
    names = [r["filename"] for r in result["results"]]
    assert not {"coffee.jpg", "coffee again.jpg", "coffee small.png"} & set(names)
    assert set(names[:2]) == {"chelsea.jpg", "astronaut.jpg"}

    code, out, err = run(
        capsys, "--data-dir", data, "search", str(photos / "coffee.jpg"), "--format", "png",
        "--orientation", "landscape", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert [r["filename"] for r in result["results"]] == ["coffee small.png"]
    assert result["parts"]["conditions"] == {"formats": ["png"], "orientation": "landscape"}

    # without --together each image stays its own query
    code, out, _ = run(capsys, "--data-dir", data, "search", str(photos / "moon.jpg"),
                       str(photos / "clock.jpg"), "--json", "-k", "1")  # fmt: skip
    assert [json.loads(x)["results"][0]["filename"] for x in out.splitlines()] == [
        "moon.jpg", "clock.jpg",
    ]  # fmt: skip


def test_words_with_a_condition(indexed, capsys):
    data, _ = indexed
    code, out, err = run(capsys, "--data-dir", data, "search", "--text", "cat",
                         "--min-width", "500", "--json")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["results"] and all(r["width"] >= 500 for r in result["results"])
    assert result["parts"]["conditions"] == {"min_width": 500}


@pytest.mark.parametrize(
    ("option", "why"),
    [
        (["--taken-after", "2024-13-01"], "YYYY-MM-DD"),
        (["--taken-before", "last week"], "YYYY-MM-DD"),
        (["--min-width", "-5"], "0 or more"),
        (["--max-file-mb", "-1"], "0 or more"),
        (["--format", "jpeg,docx"], "docx"),
        (["--orientation", "upside"], "landscape, portrait or square"),
        (["--taken-after", "2024-02-01", "--taken-before", "2024-01-01"], "nothing can match"),
    ],
)
def test_a_bad_condition_is_one_line_and_exit_1(indexed, capsys, option, why):
    data, photos = indexed
    code, out, err = run(capsys, "--data-dir", data, "search", str(photos / "moon.jpg"), *option)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and why in err


def test_unlike_needs_something_to_search_with(indexed, capsys):
    data, photos = indexed
    code, _, err = run(capsys, "--data-dir", data, "search", "--unlike", str(photos / "moon.jpg"))
    assert code == 1 and "give an IMAGE" in err


def test_duplicates_take_the_same_conditions(photos, capsys, tmp_path):
    import os
    from datetime import datetime

    shutil.copy(photos / "coffee.jpg", photos / "coffee again.jpg")
    shutil.copy(photos / "horse.jpg", photos / "horse again.jpg")
    old = datetime(2019, 7, 1).timestamp()
    for name in ("horse.jpg", "horse again.jpg"):  # no EXIF: the modified time counts
        os.utime(photos / name, (old, old))
    data = str(tmp_path / "lib")
    assert run(capsys, "--data-dir", data, "index", str(photos))[0] == 0
    code, out, _ = run(capsys, "--data-dir", data, "duplicates", "--tier", "identical", "--json")
    assert code == 0 and len(json.loads(out)["groups"]) == 2
    code, out, err = run(capsys, "--data-dir", data, "duplicates", "--tier", "identical",
                         "--taken-after", "2020-01-01", "--json")  # fmt: skip
    assert code == 0, err
    (group,) = json.loads(out)["groups"]
    assert {i["filename"] for i in group["items"]} == {"coffee.jpg", "coffee again.jpg"}
    code, _, err = run(capsys, "--data-dir", data, "duplicates", "--taken-after", "soon")
    assert code == 1 and "YYYY-MM-DD" in err
