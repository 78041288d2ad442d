"""The work of each kind of job, as the job runner (core/app/jobs.py) runs it for every face:
each is a plain function of a :class:`JobControl` that calls the core once, reports progress
(the JSON fields, and the typed progress as ``detail``) and returns how it ended, with the
core's own report as ``result`` and its JSON as ``report``.

The writes take the library's writer lock for the job's length (a busy library raises
:class:`LibraryBusyError`, which sends a watched folder's batch back to the queue); the
duplicate search is a reader.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from image_finder.core.app.jobs import JobControl, JobEnd, JobState, Work
from image_finder.core.common.errors import ImageFinderError

if TYPE_CHECKING:
    import numpy as np

    from image_finder.core.common.records import Item
    from image_finder.core.embedding.clip import ClipExtractor
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import IndexProgress
    from image_finder.core.indexing.scale_out import ScaleOutReport
    from image_finder.core.indexing.watch import WatchBatch
    from image_finder.core.learning.concepts import Concept
    from image_finder.core.pictures.video import MomentRule
    from image_finder.core.stores.catalogue import Catalogue
    from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)


def _done(cancelled: bool, message: str, result: Any = None, report: Any = None) -> JobEnd:
    state = JobState.CANCELLED if cancelled else JobState.DONE
    return JobEnd(state, message, report, result)


def index_work(
    library: Library,
    extractor: Callable[[], Extractor],
    folders: Sequence[str],
    *,
    rebuild: bool = False,
    batch: WatchBatch | None = None,
    batch_size: int | None = None,
    clip: Callable[[], ClipExtractor | None] | None = None,
    moments: MomentRule | None = None,
    read_text: bool = False,
) -> Work:
    """Index ``folders`` (or apply a watched folder's ``batch``: the folders the library no
    longer holds left out), as ``index_folders`` does; with a ``clip`` model, then bring the
    library's vectors for words along (resumed where a cancelled run stopped). ``moments``:
    which frames of a video are kept (options.moment_rule); ``read_text``: then read the text
    of the items not read yet (core/indexing/texts.py)."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.indexing.indexer import IndexPhase, IndexProgress, index_folders
        from image_finder.core.indexing.watch import in_folders
        from image_finder.text import index_summary, progress_line

        def progress(p: IndexProgress) -> None:
            control.progress(p.phase.value, p.done, p.total, rate=p.images_per_second,
                             eta_seconds=p.eta_seconds, message=progress_line(p),
                             detail=p)  # fmt: skip

        roots, extra = list(folders), {}
        if batch is not None:  # a folder removed meanwhile is not indexed again
            kept = in_folders(batch, [f.path for f in library.folders()])
            if not kept.roots:
                return JobEnd(JobState.DONE, "Nothing to apply: the folder left the library.")
            roots, extra = list(kept.roots), {"unsettled": kept.unsettled, "settle": kept.settle}
        if batch_size is not None:
            extra["batch_size"] = batch_size
        report = index_folders(roots, library, extractor(), progress=progress,
                               cancelled=control.cancelled, rebuild=rebuild, moments=moments,
                               **extra)  # type: ignore[arg-type]  # fmt: skip
        words = clip() if clip is not None else None
        if words is not None and not report.cancelled:
            from image_finder.core.app.models import index_words

            def text_progress(done: int, total: int) -> None:
                progress(IndexProgress(IndexPhase.TEXT, done, total))

            try:
                index_words(library, words, text_progress, control.cancelled)
            except ImageFinderError as exc:  # the pictures are indexed; words catch up later
                log.warning("indexing for words failed: %s", exc)
        if read_text and not report.cancelled:
            from image_finder.core.indexing.texts import fill_texts

            fill_texts(library, progress, control.cancelled)
            report.cancelled = control.cancelled()
        if not report.cancelled:  # the pictures indexed, checked against the watched banks
            from image_finder.core.app.banks import check_watched, deliver_matches

            report.matches = check_watched(library, control.cancelled)
            try:  # what is not delivered now stays pending, for the next run or the server
                report.deliveries = [d.to_json() for d in deliver_matches(library)]
            except (OSError, sqlite3.Error) as exc:
                log.warning("webhook delivery: %s", exc)
        return _done(report.cancelled, index_summary(report), report, report.to_json())

    return work


def tune_work(library: Library, labels: dict[str, list[int]] | None = None, *, root: str = "",
              device: str | None = None, apply: bool = True) -> Work:  # fmt: skip
    """Tune an adapter on ``labels`` (label -> ids; None: the sub-folders of ``root`` as
    labels, or with no root the saved concepts), applied only if it helps
    (core/learning/adapter.py); without ``apply``, only measured (no write)."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.learning import adapter

        labelled = labels
        if labelled is None:
            labelled = (
                adapter.labels_from_folders(library, root)
                if root
                else adapter.labels_from_concepts(library, [])
            )
        with library.writing() if apply else contextlib.nullcontext():
            report = adapter.tune(
                library,
                labelled,
                apply=apply,
                progress=lambda phase, done, total: control.progress(phase, done, total),
                cancelled=control.cancelled,
                device=device,
            )
        figures = f"held-out mAP@R {report.map_before:.3f} → {report.map_after:.3f}"
        if report.cancelled:
            return _done(True, "Cancelled; nothing changed.", report, report.to_json())
        if report.applied:
            return _done(False, f"Applied: {figures}.", report, report.to_json())
        return _done(False, f"Not applied: {report.reason}.", report, report.to_json())

    return work


def features_work(library: Library, adapted: bool) -> Work:
    """Search through the adapter again, or with the model's original features; the result
    is whether that changed anything."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.learning import adapter

        with library.writing():
            changed = adapter.use(library, adapted)
        what = "the adapter" if adapted else "the model's original features"
        return _done(False, f"Searching with {what}.", changed, {"changed": changed})

    return work


