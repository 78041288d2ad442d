"""image-finder-cli concept: learn a concept from folders of examples, list and remove them."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from image_finder.cli.output import Interrupt, StepLine
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import display_name
from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    p = sub.add_parser("concept", help="learn a concept from example pictures; list, remove")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="learn (or learn again) a concept from folders")
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        required=True,
        metavar="DIR",
        help="folders (or files) of pictures that show it: in the library, or a folder of your "
        "own outside it (embedded for the concept alone, never added to the library)",
    )
    add.add_argument(
        "--not-from",
        dest="not_sources",
        nargs="+",
        default=[],
        metavar="DIR",
        help="folders of pictures that do not (default: a sample of the library)",
    )
    common(add, True)
    listed = actions.add_parser("list", help="the library's concepts")
    common(listed, True)
    remove = actions.add_parser("remove", help="forget a concept")
    remove.add_argument("name", metavar="NAME")
    common(remove, True)
    common(p, True)


def _ids(library: Library, folders: list[str], outside: list[str] | None = None) -> list[int]:
    """The library's pictures under ``folders``; a folder (or file) outside the library goes to
    ``outside`` where given (its pictures are embedded for the concept), else is refused."""
    ids: list[int] = []
    for folder in folders:
        path = os.path.abspath(folder)
        found = library.ids_under(path)
        if not len(found):
            if outside is not None and os.path.exists(path):
                outside.append(path)
                continue
            raise ImageFinderError(
                f"{display_name(path)} holds no pictures of the library "
                "(index it first: image-finder-cli index FOLDER)"
            )
        ids.extend(int(i) for i in found)
    return ids


def _embed_outside(args: argparse.Namespace, settings: Settings, library: Library,
                   paths: list[str]) -> Any:  # fmt: skip
    """The model's vectors of the example pictures outside the library, with progress on
    stderr; what could not be read is listed and left out."""
    from image_finder.cli import load_extractor
    from image_finder.core.embedding import precision
    from image_finder.core.learning import concepts

    options = {"model": None, "weights": None, "device": None, "precision": None, **vars(args)}
    extractor = load_extractor(argparse.Namespace(**options), settings, library)
    precision.follow_library(extractor, library)  # the precision the library's vectors have
    line = StepLine(sys.stderr)

    def progress(done: int, total: int) -> None:
        text = f"Embedding the examples from outside the library: {done:,} of {total:,}"
        line.write(text, last=done == total)

    with Interrupt(sys.stderr) as interrupt:
        vectors, skipped = concepts.embed_outside(paths, extractor, progress, interrupt)
    line.finish()
    for problem in skipped:
        print(f"left out {display_name(problem.path)}: {problem.reason}", file=sys.stderr)
    if not len(vectors):
        raise ImageFinderError(
            f"{', '.join(display_name(p) for p in paths)}: no picture there could be read"
        )
    return vectors


def cmd_concept(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    from image_finder.core.learning import concepts

    if args.action == "add":
        started = time.perf_counter()
        outside_paths: list[str] = []
        positives = _ids(library, args.sources, outside_paths)
        negatives = _ids(library, args.not_sources)
        outside = _embed_outside(args, settings, library, outside_paths) if outside_paths else None
        with library.writing():
            concept = concepts.learn(library, args.name, positives, negatives, outside=outside)
        seconds = time.perf_counter() - started
        if args.json:
            print(json.dumps({**concept.to_json(), "seconds": round(seconds, 3)}))
        else:
            print(
                f"Learnt the concept {concept.name!r} from {concept.positives:,} pictures "
                f"against {concept.negatives:,} in {seconds:.1f} s. "
                f"Search with it: image-finder-cli search --concept {concept.name!r}"
            )
        return 0
    if args.action == "remove":
        name = " ".join(args.name.split())
        with library.writing():
            if not library.side_data.remove_concept(name):
                raise ImageFinderError(f"no concept {name!r} (image-finder-cli concept list)")
        print(json.dumps({"removed": name}) if args.json else f"Removed the concept {name!r}.")
        return 0
    found = library.side_data.concepts()
    if args.json:
        print(json.dumps({"concepts": [c.to_json() for c in found]}))
    elif not found:
        print("No concepts yet: image-finder-cli concept add NAME --from DIR")
    else:
        for c in found:
            print(f"{c.name}  ({c.positives:,} examples, {c.model})")
    return 0
