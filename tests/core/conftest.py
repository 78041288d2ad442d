"""Fixtures of the core and command-line tests."""

from __future__ import annotations

import pytest

from image_finder.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``image-finder-cli ARGS``: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def indexed(photos, capsys, tmp_path):
    """A library of the photos, indexed by the command line."""
    data = str(tmp_path / "lib")
    code, _, err = run(
        capsys, "--data-dir", data, "index", str(photos), "--model", "efficientnet_lite0"
    )
    assert code == 0, err
    return data, photos
