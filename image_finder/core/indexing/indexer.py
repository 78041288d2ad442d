"""Bring a library up to date with folders on disk (pictures here; videos, documents: videos.py).

:func:`index_folders` scans the folders, compares what it finds with the library by (path, size,
mtime), and then:

* keeps unchanged files as they are, without reading them;
* recognises moved and renamed files by content hash and keeps their vectors;
* re-embeds changed files (a file whose bytes did not change only gets its mtime updated);
* removes files that are gone, unless their whole folder is offline (unplugged drive): those
  entries stay until the folder returns or the user removes it;
* embeds new files in batches, each committed on its own, so a cancel or crash loses at most
  the batch in flight.

Bad files are skipped and reported with a reason; the rest of the work goes on.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from image_finder.core.common.dberrors import FULL_ERRNOS, is_busy, store_error
from image_finder.core.common.errors import (
    ImageFinderError,
    ImageLoadError,
    LibraryBusyError,
)
from image_finder.core.common.faults import checkpoint
from image_finder.core.common.paths import inside
from image_finder.core.common.records import (
    FileFacts,
    Moved,
    NewImage,
    Reembedded,
    StoredFile,
    Touched,
    display_name,
)
from image_finder.core.embedding import precision, words
from image_finder.core.indexing.backfill import fill_in
from image_finder.core.indexing.progress import (
    CancelCallback,
    IndexPhase,
    IndexProgress,
    IndexReport,
    ProgressCallback,
)
from image_finder.core.indexing.videos import Tally, VideoJob, has_parts, index_videos
from image_finder.core.pictures.images import image_size, is_raw_name, load_image, read_file
from image_finder.core.pictures.layout import signature
from image_finder.core.pictures.pdq import hash_of
from image_finder.core.pictures.scanning import ScanEntry, Skipped, file_hash, scan_folder
from image_finder.core.pictures.video import MomentRule
from image_finder.core.stores.library import Library

if TYPE_CHECKING:
    import torch

    from image_finder.core.embedding.extractor import EmbeddedBatch, Extractor

__all__ = [  # the run's reports come from core/indexing/progress.py, and are named here too
    "CancelCallback",
    "IndexPhase",
    "IndexProgress",
    "IndexReport",
    "ProgressCallback",
    "index_folders",
    "read_file",
]

log = logging.getLogger(__name__)

SAVE_INDEX_EVERY_SECONDS = 300.0
TRACKED_NEW = 200_000  # new files remembered from the first pass (to report deletions)


@dataclass(frozen=True)
class _Run:
    rebuild: bool
    batch_size: int | None
    unsettled: frozenset[str]
    settle: float
    backup: bool
    moments: MomentRule | None = None


@dataclass(frozen=True)
class _Context:
    """One run's tools: where it writes, the model, its report, and how it talks back."""

    library: Library
    extractor: Extractor
    report: IndexReport
    notify: ProgressCallback
    is_cancelled: CancelCallback
    batch_size: int | None = None


@dataclass
class _Work:
    """What one run has to do, learnt from a first pass over the folders. New files are not
    listed (a second pass streams them to the model), so memory stays bounded by the library
    and the changes, not by the size of the folders."""

    roots: list[tuple[int, str]] = field(default_factory=list)  # (folder_id, scanned root)
    bounds: dict[int, str] = field(default_factory=dict)  # folder_id: its library folder
    skipped_paths: set[str] = field(default_factory=set)  # reported by the first pass
    late_skipped: list[Skipped] = field(default_factory=list)  # gone or unreadable since
    # the new files the first pass found (up to TRACKED_NEW), so that one deleted before the
    # second pass reached it is reported, not silently dropped
    new_paths: set[str] = field(default_factory=set)
    known_paths: set[str] = field(default_factory=set)  # in the library, or moved this run
    new_count: int = 0
    known_sizes: set[int] = field(default_factory=set)  # of the library's files in the roots
    # new files of the same size as some library file: the only ones that can be moves
    move_candidates: list[tuple[int, ScanEntry]] = field(default_factory=list)
    changed: list[tuple[int, ScanEntry, str]] = field(default_factory=list)  # (id, entry, hash)
    missing: dict[str, StoredFile] = field(default_factory=dict)
    # gone, but their change is not settled (the first half of a move): kept unless a new
    # file turns out to be where they went
    held: dict[str, StoredFile] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()  # files still being written: left as they are
    fresh_after_ns: int | None = None  # files changed after this: left as they are too


