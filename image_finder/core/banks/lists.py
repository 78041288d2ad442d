"""Hash lists as moderation teams share them, read and written.

Read (``read_list``): one hash a line, in any of the plain-text shapes exchanges and tools
write:

* ``HASH`` alone (a list of hashes);
* ``HASH,LABEL`` or ``HASH<TAB>LABEL`` (CSV or TSV; a label may be quoted, and hold commas);
* ``pdq,HASH[,LABEL…]`` or ``pdq HASH LABEL…`` (the signal type first, as ThreatExchange's
  and HMA's exports write it);
* a header line (``hash,label``, ``signal_type,signal,…``) and blank or ``#`` lines are
  skipped.

A PDQ hash is 64 hexadecimal digits. A line that holds none, or a hash of another length, is
an error that names its line: the whole list is refused (an import is all or nothing).
Written (``write_list``): CSV, ``hash,label``, with a header.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from image_finder.core.common.errors import ImageFinderError

_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_HEADER_WORDS = {"hash", "signal", "signal_type", "pdq", "label", "labels", "tags", "tag",
                 "value", "type", "hash_value", "signal_value"}  # fmt: skip
_TYPES = {"pdq", "pdq_hash", "photo_pdq"}


def read_list(path: str | Path) -> Iterator[tuple[bytes, str]]:
    """(hash, label) of each line of the list at ``path``; raises ImageFinderError naming
    the line that is not a hash (nothing is yielded past it)."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ImageFinderError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        yield from read_lines(handle, str(path))


def read_lines(handle: TextIO, name: str = "the list") -> Iterator[tuple[bytes, str]]:
    for number, line in enumerate(handle, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = _fields(text)
        found = next((n for n, f in enumerate(fields) if _HEX.match(f)), None)
        if found is None:
            words = {f.strip().lower() for f in fields if f.strip()}
            if number <= 2 and words and words <= _HEADER_WORDS | {""}:
                continue  # a header
            raise ImageFinderError(
                f"{name}, line {number}: no PDQ hash (64 hexadecimal digits) in {text[:80]!r}"
            )
        rest = [f.strip() for n, f in enumerate(fields) if n != found and f.strip()]
        label = " ".join(f for f in rest if f.lower() not in _TYPES)
        yield bytes.fromhex(fields[found]), label


def _fields(text: str) -> list[str]:
    if "\t" in text:
        return [f.strip() for f in text.split("\t")]
    first = text.split(None, 1)[0]
    if first.lower() in _TYPES:  # "pdq HASH LABEL…": the label is the rest, commas and all
        return text.split(None, 2)
    if _HEX.match(first):  # "HASH LABEL…"
        return text.split(None, 1)
    return [f.strip() for f in next(csv.reader(io.StringIO(text)))]


def write_list(rows: Iterable[tuple[bytes, str]], out: TextIO) -> int:
    """Write (hash, label) rows as CSV with a header; how many were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["hash", "label"])
    count = 0
    for digest, label in rows:
        writer.writerow([digest.hex(), label])
        count += 1
    return count
