"""image-finder-cli over a catalogue (``--store URI``, core/stores/catalogue.py): index with a Ray
Data job, search, status and export, with the same JSON as over a library."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from image_finder.cli.output import Interrupt, ProgressLine, run_job
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import display_name
from image_finder.core.config.settings import Settings
from image_finder.core.stores.catalogue import Catalogue


def add_store_options(parser: argparse.ArgumentParser, ray: bool = False) -> None:
    parser.add_argument(
        "--store",
        metavar="URI",
        help="a Milvus catalogue instead of the library: milvus-lite:PATH.db or "
        "milvus://HOST:PORT/COLLECTION",
    )
    if ray:
        parser.add_argument(
            "--ray",
            nargs="?",
            const="",
            metavar="ADDRESS",
            help="index with a Ray Data job (--store): the cluster at ADDRESS, or without one a "
            "Ray started on this machine",
        )
        parser.add_argument("--actors", type=int, metavar="N", help="model actors (default: GPUs)")
        parser.add_argument(
            "--video-segment",
            type=float,
            metavar="S",
            help="seconds of a video each decode task takes (default: 300)",
        )
        parser.add_argument(
            "--from-library",
            action="store_true",
            help="copy the library's pictures and stored vectors into --store (nothing is "
            "embedded again)",
        )


def add_export_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("export", help="write a catalogue's paths, metadata and vectors as Parquet")
    p.add_argument("--store", metavar="URI", required=True, help="the catalogue")
    p.add_argument("--parquet", metavar="DIR", required=True, help="folder for the Parquet files")
    common(p, True)


Command = Callable[[argparse.Namespace, Settings, Any], int]


def run(args: argparse.Namespace, settings: Settings, shared: Mapping[str, Command]) -> int:
    """A command given ``--store``: ``shared`` are those that serve either store (search and
    duplicates, through the same core routes as over a library)."""
    commands: dict[str, Command] = {"index": _index, "status": _status, "export": _export}
    commands |= {name: shared[name] for name in ("search", "duplicates")}
    if args.command not in commands:
        raise ImageFinderError(f"{args.command} works on a library, not on --store")
    with Catalogue(args.store) as catalogue:
        return commands[args.command](args, settings, catalogue)


def _is_source(value: str) -> bool:
    """An existing folder or a pyarrow.fs URI (s3://, gs://, file://…), not a Ray address
    (HOST:PORT, ray://HOST:PORT, auto)."""
    if os.path.exists(os.path.expanduser(value)):
        return True
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme not in ("ray", "http", "https")


def _index(args: argparse.Namespace, settings: Settings, catalogue: Catalogue) -> int:
    from image_finder.core.app.jobs import JobKind
    from image_finder.core.app.work import scale_work
    from image_finder.core.indexing import scale_out

    if args.from_library:
        return _copy_library(args, catalogue)
    if args.ray and _is_source(args.ray):  # `--ray FOLDER`: no address, the folder a source
        args.folders = [args.ray, *args.folders]
        args.ray = ""
    if args.ray is None:
        raise ImageFinderError(
            "a catalogue is indexed by a Ray Data job (add --ray [ADDRESS]), or filled from the "
            "library (--from-library)"
        )
    if not args.folders:
        raise ImageFinderError("name the folders (or pyarrow.fs URIs) to index")
    model = args.model or catalogue.model or settings.model
    scale_out.job_model(model, args.weights)  # a clear error before Ray starts
    progress = ProgressLine(sys.stderr) if not args.json else None
    out = sys.stdout

    def report_progress(p: Any) -> None:
        if progress is not None:
            progress(p)
        else:  # --json: one line per update
            print(json.dumps({"done": p.done, "total": p.total,
                              "images_per_second": round(p.images_per_second, 2),
                              "eta_seconds": p.eta_seconds}), file=out, flush=True)  # fmt: skip

    def heard(job: Any) -> None:
        if job.detail is not None:
            report_progress(job.detail)

    # the job's driver runs on the application layer's job runner (core/app/work.py); the
    # pictures it writes are checked against the watched banks of the library, where it has any
    reading = settings.read_text if args.read_text is None else args.read_text
    stack = contextlib.ExitStack()
    watching = _watching(args, stack)
    work = scale_work(catalogue, args.folders, watching, model=model,
                      weights=args.weights, device=args.device,
                      precision=args.precision or "fp32", actors=args.actors,
                      segment_seconds=_segment(args), read_text=reading)  # fmt: skip
    # Ray prints what its workers report (a lost worker, a retried task) on sys.stdout, from a
    # thread of its own: while Ray runs here that is stderr, so stdout holds only the job's lines
    sys.stdout = sys.stderr
    try:
        scale_out.start_ray(args.ray or None)
        report = run_job(JobKind.SCALE, work, heard).result
    finally:
        scale_out.stop_ray()
        sys.stdout = out
        stack.close()
    if progress is not None:
        progress.finish()
    return _said(args, report, catalogue)


def _watching(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """The library whose watched banks a Ray job's pictures are checked against: the one the
    command runs with, where it keeps banks."""
    from image_finder.core.common import paths
    from image_finder.core.stores.library import Library

    if not (paths.data_dir(args.data_dir) / "banks.sqlite").exists():
        return None
    return stack.enter_context(Library(paths.data_dir(args.data_dir)))


def _said(args: argparse.Namespace, report: Any, catalogue: Catalogue) -> int:
    from image_finder.cli.banks import match_line

    if args.json:
        print(json.dumps({**report.to_json(), "images": catalogue.count()}))
        return 0
    for skipped in report.skipped:
        print(f"skipped {display_name(skipped.path)}: {skipped.reason}", file=sys.stderr)
    for match in report.matches:
        print(f"in a watched bank: {match_line(match)}")
    state = "Cancelled: " if report.cancelled else ""
    print(f"{state}{report.embedded:,} embedded, {report.unchanged:,} unchanged, "
          f"{len(report.skipped):,} skipped ({report.images_per_second:.1f} images/s). "
          f"The catalogue holds {catalogue.count():,} images.")  # fmt: skip
    return 0


def _copy_library(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from image_finder.core.common import paths
    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.stores.library import Library

    if args.folders or args.ray is not None:
        raise ImageFinderError("--from-library copies the whole library: no FOLDER, no --ray")
    shown = not args.json and sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        if shown:
            print(f"\rCopying {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    with Library(paths.data_dir(args.data_dir)) as library, Interrupt(sys.stderr) as interrupt:
        written = copy_library(library, catalogue, cancelled=interrupt, progress=report)
        total = library.count()
    if shown:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps({"copied": written, "library_images": total,
                          "images": catalogue.count(), "cancelled": written < total}))  # fmt: skip
    else:
        print(f"Copied {written:,} of {total:,} pictures; the catalogue holds "
              f"{catalogue.count():,} images.")  # fmt: skip
    return 0


def _status(args: argparse.Namespace, settings: Settings, catalogue: Catalogue) -> int:
    from image_finder.core.stores.status import catalogue_status

    data = catalogue_status(catalogue, settings)
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"Catalogue:    {data['store']} (collection {data['collection']})")
    print(f"Images:       {data['images']:,}")
    print(f"Model:        {data['model'] or 'nothing indexed yet'}")
    for folder in catalogue.folders():
        print(f"Folder:       {display_name(folder.path)} ({folder.images:,} images)")
    return 0


def _export(args: argparse.Namespace, settings: Settings, catalogue: Catalogue) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(args.parquet, exist_ok=True)
    written = 0
    for n, rows in enumerate(catalogue.rows()):
        columns = {key: [r[key] for r in rows] for key in rows[0] if key != "vector"}
        vectors = np.asarray([r["vector"] for r in rows], np.float32)
        table = pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(
            pa.array(vectors.ravel()), vectors.shape[1])})  # fmt: skip
        pq.write_table(table, os.path.join(args.parquet, f"part-{n:05d}.parquet"))
        written += len(rows)
    if args.json:
        print(json.dumps({"rows": written, "folder": os.path.abspath(args.parquet)}))
    else:
        print(f"Wrote {written:,} rows to {display_name(os.path.abspath(args.parquet))}.")
    return 0


def _segment(args: argparse.Namespace) -> float:
    """The seconds of video a decode task takes (``--video-segment``), checked."""
    from image_finder.core.indexing.scale_videos import SEGMENT_SECONDS

    value = getattr(args, "video_segment", None)
    if value is None:
        return SEGMENT_SECONDS
    if value < 10:
        raise ImageFinderError(f"--video-segment must be 10 seconds or more (got {value:g})")
    return float(value)