def index_folders(
    roots: Sequence[str | os.PathLike[str]],
    library: Library,
    extractor: Extractor,
    progress: ProgressCallback | None = None,
    cancelled: CancelCallback | None = None,
    *,
    rebuild: bool = False,
    batch_size: int | None = None,
    unsettled: frozenset[str] = frozenset(),
    settle: float = 0.0,
    backup: bool = True,
    moments: MomentRule | None = None,
) -> IndexReport:
    """Index ``roots`` (added to the library if new) into ``library``.

    ``rebuild``: drop every stored vector first and embed everything again (after a model
    change). ``unsettled``: files still being written, left as they are (a watch batch);
    ``settle``: files changed less than this many seconds ago are left too (written since
    the watcher took its batch).
    ``backup``: refresh the backup if it is older than the library (a watcher refreshes it
    less often than every batch). ``moments``: which frames of a video are kept.
    Raises LibraryBusyError if another process is writing, ModelMismatchError if the library
    was built with another model and ``rebuild`` is false.
    """
    try:
        return _index_folders(
            roots,
            library,
            extractor,
            progress,
            cancelled,
            _Run(rebuild, batch_size, unsettled, settle, backup, moments),
        )
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise LibraryBusyError(f"The library is busy ({exc}); try again.") from exc
        raise _write_failed(exc) from exc
    except OSError as exc:
        if exc.errno in (*FULL_ERRNOS, errno.EIO):
            raise _write_failed(exc) from exc
        raise


def _write_failed(exc: Exception) -> ImageFinderError:
    log.error("writing the library failed: %s", exc)
    return store_error(exc, kept="Everything indexed before this batch is kept", writing=True)


