"""image-finder-cli duplicates: groups of duplicate pictures, and moving the extra copies to the
trash."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from image_finder.cli import query as query_options
from image_finder.cli.store import add_store_options
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import display_name, path_json
from image_finder.core.config.settings import Settings
from image_finder.core.stores.store import Store
from image_finder.text import byte_size, count

if TYPE_CHECKING:
    from image_finder.core.stores.library import Library


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    p = sub.add_parser("duplicates", help="find duplicate and near-duplicate pictures")
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="default: the whole library")
    p.add_argument(
        "--reference",
        nargs="+",
        default=[],
        metavar="DIR",
        help="compare against these folders; their images are always kept",
    )
    p.add_argument("--threshold", type=float, metavar="S", help="similar from this score")
    p.add_argument(
        "--tier",
        choices=("identical", "same-video", "same-document", "same", "still", "similar"),
        default="similar",
        help="the weakest kind of duplicate listed (default: similar)",
    )
    p.add_argument(
        "--trash-others",
        action="store_true",
        help="move every copy but the one to keep of each group to the trash",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before moving to the trash")
    query_options.add_conditions(p)
    p.add_argument(
        "--confirm-count",
        type=int,
        metavar="N",
        help="below the similar range (--threshold under 0.80), trash only if exactly N files "
        "would go: the number the listing shows",
    )
    add_store_options(p)
    common(p, True)


def cmd_duplicates(args: argparse.Namespace, settings: Settings, library: Store) -> int:
    from image_finder.core.search.duplicates import DEFAULT_THRESHOLD, Tier, find_duplicates

    kept = library.as_library()
    if args.trash_others and (kept is None or not library.capabilities.files):
        raise ImageFinderError(
            "--trash-others needs a library: a catalogue is written only by its indexing job"
        )
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not 0.0 < threshold <= 1.0:
        raise ImageFinderError(f"--threshold must be above 0 and at most 1 (got {threshold})")
    groups = find_duplicates(
        library,
        args.folders,
        reference=args.reference,
        threshold=threshold,
        min_tier=Tier.named(args.tier),
        conditions=query_options.conditions(args),
    )
    if args.json and not args.trash_others:
        print(json.dumps({"groups": [g.to_json() for g in groups]}))
        return 0
    if not args.json:
        _print_groups(groups)
    if args.trash_others and kept is not None:
        return _trash_others(args, kept, groups)
    return 0


def _print_groups(groups: list[Any]) -> None:
    if not groups:
        print("No duplicates found.")
        return
    total = sum(g.reclaimable for g in groups)
    print(f"{count(len(groups), 'group')}; removing the extra copies frees {byte_size(total)}.")
    for n, group in enumerate(groups, start=1):
        print(
            f"\n{n}. {group.tier.title} · {count(len(group.items), 'image')} · "
            f"score {group.score:.3f} · {byte_size(group.reclaimable)} to free"
        )
        relations = {item.id: _relation(group, item) for item in group.items}
        width = max(17, *(len(r) for r in relations.values()))
        for item in group.items:
            mark = (
                "keep"
                if item.id == group.keep.id
                else "ref "
                if item.id in group.reference_ids
                else "    "
            )
            size = f"{item.width}×{item.height}" if item.width and item.height else "?"
            print(
                f"  {mark:4} {relations[item.id]:>{width}} {size:>11} "
                f"{byte_size(item.size):>9}  {display_name(item.path)}"
            )


def _relation(group: Any, item: Any) -> str:
    """How ``item`` relates to the group's keeper, in words ("" for the keeper)."""
    if item.id == group.keep.id:
        return ""
    tier, score = group.relation(item)
    return f"{tier.title_for(item)} {score:.2f}{group.where(item)}"


def _trash_others(args: argparse.Namespace, library: Library, groups: list[Any]) -> int:
    from image_finder.core.indexing.cleanup import trash_images
    from image_finder.core.search.duplicates import DEFAULT_THRESHOLD, SIMILAR_FLOOR

    extra = [item for group in groups for item in group.removable]
    if not extra:
        print("Nothing to move.", file=sys.stderr)
        return 0
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if threshold < SIMILAR_FLOOR and args.confirm_count != len(extra):
        raise ImageFinderError(
            f"--threshold {threshold:g} is below the similar range (from {SIMILAR_FLOOR:.2f}): "
            f"such groups hold different pictures. {count(len(extra), 'file')} would go; "
            "review them (without --trash-others), then add --confirm-count "
            f"{len(extra)} to move exactly these"
            + (f" (--confirm-count {args.confirm_count} was given)" if args.confirm_count else "")
        )
    if not args.yes:
        if not sys.stdin.isatty():
            raise ImageFinderError("--trash-others asks before moving files: add --yes to confirm")
        answer = input(f"Move {count(len(extra), 'file')} to the trash? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was moved.", file=sys.stderr)
            return 1
    report = trash_images(library, extra)
    if args.json:
        print(json.dumps({
            "groups": [g.to_json() for g in groups],
            "trashed": [path_json(i.path)["path"] for i in report.done],
            "trashed_items": [path_json(i.path) for i in report.done],
            "skipped": [s.to_json() for s in report.skipped],
        }))  # fmt: skip
    else:
        for item in report.done:
            print(f"moved to the trash: {display_name(item.path)}")
        for skipped in report.skipped:
            print(f"not moved: {display_name(skipped.path)}: {skipped.reason}", file=sys.stderr)
    if report.error:
        print(f"image-finder-cli: {report.error}", file=sys.stderr)
    return 1 if report.skipped else 0
