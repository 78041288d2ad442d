"""image-finder-cli over a catalogue (``--store URI``, core/stores/catalogue.py): index with a Ray
Data job, search, status and export, with the same JSON as over a library."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from image_finder.cli.output import Interrupt, ProgressLine, print_searches
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


def add_export_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("export", help="write a catalogue's paths, metadata and vectors as Parquet")
    p.add_argument("--store", metavar="URI", required=True, help="the catalogue")
    p.add_argument("--parquet", metavar="DIR", required=True, help="folder for the Parquet files")
    common(p, True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """A command given ``--store``."""
    commands = {"index": _index, "search": _search, "status": _status, "export": _export}
    if args.command not in commands:
        raise ImageFinderError(f"{args.command} works on a library, not on --store")
    with Catalogue(args.store) as catalogue:
        return commands[args.command](args, settings, catalogue)


def _index(args: argparse.Namespace, settings: Settings, catalogue: Catalogue) -> int:
    from image_finder.core.indexing import scale_out

    if args.ray is None:
        raise ImageFinderError("a catalogue is indexed by a Ray Data job: add --ray [ADDRESS]")
    if not args.folders:
        raise ImageFinderError("name the folders (or pyarrow.fs URIs) to index")
    model = args.model or catalogue.model or settings.model
    scale_out.start_ray(args.ray or None)
    progress = ProgressLine(sys.stderr) if not args.json else None

    def report_progress(p: Any) -> None:
        if progress is not None:
            progress(p)
        else:  # --json: one line per update
            print(json.dumps({"done": p.done, "total": p.total,
                              "images_per_second": round(p.images_per_second, 2),
                              "eta_seconds": p.eta_seconds}), flush=True)  # fmt: skip

    with Interrupt(sys.stderr) as interrupt:
        report = scale_out.index_with_ray(
            catalogue, args.folders, model=model, weights=args.weights, device=args.device,
            precision=args.precision or "fp32", actors=args.actors, progress=report_progress,
            cancelled=interrupt,
        )  # fmt: skip
    if progress is not None:
        progress.finish()
    if args.json:
        print(json.dumps({**report.to_json(), "images": catalogue.count()}))
        return 0
    for skipped in report.skipped:
        print(f"skipped {display_name(skipped.path)}: {skipped.reason}", file=sys.stderr)
    state = "Cancelled: " if report.cancelled else ""
    print(f"{state}{report.embedded:,} embedded, {report.unchanged:,} unchanged, "
          f"{len(report.skipped):,} skipped ({report.images_per_second:.1f} images/s). "
          f"The catalogue holds {catalogue.count():,} images.")  # fmt: skip
    return 0


def _search(args: argparse.Namespace, settings: Settings, catalogue: Catalogue) -> int:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.search.catalogue_search import search_catalogue
    from image_finder.core.search.searcher import SearchOptions

    if not args.queries or args.text:
        raise ImageFinderError("a catalogue is searched by image: name one or more images")
    top_k = args.top_k if args.top_k is not None else settings.top_k
    if top_k < 1:
        raise ImageFinderError(f"-k/--top-k must be 1 or more (got {top_k})")
    folder = os.path.abspath(args.folder) if args.folder else None
    options = SearchOptions(top_k=top_k, min_score=args.min_score, folder=folder)
    extractor = Extractor.load(args.model or catalogue.model or settings.model,
                               weights=args.weights, device=args.device or settings.device,
                               precision=args.precision or "fp32")  # fmt: skip
    return print_searches(
        args.queries, lambda q: search_catalogue(catalogue, extractor, q, options),
        lambda q: q, options, args.json,
    )  # fmt: skip


def _status(args: argparse.Namespace, settings: Settings, catalogue: Catalogue) -> int:
    data = {
        "store": catalogue.address.text,
        "collection": catalogue.collection,
        "images": catalogue.count(),
        "model": catalogue.model,
        "dim": catalogue.dim,
        "folders": [display_name(f) for f in catalogue.folders()],
    }
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"Catalogue:    {data['store']} (collection {data['collection']})")
    print(f"Images:       {data['images']:,}")
    print(f"Model:        {data['model'] or 'nothing indexed yet'}")
    for folder in catalogue.folders():
        print(f"Folder:       {display_name(folder)}")
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
