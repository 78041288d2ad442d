"""What ``search`` searches with: several images as one query (``--together``), images to
leave out (``--unlike``), and conditions on the files (``--taken-after`` and the others)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import display_name
from image_finder.core.search.conditions import KINDS, Conditions
from image_finder.core.stores.store import Store


def add_options(p: argparse.ArgumentParser) -> None:
    """search's options: several examples, examples to leave out, conditions."""
    group = p.add_argument_group("several examples, and examples to leave out")
    group.add_argument(
        "--together",
        action="store_true",
        help="search with all the IMAGEs as one query (like these), not one query each",
    )
    group.add_argument(
        "--unlike",
        nargs="+",
        default=[],
        metavar="IMAGE",
        help="leave out pictures like these (their near-copies never show)",
    )
    group.add_argument("--concept", metavar="NAME", help="the pictures that show a concept")
    add_conditions(p)


def add_conditions(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("conditions (each narrows the results; all must hold)")
    group.add_argument(
        "--taken-after", metavar="DATE", help="taken on or after (YYYY-MM-DD; DICOM: studied)"
    )
    group.add_argument("--taken-before", metavar="DATE", help="taken on or before (YYYY-MM-DD)")
    group.add_argument("--min-width", type=int, metavar="PX", help="at least this wide")
    group.add_argument("--min-height", type=int, metavar="PX", help="at least this high")
    group.add_argument("--min-megapixels", type=float, metavar="MP", help="at least this large")
    group.add_argument("--min-file-mb", type=float, metavar="MB", help="files of at least")
    group.add_argument("--max-file-mb", type=float, metavar="MB", help="files of at most")
    group.add_argument("--format", metavar="LIST", help="jpeg, png, webp, heic, raw… (comma)")
    group.add_argument("--orientation", metavar="WHICH", help="landscape, portrait or square")
    group.add_argument("--camera", metavar="TEXT", help="a part of the camera's make or model")
    group.add_argument(
        "--where-concept", metavar="NAME", help="only pictures likely to show this concept"
    )
    group.add_argument(
        "--kind",
        choices=KINDS[1:],
        help="only photos, videos' moments, pages (PDF, scanned TIFF) or medical images",
    )
    group.add_argument("--min-duration", metavar="TIME", help="videos at least this long (1:30)")
    group.add_argument("--max-duration", metavar="TIME", help="videos at most this long")
    group.add_argument("--modality", metavar="LIST", help="DICOM: CT, MR, CR… (comma)")
    group.add_argument("--body-part", metavar="TEXT", help="DICOM: a part of the body part")
    group.add_argument("--series", metavar="TEXT", help="DICOM: a part of the series' name")


def conditions(args: argparse.Namespace) -> Conditions:
    """The conditions given, each checked (a bad date or size: one line, exit 1)."""

    def megabytes(value: float | None, option: str) -> int | None:
        if value is None:
            return None
        if value < 0:
            raise ImageFinderError(f"{option} must be 0 or more (got {value:g})")
        return int(value * 1_000_000)

    return Conditions.from_values(
        taken_after=args.taken_after,
        taken_before=args.taken_before,
        min_width=args.min_width,
        min_height=args.min_height,
        min_megapixels=args.min_megapixels,
        min_bytes=megabytes(args.min_file_mb, "--min-file-mb"),
        max_bytes=megabytes(args.max_file_mb, "--max-file-mb"),
        formats=args.format or "",
        orientation=args.orientation,
        camera=args.camera,
        concept=args.where_concept,
        kind=getattr(args, "kind", None),
        min_duration=getattr(args, "min_duration", None),
        max_duration=getattr(args, "max_duration", None),
        modality=getattr(args, "modality", None),
        body_part=getattr(args, "body_part", None),
        series=getattr(args, "series", None),
    )


def example(path: str, library: Store) -> Any:
    """A file as a query: the library's item when the file is in the library (its stored
    vector serves, even with its drive offline), else the file."""
    from image_finder.core.search.searcher import Query

    item = library.item_by_path(os.path.abspath(path))
    if item is not None:
        return Query.item(item)
    if not os.path.exists(path):
        raise ImageFinderError(f"file not found: {display_name(path)}")
    return Query.file(path)


def image_queries(args: argparse.Namespace, library: Store, where: Conditions) -> list[Any]:
    """The queries of ``search IMAGE…``: one each, or one of all with ``--together``; each
    with the images to leave out and the conditions."""
    from image_finder.core.search.searcher import Query

    unlike = [example(path, library) for path in args.unlike]
    if args.together:
        queries = [Query.together([example(p, library) for p in args.queries])]
    else:
        queries = [Query.file(q) for q in args.queries]
    return [q.but_not(*unlike).where(where) for q in queries]


def queries(args: argparse.Namespace, library: Store, where: Conditions) -> list[Any] | None:
    """The queries of ``search``; None for words (built once the model is loaded)."""
    from image_finder.core.search.searcher import Query

    if args.unlike and not args.queries:
        raise ImageFinderError("--unlike leaves pictures out of a search: give IMAGEs to search")
    if args.concept:
        return [Query.of_concept(args.concept).where(where)]
    if args.text is not None:
        return None
    return image_queries(args, library, where)
