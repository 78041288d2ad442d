"""The CLI's search by words: the optional CLIP vector set (``index --text-model``) and the
model that searches it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library


def add_text_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--text-model",
        metavar="NAME",
        help="also index the pictures for searching any words with this CLIP model "
        "(clip_vit_b32; its weights are downloaded once, about 600 MB)",
    )
    parser.add_argument(
        "--text-weights", metavar="FILE", help="local weights file for the CLIP model"
    )


def load_clip(args: argparse.Namespace, settings: Settings, library: Library) -> Any:
    """The CLIP model for this library's text vectors (or the one asked for), or None with a
    notice when it cannot be loaded: words then search with the ImageNet classes."""
    from image_finder.cli import model_request
    from image_finder.core.app.models import load_clip as load

    clip, notice = load(library, settings, model_request(args))
    if notice:
        print(notice, file=sys.stderr)
    return clip


def index_text(
    args: argparse.Namespace, settings: Settings, library: Library, cancelled: Any
) -> dict[str, Any] | None:
    """Bring the library's CLIP vectors up to date (when it has a set, or one is asked for)."""
    from image_finder.core.app.models import index_words

    if not (args.text_model or library.text_model):
        return None
    clip = load_clip(args, settings, library)
    if clip is None:
        return None
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if args.json or not sys.stderr.isatty() or time.monotonic() - last[0] < 0.1:
            return
        last[0] = time.monotonic()
        sys.stderr.write(f"\rIndexing for words ({clip.spec.title}): {done:,}/{total:,}")
        sys.stderr.flush()

    report = index_words(library, clip, progress, cancelled)
    if not args.json and sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 78 + "\r")
    for path, reason in report.skipped:
        print(f"skipped for words {path}: {reason}", file=sys.stderr)
    done, total = library.text_counts()
    if not args.json:
        left = f", {total - done:,} left" if done < total else ""
        print(f"Words: {done:,} of {total:,} pictures indexed with {clip.spec.title}{left}.")
    return {"model": clip.name, "indexed": done, "images": total, "added": report.embedded}


def search_words(
    args: argparse.Namespace, settings: Settings, library: Library, extractor: Any
) -> list[Any]:
    """The queries of ``search --text``: words alone, or each image with the words."""
    from image_finder.core.search.searcher import Query, Searcher

    clip = load_clip(args, settings, library)
    searcher = Searcher(library, extractor, clip)  # an image with words: needs CLIP, or text
    queries = [Query.file(q).with_words(args.text) for q in args.queries]
    return [searcher, queries or [Query.words(args.text)]]
