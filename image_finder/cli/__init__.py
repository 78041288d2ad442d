"""image-finder-cli: index folders and search them from a terminal or a script.

Exit codes: 0 ok, 1 a user error (one readable line on stderr), 2 an internal error (details in
the log file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from image_finder import __version__
from image_finder.cli import banks, concepts, duplicates, store, text, tune, watch, words
from image_finder.cli import query as query_options
from image_finder.cli.output import Interrupt, ProgressLine, print_searches, print_status, run_job
from image_finder.core.common import paths
from image_finder.core.common.dberrors import is_disk_full, store_error
from image_finder.core.common.errors import (
    ImageFinderError,
    LibraryDamagedError,
    ModelMismatchError,
)
from image_finder.core.common.heap import keep_freed_blocks
from image_finder.core.common.logsetup import log_file, setup_logging
from image_finder.core.common.records import display_name, path_json
from image_finder.core.config.settings import Settings
from image_finder.core.pictures.video import is_video_name
from image_finder.core.stores.backup import LibraryIntactError, recovery_facts, restore_backup
from image_finder.core.stores.library import BACKUP_NAME, DB_NAME, READ_ONLY_NOTICE, Library
from image_finder.core.stores.store import Store, require_library
from image_finder.text import count, index_summary

log = logging.getLogger("image_finder.cli")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help=f"library folder (default: ${paths.DATA_DIR_ENV} or the user data dir)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print machine-readable JSON only",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="also log debug details to the log file",
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default: the library's, else settings)")
    parser.add_argument("--weights", metavar="FILE", help="local weights file for the model")
    parser.add_argument("--device", help="auto, cpu, cuda or mps (default: settings, auto)")
    parser.add_argument(
        "--precision",
        help="auto, fp32, bf16 or int8 (default: settings, auto: the fastest that keeps the "
        "rankings, checked on your photos at the first indexing run)",
    )


class _Parser(argparse.ArgumentParser):
    """Knows its commands, so that a mistyped option gets that command's usage and the
    option it was probably meant to be."""

    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        """A usage mistake exits 1, as every mistake of the user's does (2 is an internal
        error)."""
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")

    def parse_with_suggestions(self, argv: Sequence[str] | None) -> argparse.Namespace:
        args, extra = self.parse_known_args(_words_as_values(argv))
        if extra:
            command = self.commands.get(getattr(args, "command", ""), self)
            options = [o for a in command._actions for o in a.option_strings]
            unknown = extra[0].split("=")[0]
            close = difflib.get_close_matches(unknown, options, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        return args


# options whose value is words that may start with '-' ("-dog" leaves dogs out)
_WORD_OPTIONS = ("--text",)


def _words_as_values(argv: Sequence[str] | None) -> list[str]:
    """``--text -dog`` as ``--text=-dog``: argparse would take ``-dog`` for an option."""
    args = list(sys.argv[1:] if argv is None else argv)
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in _WORD_OPTIONS and i + 1 < len(args) and args[i + 1].startswith("-"):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


def build_parser() -> _Parser:
    parser = _Parser(
        prog="image-finder-cli",
        description="Find visually similar images in your folders.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="index folders (only new and changed files are processed)")
    p.add_argument(
        "folders", nargs="*", metavar="FOLDER", help="default: every folder of the library"
    )
    _model_options(p)
    p.add_argument(
        "--rebuild", action="store_true", help="re-embed every image (after changing the model)"
    )
    p.add_argument("--batch-size", type=int, metavar="N", help="images per model batch")
    p.add_argument(
        "--read-text",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="then read the text written in pictures (default: the setting, off)",
    )
    words.add_text_options(p)
    store.add_store_options(p, ray=True)
    _common(p, suppress=True)

    p = sub.add_parser(
        "search", help="find the images most similar to one or more images, or by words"
    )
    p.add_argument("queries", nargs="*", metavar="IMAGE")
    p.add_argument(
        "--text",
        metavar="WORDS",
        help='find pictures of WORDS ("dog", "sports car", "bird -parrot"); with an IMAGE '
        "and a CLIP vector set, the image changed by the words",
    )
    words.add_text_options(p)
    p.add_argument("-k", "--top-k", type=int, metavar="N", help="results per query")
    p.add_argument("--min-score", type=float, metavar="S", help="hide results below this score")
    p.add_argument("--folder", metavar="DIR", help="only results inside this folder")
    p.add_argument("--nprobe", type=int, metavar="N", help="IVF regions searched (speed/recall)")
    p.add_argument(
        "--rotations",
        action="store_true",
        default=None,
        help="also find rotated and mirrored copies (8x query cost)",
    )
    p.add_argument(
        "--crops",
        action="store_true",
        default=None,
        help="also find the pictures a query was cropped from (2x query cost)",
    )
    query_options.add_options(p)
    _model_options(p)
    store.add_store_options(p)
    _common(p, suppress=True)

    p = sub.add_parser("status", help="show what the library holds")
    store.add_store_options(p)
    _common(p, suppress=True)
    store.add_export_parser(sub, lambda p, suppress: _common(p, suppress=suppress))

    p = sub.add_parser("remove", help="take folders out of the library")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    _common(p, suppress=True)

    p = sub.add_parser("check", help="verify the library's database and index")
    _common(p, suppress=True)

    p = sub.add_parser("recover", help="replace a damaged library database by its last backup")
    p.add_argument(
        "--force", action="store_true", help="restore even though the database is intact"
    )
    _common(p, suppress=True)

    duplicates.add_parser(sub, lambda p, suppress: _common(p, suppress=suppress))
    concepts.add_parser(sub, lambda p, suppress: _common(p, suppress=suppress))
    tune.add_parser(sub, lambda p, suppress: _common(p, suppress=suppress))
    _model_options(watch.add_parser(sub, lambda p, suppress: _common(p, suppress=suppress)))
    text.add_parser(sub, lambda p, suppress: _common(p, suppress=suppress))
    for loads in banks.add_parser(sub, lambda p, suppress: _common(p, suppress=suppress)):
        _model_options(loads)
    parser.commands = dict(sub.choices)
    return parser


# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------


def model_request(args: argparse.Namespace) -> Any:
    """The command's model options, over the settings'."""
    from image_finder.core.app.models import ModelRequest

    return ModelRequest(
        model=getattr(args, "model", None),
        weights=getattr(args, "weights", None),
        device=getattr(args, "device", None),
        precision=getattr(args, "precision", None),
        text_model=getattr(args, "text_model", None),
        text_weights=getattr(args, "text_weights", None),
    )


def load_extractor(args: argparse.Namespace, settings: Settings, library: Store) -> Any:
    from image_finder.core.app.models import load_extractor as load

    extractor = load(library, settings, model_request(args))
    if extractor.notice:
        print(extractor.notice, file=sys.stderr)
        if extractor.fallback_reason:
            print("A local weights file is given with --weights FILE.", file=sys.stderr)
    return extractor


def cmd_index(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    from image_finder.core.app.jobs import JobKind
    from image_finder.core.app.options import moment_rule
    from image_finder.core.app.work import index_work

    args.folders = _folders(args.folders, library)
    library.begin_writing()  # fail fast, before the model loads, if another process indexes
    extractor = load_extractor(args, settings, library)
    progress = ProgressLine(sys.stderr) if not args.json else None

    def heard(job: Any) -> None:
        if progress is not None and job.detail is not None:
            progress(job.detail)

    reading = settings.read_text if args.read_text is None else args.read_text
    work = index_work(library, lambda: extractor, args.folders, rebuild=args.rebuild,
                      batch_size=args.batch_size, moments=moment_rule(settings),
                      read_text=reading)  # fmt: skip
    report = run_job(JobKind.INDEX, work, heard).result
    if progress:
        progress.finish()
    with Interrupt(sys.stderr) as interrupt:
        text = words.index_text(args, settings, library, interrupt)
    for notice in library.notices:
        print(notice, file=sys.stderr)
    if args.json:
        print(json.dumps({**report.to_json(), "text": text}))
        return 0
    for skipped in report.skipped:
        print(f"skipped {display_name(skipped.path)}: {skipped.reason}", file=sys.stderr)
    for folder in report.offline_folders:
        print(f"offline: {display_name(folder)} (entries kept)", file=sys.stderr)
    for match in report.matches:
        print(f"in a watched bank: {banks.match_line(match)}")
    print(
        f"{index_summary(report)} ({report.unchanged:,} unchanged, "
        f"{report.images_per_second:.1f} images/s). "
        f"The library holds {count(library.count(), 'image')}."
    )
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings, library: Store) -> int:
    from image_finder.core.search.searcher import EMPTY_LIBRARY, Searcher

    if library.count() == 0:  # before loading a model
        raise ImageFinderError(EMPTY_LIBRARY + " (image-finder-cli index FOLDER)")
    if not args.queries and args.text is None and not args.concept:
        raise ImageFinderError("give an IMAGE to search with, --text WORDS or --concept NAME")
    if args.text is not None and not args.text.strip():
        raise ImageFinderError('--text needs words to search for (--text "dog")')
    missing = [q for q in args.queries if not os.path.exists(q)]
    if args.queries and len(missing) == len(args.queries):
        raise ImageFinderError(f"file not found: {missing[0]}")
    options = _search_options(args, settings, library)  # refused before the model loads
    if len(args.queries) == 1 and is_video_name(args.queries[0]) and args.text is None:
        return _search_clip(args, settings, library, options.top_k)
    where = query_options.conditions(args)
    queries = query_options.queries(args, library, where)
    if args.concept and library.model and library.dim:  # stored vectors only: no model
        from image_finder.core.embedding.stored import StoredVectorsOnly

        extractor: Any = StoredVectorsOnly(library.model, library.dim)
    else:
        extractor = load_extractor(args, settings, library)
    if queries is None and library.as_library() is None and library.capabilities.texts:
        from image_finder.core.search.searcher import Query  # a catalogue: the text read

        searcher, queries = Searcher(library, extractor), [Query.words(args.text).where(where)]
    elif queries is None:  # words: their vectors need the model
        kept = require_library(library, "Searching by words")
        searcher, queries = words.search_words(args, settings, kept, extractor)
        queries = [q.where(where) for q in queries]
    else:
        searcher = Searcher(library, extractor)
    return print_searches(queries, lambda q: searcher.search(q, options), lambda q: q.path,
                          options, args.json)  # fmt: skip


def _search_clip(args: argparse.Namespace, settings: Settings, library: Store, top_k: int) -> int:
    """A video as the query: the videos holding it, with the stretch each covers, and the
    photos that are frames of it (core/search/clips.py)."""
    from image_finder.core.common.records import Part
    from image_finder.core.search.clips import search_clip

    outcome = search_clip(library, load_extractor(args, settings, library), args.queries[0],
                          top_k=top_k)  # fmt: skip
    if args.json:
        print(json.dumps(outcome.to_json()))
        return 0
    print(f"Clip: {display_name(outcome.query)} ({Part.time(outcome.seconds).label}, "
          f"{outcome.moments} moments searched)")  # fmt: skip
    for match in outcome.videos:
        span = f"{Part.time(match.start).label}–{Part.time(match.end).label}"
        print(f"  {match.score:.2f}  {display_name(match.item.path)}  {span}  "
              f"({match.matched} of {outcome.moments} moments)")  # fmt: skip
    for item, score in outcome.photos:
        print(f"  {score:.2f}  {display_name(item.path)}  (a frame of the clip)")
    if not outcome.videos and not outcome.photos:
        print("  no video holds it, and no photo is a frame of it")
    return 0


FLAGS = {"k": "-k/--top-k", "min_score": "--min-score", "nprobe": "--nprobe"}


def _search_options(args: argparse.Namespace, settings: Settings, library: Store) -> Any:
    """The options of a search, each checked: a value out of range is one line and exit 1."""
    from image_finder.core.app.options import OptionError, search_options

    try:
        return search_options(
            library, settings, top_k=args.top_k, min_score=args.min_score, folder=args.folder,
            nprobe=args.nprobe, rotations=args.rotations, crops=args.crops,
        )  # fmt: skip
    except OptionError as exc:
        if exc.field in FLAGS:
            raise ImageFinderError(f"{FLAGS[exc.field]} must be {exc.rule}") from exc
        raise


def cmd_status(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    from image_finder.core.stores.status import library_status

    folders = library.folders()
    data = library_status(library, settings, folders)
    if args.json:
        print(json.dumps(data))
        return 0
    print_status(data, library, folders, data["device"])
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    if any(not folder.strip() for folder in args.folders):
        raise ImageFinderError("remove: an empty folder name was given; name the folder")
    removed = library.remove_folders(args.folders)
    pairs = [(os.path.abspath(f), n) for f, n in zip(args.folders, removed, strict=True)]
    if args.json:
        results = [{**path_json(folder), "removed": n} for folder, n in pairs]
        print(json.dumps({"folders": results, "images": library.count()}))
    else:
        for folder, n in pairs:
            print(f"Removed {display_name(folder)} ({n:,} images)")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    problems = library.check()
    if args.json:
        print(json.dumps({"ok": not problems, "problems": problems, "images": library.count()}))
    elif problems:
        print("Problems found:\n  " + "\n  ".join(problems))
    else:
        print(f"The library is intact ({library.count():,} images).")
    return 1 if problems else 0


def cmd_recover(args: argparse.Namespace) -> int:
    folder = paths.data_dir(args.data_dir)
    facts = recovery_facts(folder)
    if not args.json:
        print(facts.summary())
    kept = restore_backup(folder, force=args.force)
    with Library(folder) as library:
        library.vector_index.ensure()  # rebuilt from the backup's vectors
        count = library.count()
    if args.json:
        print(json.dumps({"restored": True, "images": count, "replaced_file": str(kept)}))
    else:
        print(
            f"Restored the backup ({count:,} images). The database it replaced was kept as "
            f"{kept}. Run 'image-finder-cli index' to pick up what changed since."
        )
    return 0


def _folders(folders: list[str], library: Library) -> list[str]:
    """The folders a command names, else every folder of the library; each must exist or be
    in the library (an offline one keeps its entries)."""
    folders = folders or [f.path for f in library.folders()]
    if not folders:
        raise ImageFinderError("The library has no folders yet: image-finder-cli index FOLDER")
    for folder in folders:
        if not folder.strip():
            raise ImageFinderError("an empty folder name was given; name the folder")
        if os.path.isfile(folder):
            raise ImageFinderError(
                f"{display_name(folder)} is a file, not a folder: give the folder it is in "
                f"({display_name(os.path.dirname(os.path.abspath(folder)))})"
            )
        if not os.path.isdir(folder) and library.folder_info(folder) is None:
            raise ImageFinderError(f"folder not found: {display_name(folder)}")
    return folders


def cmd_watch(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    args.folders = _folders(args.folders, library)
    return watch.cmd_watch(args, settings, library, load_extractor(args, settings, library))


def _how(exc: ImageFinderError) -> str:
    """The command that does what a core message asks for, in this face's words."""
    if isinstance(exc, ModelMismatchError):
        return " (image-finder-cli index --rebuild FOLDER…)"
    if isinstance(exc, LibraryDamagedError) and exc.backup_exists:
        return " (image-finder-cli recover)"
    if isinstance(exc, LibraryIntactError):
        return "\nTo restore the backup anyway: image-finder-cli recover --force"
    return ""


