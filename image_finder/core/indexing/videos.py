"""Indexing a file with parts (core/pictures/parts.py): a video's moments, a document's pages or
a DICOM file's frames embedded, and written as the file's parts in one
transaction: a new file's parts all at once, a changed file's old parts replaced by the new
ones at once. A file that cannot be read is skipped with the reason; a cancel or a crash in
the middle of one leaves none of its new parts (the next run does it).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.faults import checkpoint
from image_finder.core.common.records import FileFacts, NewImage, Part
from image_finder.core.indexing import partial
from image_finder.core.indexing.progress import IndexPhase, IndexProgress
from image_finder.core.pictures.layout import signature
from image_finder.core.pictures.page_print import page_print
from image_finder.core.pictures.parts import file_parts, has_parts, is_paged
from image_finder.core.pictures.pdq import hash_of
from image_finder.core.pictures.scanning import ScanEntry, Skipped, file_hash
from image_finder.core.pictures.video import MomentRule, is_video_name, probe

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from image_finder.core.embedding.extractor import EmbeddedBatch
    from image_finder.core.indexing.indexer import _Context

log = logging.getLogger(__name__)
__all__ = ["Tally", "VideoJob", "has_parts", "index_videos"]


@dataclass(frozen=True)
class VideoJob:
    folder_id: int
    entry: ScanEntry
    image_id: int | None  # one of its items, when the video changed on disk


@dataclass
class Tally:
    """How far the files of the run have come (photos first, then videos)."""

    done: int
    total: int
    started: float


def index_videos(jobs: list[VideoJob], context: _Context, tally: Tally, rule: MomentRule) -> None:
    """Index each video of ``jobs`` in turn (see the module's notes)."""
    report = context.report
    for job in jobs:
        if context.is_cancelled():
            return
        path = job.entry.path
        try:
            done = _embed(job, context, rule, tally)
        except ImageLoadError as exc:
            report.skipped.append(Skipped(path, exc.reason))
        except OSError as exc:
            report.skipped.append(Skipped(path, f"cannot be read ({exc.strerror or exc})"))
        else:
            if context.is_cancelled():
                return  # none of its parts: the next run indexes it (a document: resumes it)
            checkpoint("video_embedded")
            context.library.apply_changes(
                model=context.extractor.name,
                added=done.parts,
                added_vectors=done.vectors,
                removed=[job.image_id] if job.image_id is not None else [],
            )
            partial.forget(context.library.folder, done.digest)
            if job.image_id is None:
                report.added += 1
            else:
                report.updated += 1
            report.embedded += len(done.parts) - done.resumed
            if is_video_name(path):
                report.videos += 1
                report.video_seconds += done.seconds
        tally.done += 1
        _tell(context, tally, path)


def _tell(context: _Context, tally: Tally, path: str, where: str = "") -> None:
    elapsed = time.perf_counter() - tally.started
    report = context.report
    rate = report.embedded / elapsed if elapsed > 0 else 0.0
    context.notify(IndexProgress(IndexPhase.EMBEDDING, tally.done, tally.total, rate, None, path,
                                 video_seconds=report.video_seconds, part=where))  # fmt: skip


@dataclass
class _Embedded:
    parts: list[NewImage]
    vectors: np.ndarray
    seconds: float  # a video's length
    digest: str
    resumed: int  # parts kept from a run that stopped in the middle of the document


class _Kept:
    """A document's pages as they are embedded, kept beside the library (core/indexing/
    partial.py) every few hundred pages and when the run is cancelled, to resume from."""

    def __init__(self, context: _Context, digest: str, paged: bool) -> None:
        self.folder, self.digest = context.library.folder, digest
        name = context.extractor.name
        self.pages = partial.load(self.folder, digest, name) if paged else None
        self.resumed = self.saved = len(self.pages.parts) if self.pages else 0

    @property
    def first(self) -> int:
        return (self.pages.reached if self.pages else 0) + 1

    def earlier(self, folder_id: int, path: str) -> tuple[list[NewImage], list[np.ndarray]]:
        """The parts and vectors of the pages an earlier run embedded."""
        if self.pages is None or not self.resumed:
            return [], []
        kept = zip(self.pages.parts, self.pages.facts, strict=True)
        return [NewImage(folder_id, path, f, p) for p, f in kept], [np.stack(self.pages.vectors)]

    def add(self, batch: EmbeddedBatch[tuple[Part, Image.Image]]) -> bool:
        """Keep the batch's pages (written every partial.SAVE_EVERY); whether it is a document."""
        if self.pages is None:
            return False
        self.pages.parts += [p for p, _ in batch.items]
        self.pages.facts += batch.extras
        self.pages.vectors += list(batch.vectors)
        if len(self.pages.parts) - self.saved >= partial.SAVE_EVERY:
            self.stop()
        return True

    def stop(self) -> None:
        if self.pages is not None and len(self.pages.parts) > self.saved:
            partial.save(self.folder, self.digest, self.pages)
            self.saved = len(self.pages.parts)


def _embed(job: VideoJob, context: _Context, rule: MomentRule, tally: Tally) -> _Embedded:
    """The file's parts and their vectors (a document's: from the page an earlier run
    reached), and its length (a video's seconds)."""
    path = job.entry.path
    before = os.stat(path)
    digest = file_hash(path)
    extractor = context.extractor
    paged = is_paged(path)
    kept = _Kept(context, digest, paged)
    found = file_parts(path, rule, context.is_cancelled, first=kept.first)
    own_width, own_height = found.size
    folder_id = job.folder_id or _folder_of(context, job)

    def prepare(part: tuple[Part, Image.Image]) -> tuple[torch.Tensor, FileFacts]:
        image = part[1]
        layout = signature(image)
        width, height = own_width or image.width, own_height or image.height
        if (width > height) != (image.width > image.height):  # turned upright (a phone's)
            width, height = height, width
        return extractor.preprocess(image), FileFacts(
            before.st_size, before.st_mtime_ns, digest, width, height, layout,
            page_print(image) if paged else None, None if paged else hash_of(image),
        )  # fmt: skip

    parts, vectors = kept.earlier(folder_id, path)
    for batch in extractor.iter_embeddings(found.pictures, prepare, cancelled=context.is_cancelled):
        for (part, _), part_facts in zip(batch.items, batch.extras, strict=True):
            parts.append(NewImage(folder_id, path, part_facts, part))
        vectors.append(batch.vectors)
        if batch.failures:
            raise ImageLoadError(path, batch.failures[0].reason)
        if kept.add(batch):
            _tell(context, tally, path, f"p. {len(parts):,} of {found.count:,}")
    if context.is_cancelled():
        kept.stop()
        return _Embedded([], np.zeros((0, 0), np.float32), 0.0, digest, 0)
    if not parts:
        raise ImageLoadError(path, "no frame could be decoded")
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise ImageLoadError(path, "changed while it was read (still being written?)")
    seconds = 0.0
    if is_video_name(path):
        seconds = probe(path).duration or max(p.part.at for p in parts if p.part is not None)
    return _Embedded(parts, np.concatenate(vectors), seconds, digest, kept.resumed)


def _folder_of(context: _Context, job: VideoJob) -> int:
    """The library folder a changed video is in (its job names only one of its items)."""
    assert job.image_id is not None
    item = context.library.items([job.image_id])[job.image_id]
    info = context.library.folder_info(item.folder)
    if info is None:
        raise ImageLoadError(job.entry.path, "its folder left the library")
    return info.id
