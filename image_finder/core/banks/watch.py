"""Watched banks: every picture indexed (a folder's, a watched folder's, an upload's) is
checked against the banks marked *watch*, from the PDQ hash and the vector indexing kept for
it (nothing is decoded again). A match is recorded in the library once per item and bank
(``bank_matches``: when, what, which bank, which signal) and returned for the faces to
announce. The library remembers up to when items were checked (``banks_checked_at``): items
embedded since (new or changed files) are checked at the end of each indexing run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from image_finder.core.banks.matching import Match, Signals, measure, ready_matcher
from image_finder.core.banks.store import FILE, BankStore
from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import Part
from image_finder.core.pictures.pdq import Pdq
from image_finder.core.stores.library import Library

CHUNK = 512
CHECKED = "banks_checked_at"
# Indexing hashes the picture it decoded for the model (a JPEG decoded at a half, a quarter or an
# eighth of its size), some bits off the full-size hash that lists are made of (docs/banks.md):
# a bank's hash up to this much further is checked again against the file hashed at full size,
# as `match` hashes it.
SLACK = 16


def check_new(
    library: Library, cancelled: Callable[[], bool] = lambda: False
) -> list[dict[str, Any]]:
    """Check the items embedded since the last check against the watched banks; the matches
    recorded now (each a dict: id, image_id, path, part, bank, label, signal, value,
    threshold, entry, found_at). Holds the writer lock (the caller's, where it holds it)."""
    if not (library.folder / FILE).exists() or library.model is None:
        return []
    with BankStore(library.folder) as banks:
        watched = [b.name for b in banks.banks() if b.watch]
        if not watched:
            return []
        since = float(library.meta_value(CHECKED) or 0.0)
        todo = library.side_data.indexed_since(since)
        if not todo:
            return []
        matcher = ready_matcher(library.folder, watched, library.model, SLACK)
        now, recorded, last = time.time(), [], since
        for start in range(0, len(todo), CHUNK):
            if cancelled():
                break
            chunk = todo[start : start + CHUNK]
            ids = [row[0] for row in chunk]
            hashes = library.side_data.hashes(ids)
            vectors = library.vectors(ids, original=True) if matcher.has_pictures else None
            rows = []
            for n, (image_id, path, part_key, indexed_at) in enumerate(chunk):
                blob = hashes.get(image_id)
                signals = Signals(Pdq.from_blob(blob) if blob else None,
                                  None if vectors is None else vectors[n])  # fmt: skip
                part = Part.from_key(part_key)
                recheck = functools.partial(_full_size, path, part)
                rows += [_row(image_id, match, now)
                         for match in matcher.match(path, part, signals, recheck)]  # fmt: skip
                last = max(last, indexed_at)
            with library.writing():
                added = library.side_data.record_matches(rows)
                library.set_meta_values({CHECKED: repr(last)})
            if added:
                recorded += library.side_data.bank_matches(added, limit=len(added))
        return recorded


def _row(image_id: int | None, match: Match, now: float) -> dict[str, Any]:
    """A match as ``record_matches`` writes it."""
    return {"image_id": image_id, "path": match.path,
            "part": match.part.key if match.part else None, "bank": match.bank,
            "label": match.label, "signal": match.signal, "value": match.value,
            "threshold": match.threshold, "entry": match.entry, "found_at": now}  # fmt: skip


def _full_size(path: str, part: Part | None) -> Pdq | None:
    """The picture's PDQ hash from its file read whole (None: it cannot be read now)."""
    from image_finder.core.pictures.parts import part_picture
    from image_finder.core.pictures.pdq import pdq_of

    try:
        return pdq_of(part_picture(path, part))
    except (ImageLoadError, OSError):
        return None


def check_rows(
    library: Library, model: str, rows: Sequence[tuple[str, Part | None, bytes | None, Any]]
) -> list[dict[str, Any]]:
    """Check pictures indexed elsewhere (a Ray job's, into a catalogue: (path, part, PDQ
    blob, vector of ``model``) each) against the library's watched banks; the matches
    recorded in the library (without an item of its own), as ``check_new``'s."""
    if not (library.folder / FILE).exists():
        return []
    with BankStore(library.folder) as banks:
        watched = [b.name for b in banks.banks() if b.watch]
    if not watched:
        return []
    matcher = ready_matcher(library.folder, watched, model, SLACK)
    now, found = time.time(), []
    for path, part, blob, vector in rows:
        signals = Signals(Pdq.from_blob(blob) if blob else None, vector)
        recheck = functools.partial(_full_size, path, part)  # a file here, or None
        found += [_row(None, m, now) for m in matcher.match(path, part, signals, recheck)]
    if not found:
        return []
    with library.writing():
        added = library.side_data.record_matches(found)
    return library.side_data.bank_matches(added, limit=len(added)) if added else []


def match_json(row: dict[str, Any]) -> dict[str, Any]:
    """A recorded match as the faces show it."""
    part = Part.from_key(row.get("part"))
    return {
        "id": row["id"], "image_id": row["image_id"], "path": row["path"],
        "part": part.to_json() if part else None, "bank": row["bank"], "label": row["label"],
        "signal": row["signal"], **measure(row["signal"], row["value"], row["threshold"]),
        "entry": row["entry"],
        "found_at": row["found_at"], "decision": row.get("decision"),
        "decided_by": row.get("decided_by"), "decided_at": row.get("decided_at"),
    }  # fmt: skip