def _database_failed(exc: BaseException) -> str:
    """A store error in the words every face shows; only damage points at check and recover."""
    error = store_error(exc)
    if isinstance(error, LibraryDamagedError):
        return f"{error} Run 'image-finder-cli check'; 'image-finder-cli recover' restores " + (
            "the last backup."
        )
    if type(error) is ImageFinderError:
        return f"{error} Run 'image-finder-cli check' to verify it."
    return str(error)


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "status": cmd_status,
    "remove": cmd_remove,
    "check": cmd_check,
    "duplicates": duplicates.cmd_duplicates,
    "concept": concepts.cmd_concept,
    "tune": tune.cmd_tune,
    "watch": cmd_watch,
    "bank": banks.cmd_bank,
    "match": banks.cmd_match,
    "webhook": banks.cmd_webhook,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_with_suggestions(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    keep_freed_blocks()  # before any thread: the model's batches reuse memory
    log.info(
        "image-finder-cli %s: %s", __version__, " ".join(sys.argv[1:] if argv is None else argv)
    )
    try:
        if args.data_dir is not None and not args.data_dir.strip():
            raise ImageFinderError("--data-dir is empty: name the library folder")
        if args.command == "recover":
            return cmd_recover(args)
        if args.command == "text":  # a file, not the library
            return text.cmd_text(args)
        settings = Settings.load()
        if getattr(args, "store", None):  # a Milvus catalogue (cli/store.py)
            return store.run(args, settings, COMMANDS)
        with _open_library(args) as library:
            if library.read_only and not args.json:
                print(f"image-finder-cli: {READ_ONLY_NOTICE}", file=sys.stderr)
            return COMMANDS[args.command](args, settings, library)
    except ImageFinderError as exc:
        log.info("user error: %s", exc)
        print(f"image-finder-cli: {exc}{_how(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (sqlite3.DatabaseError, OSError) as exc:  # found after the library opened
        if isinstance(exc, OSError) and not is_disk_full(exc):
            return _internal_error(exc)
        log.exception("database error")
        print(f"image-finder-cli: {_database_failed(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        return _internal_error(exc)


def _open_library(args: argparse.Namespace) -> Library:
    """The library of ``--data-dir``; a command that only reads never makes one."""
    folder = paths.data_dir(args.data_dir)
    if _reads_only(args) and _no_library_yet(folder):
        raise ImageFinderError(
            f"There is no library in {display_name(str(folder))} (image-finder-cli index "
            "FOLDER makes one; --data-dir names another)."
        )
    return Library(folder)


def _no_library_yet(folder: Path) -> bool:
    """Whether ``folder`` is, or would be made in, a writable folder that holds no library
    yet (a file, or a read-only place, is left to the library's own words)."""
    if (folder / DB_NAME).exists() or (folder / BACKUP_NAME).exists():
        return False
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def _reads_only(args: argparse.Namespace) -> bool:
    """Whether the command only reads the library (and so must never create one)."""
    if args.command in ("status", "search", "check", "export", "match"):
        return True
    if args.command == "bank" and getattr(args, "action", "") in ("list", "export"):
        return True
    if args.command == "webhook" and getattr(args, "action", "") == "list":
        return True
    if args.command == "duplicates":
        return not getattr(args, "trash_others", False)
    return args.command == "concept" and getattr(args, "action", "") == "list"


def _internal_error(exc: Exception) -> int:
    log.exception("internal error")
    print(
        f"image-finder-cli: internal error: {type(exc).__name__}: {exc} (details in {log_file()})",
        file=sys.stderr,
    )
    return 2