def _index_folders(
    roots: Sequence[str | os.PathLike[str]],
    library: Library,
    extractor: Extractor,
    progress: ProgressCallback | None,
    cancelled: CancelCallback | None,
    run: _Run,
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    is_cancelled = cancelled or (lambda: False)
    notify = progress or (lambda p: None)
    with library.writing():
        if run.rebuild:
            library.clear_vectors()
        library.check_model(extractor.name, extractor.dim)
        precision_checked = precision.follow_library(extractor, library)
        library.vector_index.ensure()  # load now so batches update it in place

        fresh = time.time_ns() - int(run.settle * 1e9) if run.settle else None
        work = _Work(skip=run.unsettled, fresh_after_ns=fresh)
        folder_ids = _scan_roots(roots, work, library, report, notify, is_cancelled)

        if not is_cancelled():
            _apply_moves_and_removals(work, library, extractor, report, notify)
        if not is_cancelled():
            context = _Context(library, extractor, report, notify, is_cancelled, run.batch_size)
            _embed_files(work, context, run, precision_checked)
        if not is_cancelled():
            fill_in(library, folder_ids, extractor.min_decode_size, notify, is_cancelled)

        if library.count() and not (library.folder / words.HEAD_FILE).exists():
            words.keep_head(library, extractor)  # for searching by words
        report.cancelled = is_cancelled()
        if report.cancelled:
            report.remaining = max(0, work.new_count + len(work.changed) - report.embedded)
        notify(IndexProgress(IndexPhase.SAVING, report.embedded, report.embedded))
        if not report.cancelled:
            for folder_id in folder_ids:
                library.set_folder_indexed(folder_id)
            checkpoint("folders_marked")
            library.vector_index.optimize()
        else:
            library.vector_index.save()
        if run.backup:
            library.backup_if_stale()
    report.seconds = time.perf_counter() - started
    log.info(
        "indexed %s: +%d ~%d -%d moved %d skipped %d in %.1f s%s",
        [display_name(os.fspath(r)) for r in roots],
        report.added,
        report.updated,
        report.removed,
        report.moved,
        len(report.skipped),
        report.seconds,
        " (cancelled)" if report.cancelled else "",
    )
    return report


def _scan_roots(
    roots: Sequence[str | os.PathLike[str]],
    work: _Work,
    library: Library,
    report: IndexReport,
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> list[int]:
    """First pass over every root (added to the library if new); offline folders are noted
    and kept. Marks the folders as being indexed. Returns their ids."""
    folder_ids: list[int] = []
    found: dict[int, int] = {}
    present = []
    for root in roots:
        folder = os.path.abspath(os.fspath(root))
        if not os.path.isdir(folder):
            if library.folder_info(folder) is not None or _covering(library, folder) is not None:
                report.offline_folders.append(folder)
                log.warning("folder %s is offline; its entries are kept", folder)
                continue
            raise ImageFinderError(f"folder not found: {display_name(folder)}")
        info = library.add_folder(folder)
        work.bounds[info.id] = info.path  # links are followed within the library's folder
        present.append((info, folder))
        # a file moved from one root to another is a move: sizes of every root are candidates
        prefix = os.path.join(folder, "")
        work.known_sizes.update(
            r.size for r in library.folder_rows(info.id) if r.path.startswith(prefix)
        )
    for info, folder in present:
        folder_ids.append(info.id)
        seen = _scan_into(work, library, info.id, folder, report, notify, is_cancelled)
        if is_cancelled():
            break
        if info.path == folder:  # the whole folder was scanned, not a part of it
            found[info.id] = seen
    if folder_ids:
        library.set_folder_started(folder_ids, found)
    return folder_ids


def _covering(library: Library, folder: str) -> int | None:
    for info in library.folders():
        if inside(folder, info.path):
            return info.id
    return None


def _scan_into(
    work: _Work,
    library: Library,
    folder_id: int,
    scan_root: str,
    report: IndexReport,
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> int:
    """First pass over one folder: compare what is there with the library. Returns how many
    image files it found (so far, if cancelled)."""
    prefix = os.path.join(scan_root, "")
    known = {row.path: row for row in library.folder_rows(folder_id) if row.path.startswith(prefix)}
    work.roots.append((folder_id, scan_root))
    work.known_paths.update(known)
    seen = 0
    fresh_seen = False
    for found in scan_folder(scan_root, within=work.bounds.get(folder_id)):
        if isinstance(found, Skipped):
            report.skipped.append(found)
            work.skipped_paths.add(found.path)
            continue
        seen += 1
        fresh = work.fresh_after_ns is not None and found.ctime_ns > work.fresh_after_ns
        if fresh or found.path in work.skip:
            fresh_seen = fresh_seen or fresh
            if known.pop(found.path, None) is not None:
                report.unchanged += 1  # kept as indexed until it has settled
            continue
        checkpoint("scan")
        if seen % 500 == 0:
            notify(IndexProgress(IndexPhase.SCANNING, seen, 0, current=found.path))
            if is_cancelled():
                return seen
        row = known.pop(found.path, None)
        if row is None:
            _note_new(work, folder_id, found)
        elif (row.size, row.mtime_ns) == (found.size, found.mtime_ns):
            report.unchanged += 1
        else:
            work.changed.append((row.id, found, row.content_hash))
    for path in work.skip:  # moved away but not yet settled where it went: kept for now
        if path in known:
            work.held[path] = known.pop(path)
    # a file changed since the batch was taken may be where a missing one went: none is
    # removed this time (the watcher's next batch settles it)
    (work.held if fresh_seen else work.missing).update(known)
    return seen


def _note_new(work: _Work, folder_id: int, found: ScanEntry) -> None:
    """A file the library does not have: new, or where a missing one went (same size)."""
    work.new_count += 1
    if len(work.new_paths) < TRACKED_NEW:
        work.new_paths.add(found.path)
    if found.size in work.known_sizes:
        work.move_candidates.append((folder_id, found))


def _new_files(work: _Work) -> Iterator[tuple[int, ScanEntry]]:
    """Second pass: the files that are not in the library, as they are found."""
    for folder_id, root in work.roots:
        for found in scan_folder(root, within=work.bounds.get(folder_id)):
            if isinstance(found, Skipped):
                if found.path not in work.skipped_paths:  # unreadable since the first pass
                    work.skipped_paths.add(found.path)
                    work.late_skipped.append(found)
                continue
            work.new_paths.discard(found.path)
            if (
                found.path not in work.known_paths
                and found.path not in work.skip
                and (work.fresh_after_ns is None or found.ctime_ns <= work.fresh_after_ns)
            ):
                yield folder_id, found


def _deleted_since_the_scan(work: _Work) -> list[Skipped]:
    """New files the first pass found that the second did not: deleted while the run went on."""
    gone = sorted(p for p in work.new_paths if not os.path.lexists(p))
    work.new_paths.clear()
    return [Skipped(p, "deleted while indexing ran") for p in gone]


def _apply_moves_and_removals(
    work: _Work,
    library: Library,
    extractor: Extractor,
    report: IndexReport,
    notify: ProgressCallback,
) -> None:
    """Match new files to missing ones by content (same size, same hash) and keep their
    vectors; files whose content did not change get their new mtime; the rest of the missing
    entries are removed."""
    by_size: dict[int, list[str]] = defaultdict(list)
    gone = {**work.held, **work.missing}  # a held file can still be matched by a move
    for path, row in gone.items():
        by_size[row.size].append(path)
    moved: list[Moved] = []
    for folder_id, entry in work.move_candidates:
        candidates = by_size.get(entry.size)
        digest = _safe_hash(entry.path) if candidates else None
        match = next((p for p in candidates or () if gone[p].content_hash == digest), None)
        if match is None:
            continue
        candidates.remove(match)  # type: ignore[union-attr]
        image_id = gone[match].id
        work.missing.pop(match, None)
        work.held.pop(match, None)
        moved.append(Moved(image_id, folder_id, entry.path, entry.size, entry.mtime_ns))
        work.known_paths.add(entry.path)  # no longer new
        work.new_count -= 1
    work.move_candidates.clear()

    touched: list[Touched] = []
    changed: list[tuple[int, ScanEntry, str]] = []
    for image_id, entry, old_digest in work.changed:
        if _safe_hash(entry.path) == old_digest:
            touched.append(Touched(image_id, entry.size, entry.mtime_ns))
        else:
            changed.append((image_id, entry, old_digest))
    work.changed = changed

    removed = [row.id for row in work.missing.values()]
    if moved or touched or removed:
        library.apply_changes(model=extractor.name, moved=moved, touched=touched, removed=removed)
        checkpoint("moves_applied")
    report.moved += len(moved)
    report.removed += len(removed)
    report.unchanged += len(touched)


def _safe_hash(path: str) -> str | None:
    try:
        return file_hash(path)
    except OSError:
        return None


@dataclass(frozen=True)
class _Job:
    folder_id: int
    entry: ScanEntry
    image_id: int | None  # set when re-embedding a changed file


def _jobs(work: _Work) -> Iterator[_Job]:
    return itertools.chain(
        (_Job(0, entry, image_id) for image_id, entry, _ in work.changed),
        (_Job(folder_id, entry, None) for folder_id, entry in _new_files(work)),
    )


def _embed_files(work: _Work, context: _Context, run: _Run, precision_checked: bool) -> None:
    """The new and changed pictures, then the files with parts (each one's written at once)."""
    videos: list[VideoJob] = []
    jobs, checked = _photos(_jobs(work), videos), None
    if not precision_checked:
        jobs, checked = _check_precision(
            jobs, work, context.library, context.extractor, context.notify
        )
    tally = _embed(jobs, checked, work, context)
    if videos and not context.is_cancelled():
        index_videos(videos, context, tally, run.moments or MomentRule())


def _photos(jobs: Iterator[_Job], videos: list[VideoJob]) -> Iterator[_Job]:
    """The jobs of pictures; those of videos are put aside in ``videos`` (indexed after)."""
    for job in jobs:
        if has_parts(job.entry.path):
            videos.append(VideoJob(job.folder_id, job.entry, job.image_id))
        else:
            yield job


def _prepare(job: _Job, extractor: Extractor) -> tuple[torch.Tensor, FileFacts]:
    data, size, mtime = read_file(job.entry.path)
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    raw = is_raw_name(job.entry.path)
    image = load_image(data, min_size=extractor.min_decode_size, raw=raw)
    width, height = (None, None) if raw else image_size(data) or (None, None)
    facts = FileFacts(size, mtime, digest, width, height, signature(image), pdq=hash_of(image))
    return extractor.preprocess(image), facts


def _check_precision(
    jobs: Iterator[_Job],
    work: _Work,
    library: Library,
    extractor: Extractor,
    notify: ProgressCallback,
) -> tuple[Iterator[_Job], EmbeddedBatch[_Job] | None]:
    """Before the first vectors of a library are written on this machine, check which
    precision keeps the rankings on the first photos to embed. Returns the jobs left, and the
    checked photos as a batch embedded in the chosen precision (``None`` if no check ran)."""
    from image_finder.core.embedding.extractor import EmbeddedBatch, Failure

    if work.new_count + len(work.changed) + library.count() < precision.MIN_CHECK_IMAGES:
        return jobs, None  # too few photos to judge by: fp32 now, the check on a later run
    taken = list(itertools.islice(jobs, precision.CHECK_IMAGES))
    notify(IndexProgress(IndexPhase.CHECKING, 0, precision.CHECK_IMAGES))
    with ThreadPoolExecutor(max(2, min(8, os.cpu_count() or 2))) as pool:
        prepared = list(pool.map(lambda job: _try_prepare(job, extractor), taken))
    ready = [(job, p) for job, p in zip(taken, prepared, strict=True) if not isinstance(p, str)]
    # a few new photos in a library indexed before: its own photos make up the check
    indexed = _indexed_photos(library, extractor, precision.CHECK_IMAGES - len(ready))
    if len(ready) + len(indexed) < precision.MIN_CHECK_IMAGES:
        return itertools.chain(taken, jobs), None
    vectors = precision.check_and_record(extractor, library, [p[0] for _, p in ready] + indexed)
    failures = [
        Failure(job, p) for job, p in zip(taken, prepared, strict=True) if isinstance(p, str)
    ]
    batch = EmbeddedBatch([j for j, _ in ready], [p[1] for _, p in ready], vectors[: len(ready)])
    batch.failures = failures
    return jobs, batch


def _indexed_photos(library: Library, extractor: Extractor, n: int) -> list[torch.Tensor]:
    """Up to ``n`` of the library's photos, read from disk and prepared for the model."""
    out: list[torch.Tensor] = []
    for folder in library.folders() if n > 0 else []:
        if not folder.online:
            continue
        for row in library.folder_rows(folder.id):
            if len(out) >= n:
                return out
            try:
                out.append(extractor.load_and_preprocess(row.path))
            except (ImageLoadError, OSError):
                continue
    return out


def _try_prepare(job: _Job, extractor: Extractor) -> tuple[torch.Tensor, FileFacts] | str:
    """The prepared image, or why it could not be read."""
    try:
        return _prepare(job, extractor)
    except ImageLoadError as exc:
        return exc.reason
    except Exception as exc:  # a bug or an odd file: report, keep going
        log.exception("preparing %r failed", job.entry.path)
        return f"unexpected error: {exc}"


def _embed(
    jobs: Iterator[_Job], checked: EmbeddedBatch[_Job] | None, work: _Work, context: _Context
) -> Tally:
    """Embed the pictures of ``jobs``; returns how far the run's files have come."""
    library, extractor, report = context.library, context.extractor, context.report
    notify, is_cancelled = context.notify, context.is_cancelled
    total = work.new_count + len(work.changed)
    if not total:
        return Tally(0, 0, time.perf_counter())

    def prepare(job: _Job) -> tuple[torch.Tensor, FileFacts]:
        return _prepare(job, extractor)

    started = time.perf_counter()
    last_save = started
    done = 0
    notify(IndexProgress(IndexPhase.EMBEDDING, 0, total))
    batches = extractor.iter_embeddings(
        jobs, prepare, batch_size=context.batch_size, cancelled=is_cancelled
    )
    for batch in itertools.chain([checked] if checked else [], batches):
        checkpoint("batch_embedded")
        added: list[NewImage] = []
        added_rows = []
        re_rows = []
        re_index: list[Reembedded] = []
        for n, (job, facts) in enumerate(zip(batch.items, batch.extras, strict=True)):
            if job.image_id is None:
                added.append(NewImage(job.folder_id, job.entry.path, facts))
                added_rows.append(n)
            else:
                re_index.append(Reembedded(job.image_id, facts))
                re_rows.append(n)
        library.apply_changes(
            model=extractor.name,
            added=added,
            added_vectors=batch.vectors[added_rows],
            reembedded=re_index,
            reembedded_vectors=batch.vectors[re_rows],
        )
        report.added += len(added)
        report.updated += len(re_index)
        report.embedded += len(batch.items)
        for failure in batch.failures:
            report.skipped.append(Skipped(failure.item.entry.path, failure.reason))
        report.skipped += work.late_skipped
        work.late_skipped.clear()
        done += len(batch.items) + len(batch.failures)
        total = max(total, done)  # files created since the first pass
        elapsed = time.perf_counter() - started
        rate = report.embedded / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / (done / elapsed) if done and elapsed > 0 else None
        current = batch.items[-1].entry.path if batch.items else ""
        notify(IndexProgress(IndexPhase.EMBEDDING, done, total, rate, eta, current))
        if time.perf_counter() - last_save > SAVE_INDEX_EVERY_SECONDS:
            library.vector_index.save()
            last_save = time.perf_counter()
    report.skipped += work.late_skipped
    work.late_skipped.clear()
    if not is_cancelled():
        report.skipped += _deleted_since_the_scan(work)
    return Tally(done, total, started)
