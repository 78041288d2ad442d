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

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.faults import checkpoint
from image_finder.core.common.records import FileFacts, NewImage, Part
from image_finder.core.indexing.progress import IndexPhase, IndexProgress
from image_finder.core.pictures.layout import signature
from image_finder.core.pictures.parts import file_parts
from image_finder.core.pictures.scanning import ScanEntry, Skipped, file_hash
from image_finder.core.pictures.video import MomentRule, is_video_name, probe

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

    from image_finder.core.indexing.indexer import _Context

log = logging.getLogger(__name__)


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
    report, notify = context.report, context.notify
    for job in jobs:
        if context.is_cancelled():
            return
        path = job.entry.path
        try:
            parts, vectors, seconds = _embed(job, context, rule)
        except ImageLoadError as exc:
            report.skipped.append(Skipped(path, exc.reason))
        except OSError as exc:
            report.skipped.append(Skipped(path, f"cannot be read ({exc.strerror or exc})"))
        else:
            if context.is_cancelled():
                return  # none of its parts: the next run indexes it whole
            checkpoint("video_embedded")
            context.library.apply_changes(
                model=context.extractor.name,
                added=parts,
                added_vectors=vectors,
                removed=[job.image_id] if job.image_id is not None else [],
            )
            if job.image_id is None:
                report.added += 1
            else:
                report.updated += 1
            report.embedded += len(parts)
            if is_video_name(path):
                report.videos += 1
                report.video_seconds += seconds
        tally.done += 1
        elapsed = time.perf_counter() - tally.started
        rate = report.embedded / elapsed if elapsed > 0 else 0.0
        notify(IndexProgress(IndexPhase.EMBEDDING, tally.done, tally.total, rate, None, path,
                             video_seconds=report.video_seconds))  # fmt: skip


def _embed(
    job: VideoJob, context: _Context, rule: MomentRule
) -> tuple[list[NewImage], np.ndarray, float]:
    """The file's parts and their vectors, and its length (a video's seconds)."""
    import numpy as np

    path = job.entry.path
    before = os.stat(path)
    digest = file_hash(path)
    found, (own_width, own_height) = file_parts(path, rule, context.is_cancelled)
    folder_id = job.folder_id or _folder_of(context, job)
    extractor = context.extractor

    def prepare(part: tuple[Part, Image.Image]) -> tuple[torch.Tensor, FileFacts]:
        image = part[1]
        layout = signature(image)
        width, height = own_width or image.width, own_height or image.height
        if (width > height) != (image.width > image.height):  # turned upright (a phone's)
            width, height = height, width
        return extractor.preprocess(image), FileFacts(
            before.st_size, before.st_mtime_ns, digest, width, height, layout
        )

    parts: list[NewImage] = []
    vectors: list[np.ndarray] = []
    for batch in extractor.iter_embeddings(found, prepare, cancelled=context.is_cancelled):
        for (part, _), part_facts in zip(batch.items, batch.extras, strict=True):
            parts.append(NewImage(folder_id, path, part_facts, part))
        vectors.append(batch.vectors)
        if batch.failures:
            raise ImageLoadError(path, batch.failures[0].reason)
    if not parts:
        raise ImageLoadError(path, "no frame could be decoded")
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise ImageLoadError(path, "changed while it was read (still being written?)")
    if not is_video_name(path):
        return parts, np.concatenate(vectors), 0.0
    duration = probe(path).duration or max(p.part.at for p in parts if p.part is not None)
    return parts, np.concatenate(vectors), duration


def _folder_of(context: _Context, job: VideoJob) -> int:
    """The library folder a changed video is in (its job names only one of its items)."""
    assert job.image_id is not None
    item = context.library.items([job.image_id])[job.image_id]
    info = context.library.folder_info(item.folder)
    if info is None:
        raise ImageLoadError(job.entry.path, "its folder left the library")
    return info.id
