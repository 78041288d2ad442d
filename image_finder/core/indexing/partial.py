"""A long document's pages embedded so far, kept beside the library while it is indexed, so
that a run cancelled (or stopped by a crash) in the middle of a 2,000-page PDF resumes at the
page it reached instead of the first. The library itself gets the document's pages all at
once, when the last is embedded; until then they are here only.

One file per document content (its hash) and model, ``partial/<hash>.npz`` in the library's
folder, written atomically (a temporary file renamed over it) every ``SAVE_EVERY`` pages and
when the run is cancelled; removed once the pages are in the library. A file that cannot be
read, or of another model, is ignored (the document is embedded from its first page).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from image_finder.core.common.records import FileFacts, Part
from image_finder.core.pictures.page_print import PRINT_BYTES

log = logging.getLogger(__name__)

SAVE_EVERY = 256  # pages
FOLDER = "partial"


@dataclass
class Partial:
    """The pages of one document embedded so far, in order."""

    model: str
    parts: list[Part] = field(default_factory=list)
    facts: list[FileFacts] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)  # one row per page

    @property
    def reached(self) -> int:
        """The last page embedded (0: none)."""
        return int(self.parts[-1].at) if self.parts else 0


def _where(library_folder: Path, digest: str) -> Path:
    return library_folder / FOLDER / f"{digest}.npz"


def load(library_folder: Path, digest: str, model: str) -> Partial:
    """The pages embedded before of the document whose content is ``digest`` (none: empty)."""
    path = _where(library_folder, digest)
    if not path.exists():
        return Partial(model)
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["model"]) != model:
                return Partial(model)
            numbers, sizes = saved["numbers"], saved["sizes"]
            layouts, lengths = saved["layouts"], saved["layout_lengths"]
            prints = saved["prints"]
            vectors = saved["vectors"]
            meta = saved["stamp"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("the pages kept of an unfinished document cannot be read (%s)", exc)
        return Partial(model)
    size, mtime_ns = int(meta[0]), int(meta[1])
    return Partial(
        model,
        [Part.page(int(n)) for n in numbers],
        [
            FileFacts(
                size,
                mtime_ns,
                digest,
                int(w),
                int(h),
                bytes(row[:n]) if n else None,
                bytes(mark) if mark.any() else None,
            )
            for (w, h), row, n, mark in zip(sizes, layouts, lengths, prints, strict=True)
        ],
        list(vectors),
    )


def save(library_folder: Path, digest: str, partial: Partial) -> None:
    """Keep ``partial`` (atomically) for the next run."""
    if not partial.parts:
        return
    path = _where(library_folder, digest)
    path.parent.mkdir(exist_ok=True)
    longest = max(len(f.layout or b"") for f in partial.facts)
    layouts = np.zeros((len(partial.facts), max(1, longest)), np.uint8)
    for row, f in zip(layouts, partial.facts, strict=True):
        row[: len(f.layout or b"")] = np.frombuffer(f.layout or b"", np.uint8)
    first = partial.facts[0]
    temporary = path.with_suffix(".tmp.npz")
    with open(temporary, "wb") as out:
        np.savez(
            out,
            model=np.array(partial.model),
            numbers=np.array([int(p.at) for p in partial.parts], np.int64),
            sizes=np.array([(f.width or 0, f.height or 0) for f in partial.facts], np.int64),
            layouts=layouts,
            layout_lengths=np.array([len(f.layout or b"") for f in partial.facts], np.int64),
            prints=np.stack(
                [np.frombuffer(f.page_print or bytes(PRINT_BYTES), np.uint8) for f in partial.facts]
            ),
            vectors=np.stack(partial.vectors).astype(np.float32),
            stamp=np.array([first.size, first.mtime_ns], np.int64),
        )
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def forget(library_folder: Path, digest: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _where(library_folder, digest).unlink()