def learn_work(
    library: Library,
    name: str,
    positives: Sequence[int],
    negatives: Sequence[int] = (),
    *,
    refine: bool = False,
    outside: Sequence[str] = (),
    extractor: Callable[[], Extractor | None] | None = None,
    vectors: np.ndarray | None = None,
) -> Work:
    """Learn (or ``refine``) the concept ``name`` from library items, and from pictures
    ``outside`` the library (files or folders, embedded for the concept alone, never added to
    the library) or their ``vectors``."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.learning import concepts

        examples = vectors
        if outside:
            model = extractor() if extractor is not None else None
            if model is None:
                raise ImageFinderError("The model is not loaded yet; try again in a moment.")
            examples, skipped = concepts.embed_outside(
                outside,
                model,
                lambda done, total: control.progress(
                    "embedding", done, total, detail=(done, total)
                ),
                control.cancelled,
            )
            if not len(examples):
                raise ImageFinderError("None of those pictures could be read.")
            for problem in skipped:
                log.info("left out of the concept %r: %s: %s", name, problem.path, problem.reason)
        with library.writing():
            concept: Concept
            if refine:
                concept = concepts.refine(library, name, positives, negatives)
            else:
                concept = concepts.learn(library, name, positives, negatives, outside=examples)
        return _done(False, f"Learnt the concept {concept.name!r}.", concept, concept.to_json())

    return work


def duplicates_work(
    library: Any, folders: Sequence[str] = (), reference: Sequence[str] = (),
    threshold: float | None = None, **options: Any,
) -> Work:  # fmt: skip
    """Every pair of duplicates in scope (core/search/duplicates.py); a reader."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.search.duplicates import DEFAULT_THRESHOLD, find_pairs

        pairs = find_pairs(
            library,
            folders,
            reference=reference,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            progress=lambda done, total: control.progress("comparing", done, total),
            cancelled=control.cancelled,
            **options,
        )
        return _done(control.cancelled(), f"{len(pairs.found):,} pairs.", pairs)

    return work


def cleanup_work(library: Library, items: Sequence[Item], folder: str = "") -> Work:
    """Move the files of ``items`` to the system trash (``folder`` empty) or into ``folder``,
    taking them out of the library; a file changed since it was indexed is left alone."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.indexing.cleanup import move_images, trash_images

        report = move_images(library, items, folder) if folder else trash_images(library, items)
        verb = f"Moved into {folder}" if folder else "Moved to the trash"
        return _done(False, f"{verb}: {len(report.done):,} files.", report)

    return work


def remove_work(library: Library, folders: Sequence[str]) -> Work:
    """Take ``folders`` out of the library (their files stay on disk)."""

    def work(control: JobControl) -> JobEnd:
        removed = library.remove_folders(list(folders))
        return _done(False, f"Removed {sum(removed):,} pictures from the library.", removed)

    return work


def scale_work(
    catalogue: Catalogue, sources: Sequence[str], watching: Library | None = None, **job: Any
) -> Work:
    """The driver of a Ray Data job that indexes ``sources`` into ``catalogue``
    (core/indexing/scale_out.py; Ray started by the caller: ``start_ray``). ``watching``: a
    library whose watched banks each picture written is checked against (matches recorded
    there, and delivered to its webhooks)."""

    def work(control: JobControl) -> JobEnd:
        from image_finder.core.indexing import scale_out

        def progress(p: IndexProgress) -> None:
            control.progress("embedding", p.done, p.total, rate=p.images_per_second,
                             eta_seconds=p.eta_seconds, detail=p)  # fmt: skip

        matches: list[dict[str, Any]] = []

        def written(rows: Sequence[Any]) -> None:
            from image_finder.core.banks.watch import check_rows, match_json

            if watching is not None and rows:
                pictures = [(r.path, r.part, r.facts.pdq, r.vector) for r in rows]
                found = check_rows(watching, job["model"], pictures)
                matches.extend(match_json(m) for m in found)

        report: ScaleOutReport = scale_out.index_with_ray(
            catalogue, sources, progress=progress, cancelled=control.cancelled,
            written=written, **job
        )  # fmt: skip
        report.matches = matches
        if matches and watching is not None:
            from image_finder.core.app.banks import deliver_matches

            deliver_matches(watching)
        message = f"{report.embedded:,} embedded, {report.unchanged:,} unchanged."
        return _done(report.cancelled, message, report, report.to_json())

    return work
