"""Helpers the tests of several folders share (fixtures live in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[1]  # the repository: subprocesses run from here


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``image-finder-cli ARGS``: (exit code, stdout, stderr)."""
    from image_finder.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
