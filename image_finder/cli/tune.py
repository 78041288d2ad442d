"""image-finder-cli tune: adapt the library to its domain (core/learning/adapter.py) from labelled
folders or saved concepts; switch between the adapted and the original features."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from image_finder.cli.output import StepLine, run_job
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    p = sub.add_parser(
        "tune",
        help="adapt the library to its pictures from labelled folders or concepts",
        description=(
            "Train a projection of the stored vectors on labelled pictures (each sub-folder of "
            "ROOT a label, or saved concepts), measure it on 20%% of each label held out, and "
            "apply it only if it helps. Nothing is embedded again; the original vectors stay."
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--labels-from-folders",
        metavar="ROOT",
        help="each sub-folder of ROOT is a label (its pictures must be indexed)",
    )
    source.add_argument(
        "--labels-from-concepts",
        nargs="*",
        metavar="NAME",
        help="saved concepts as labels (all of them when none is named)",
    )
    source.add_argument(
        "--use",
        choices=("original", "adapted"),
        help="search with the model's original features, or with the adapter again",
    )
    source.add_argument("--remove", action="store_true", help="forget the adapter")
    p.add_argument("--dry-run", action="store_true", help="measure the adapter, change nothing")
    p.add_argument("--device", help="train on this torch device (default: cuda when present)")
    common(p, True)


class _Progress:
    """Training epochs and projected pictures, on stderr (JSON lines with ``--json``)."""

    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.line = StepLine(sys.stderr, tty=False if json_lines else None)

    def __call__(self, phase: str, done: int, total: int) -> None:
        unit = "epochs" if phase == "training" else "pictures"
        if self.json_lines:
            text = json.dumps({"phase": phase, "done": done, "total": total})
        else:
            text = f"{phase.capitalize()}: {done:,} of {total:,} {unit}"
        self.line.write(text, last=done == total)

    def finish(self) -> None:
        self.line.finish()


def _switch(args: argparse.Namespace, library: Library) -> int:
    """``--use original|adapted`` or ``--remove``."""
    from image_finder.core.learning import adapter

    with library.writing():
        if args.remove:
            changed = library.spaces.remove_adapter()
            if changed:
                adapter.after_switch(library)
        else:
            changed = adapter.use(library, args.use == "adapted")
    state = "none" if args.remove else args.use
    if args.json:
        print(json.dumps({"features": state, "changed": changed}))
    elif args.remove:
        print("Removed the adapter." if changed else "The library has no adapter.")
    else:
        what = "the adapter" if args.use == "adapted" else "the model's original features"
        print(f"{'Searching' if changed else 'Already searching'} with {what}.")
    return 0


def cmd_tune(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    from image_finder.core.app.jobs import JobKind, JobState
    from image_finder.core.app.work import tune_work
    from image_finder.core.learning import adapter

    if args.use or args.remove:
        return _switch(args, library)
    if args.labels_from_folders is not None:
        labelled = adapter.labels_from_folders(library, args.labels_from_folders)
    else:
        labelled = adapter.labels_from_concepts(library, args.labels_from_concepts)
    progress = _Progress(args.json)

    def heard(job: Any) -> None:
        if job.state is JobState.RUNNING and job.total:
            progress(job.phase, job.done, job.total)

    work = tune_work(library, labelled, device=args.device, apply=not args.dry_run)
    report = run_job(JobKind.TUNE, work, heard).result
    progress.finish()
    if args.json:
        print(json.dumps(report.to_json()))
        return 0 if report.applied or args.dry_run else 1
    for label in report.skipped:
        print(f"left out the label {label!r}: fewer than {adapter.MIN_PER_LABEL} pictures",
              file=sys.stderr)  # fmt: skip
    print(
        f"{len(report.labels)} labels, {report.trained_on:,} pictures trained on, "
        f"{report.held_out:,} held out; trained in {report.seconds:.1f} s."
    )
    print(f"Held-out mAP@R: {report.map_before:.3f} before, {report.map_after:.3f} after "
          f"({report.gain:+.3f}).")  # fmt: skip
    if report.applied:
        print(
            f"Applied: {library.count():,} pictures now searched through the adapter. "
            "Back to the original features: image-finder-cli tune --use original"
        )
        return 0
    if report.cancelled:
        raise ImageFinderError("Cancelled; nothing changed.")
    print(f"Not applied: {report.reason}.")
    return 0 if args.dry_run else 1
