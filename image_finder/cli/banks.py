"""image-finder-cli bank (create, import, export, list, remove, add), match and webhook: hash
lists in, matches out (core/app/banks.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from image_finder.cli.output import Interrupt
from image_finder.core.app.banks import closeness
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import Part, display_name
from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library


def add_parser(
    sub: Any, common: Callable[[argparse.ArgumentParser, bool], None]
) -> list[argparse.ArgumentParser]:
    """The commands; returns those that load the model (for its options)."""
    p = sub.add_parser("bank", help="hash banks: lists of known pictures to match against")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new, empty bank")
    create.add_argument("name", metavar="NAME")
    _thresholds(create)
    listed = actions.add_parser("list", help="the banks, with their counts and thresholds")
    imported = actions.add_parser("import", help="add a hash list (CSV/TSV/text): all or none")
    imported.add_argument("name", metavar="NAME")
    imported.add_argument(
        "file", metavar="FILE", help="hash[,label] lines, or a video's vPDQ hashes (docs/banks.md)"
    )
    imported.add_argument("--label", default="", help="the label of a vPDQ file's video")
    exported = actions.add_parser("export", help="write a bank's hashes as CSV (hash,label)")
    exported.add_argument("name", metavar="NAME")
    exported.add_argument("file", metavar="FILE", nargs="?", help="default: standard output")
    removed = actions.add_parser("remove", help="delete a bank and its entries")
    removed.add_argument("name", metavar="NAME")
    added = actions.add_parser("add", help="add a folder of known pictures (both signals)")
    added.add_argument("name", metavar="NAME")
    added.add_argument("folder", metavar="FOLDER")
    added.add_argument("--label", default="", help="the label of these pictures")
    changed = actions.add_parser("set", help="change a bank's thresholds or watch")
    changed.add_argument("name", metavar="NAME")
    _thresholds(changed)
    for action in (create, listed, imported, exported, removed, added, changed):
        common(action, True)
    common(p, True)

    m = sub.add_parser("match", help="check pictures and videos against the banks")
    m.add_argument("paths", nargs="+", metavar="FOLDER|FILE")
    m.add_argument("--bank", dest="banks", action="append", default=[], metavar="NAME",
                   help="match against this bank (again for more; default: all)")  # fmt: skip
    common(m, True)

    w = sub.add_parser("webhook", help="POST the matches in watched banks to a receiver")
    hooks = w.add_subparsers(dest="action", metavar="ACTION", required=True)
    hooked = hooks.add_parser("add", help="a new receiver (its signing secret is shown once)")
    hooked.add_argument("url", metavar="URL")
    hooks_listed = hooks.add_parser("list", help="the receivers and how their deliveries stand")
    unhooked = hooks.add_parser("remove", help="stop delivering to a receiver")
    unhooked.add_argument("id", metavar="ID")
    sent = hooks.add_parser("deliver", help="deliver what is pending now, waits or not")
    for action in (hooked, hooks_listed, unhooked, sent):
        common(action, True)
    common(w, True)
    return [added, m]


def _thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", action=argparse.BooleanOptionalAction, default=None,
                   help="check every picture indexed against this bank")  # fmt: skip
    p.add_argument("--pdq-distance", type=int, metavar="BITS",
                   help="a PDQ match is at most this many bits off (default 31)")  # fmt: skip
    p.add_argument("--vector-score", type=float, metavar="S",
                   help="a vector match scores at least this (default: docs/banks.md)")  # fmt: skip


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if not path:
        yield sys.stdout
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out
    except OSError as exc:
        raise ImageFinderError(f"cannot write {path}: {exc.strerror or exc}") from exc


def cmd_bank(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    from image_finder.core.app import banks as app

    with app.open_banks(library) as banks:
        if args.action == "create":
            bank = banks.create(args.name, watch=bool(args.watch),
                                pdq_distance=31 if args.pdq_distance is None else args.pdq_distance,
                                vector_score=args.vector_score)  # fmt: skip
            _say(args, bank.to_json(), f"Created the bank {bank.name!r}.")
        elif args.action == "set":
            bank = banks.update(args.name, watch=args.watch, pdq_distance=args.pdq_distance,
                                vector_score=args.vector_score)  # fmt: skip
            _say(args, bank.to_json(), f"Changed the bank {bank.name!r}.")
        elif args.action == "list":
            found = banks.banks()
            if args.json:
                print(json.dumps({"banks": [b.to_json() for b in found]}))
            for b in [] if args.json else found:
                watched = ", watched" if b.watch else ""
                print(f"{b.name}  ({b.hashes:,} hashes, {b.pictures:,} pictures, {b.videos:,} "
                      f"videos; PDQ ≤ {b.pdq_distance} bits{watched})")  # fmt: skip
            if not found and not args.json:
                print("No banks yet: image-finder-cli bank create NAME")
        elif args.action == "import":
            counted = app.import_list(banks, args.name, args.file, args.label)
            _say(args, {"bank": args.name, **counted.to_json()},
                 f"Imported {counted.added:,} {counted.what} into {args.name!r} "
                 f"({counted.read:,} read, {counted.already:,} there already).")  # fmt: skip
        elif args.action == "export":
            banks.get(args.name)
            with _output(args.file) as out:
                written = app.export_list(banks, args.name, out)
            if args.file:
                _say(args, {"bank": args.name, "hashes": written},
                     f"Wrote {written:,} hashes to {args.file}.")  # fmt: skip
        elif args.action == "remove":
            bank = banks.remove(args.name)
            _say(args, {"removed": bank.name}, f"Removed the bank {bank.name!r}.")
        else:
            return _add(args, settings, library, banks)
    return 0


def _add(args: argparse.Namespace, settings: Settings, library: Library, banks: Any) -> int:
    from image_finder.cli import load_extractor
    from image_finder.core.app import banks as app

    _outside_the_library(args.folder, library)
    extractor = load_extractor(_model_args(args), settings, library)
    with Interrupt(sys.stderr) as interrupt:
        counted, skipped = app.add_folder(banks, args.name, args.folder, extractor,
                                          args.label, interrupt)  # fmt: skip
    for line in app.describe_skipped(skipped):
        print(f"left out {line}", file=sys.stderr)
    _say(args, {"bank": args.name, **counted.to_json(), "skipped": len(skipped)},
         f"Added {counted.read:,} pictures to {args.name!r} ({counted.already:,} replaced, "
         f"{len(skipped):,} unreadable).")  # fmt: skip
    return 0


def _outside_the_library(folder: str, library: Library) -> None:
    """Say so when a bank's folder lies in the library's folders: its pictures are then
    items of the library too, shown by search like any other."""
    import os

    from image_finder.core.common.paths import inside

    real = os.path.realpath(folder)
    for indexed in library.folders():
        if inside(real, os.path.realpath(indexed.path)):
            print(f"note: {folder} lies in the library's folder {indexed.path}: its pictures "
                  "are indexed and shown by search like any other there. A bank's own "
                  "pictures never are: move the folder out of the library's folders to keep "
                  "them apart.", file=sys.stderr)  # fmt: skip
            return


def cmd_match(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    """Each match on a line (``--json``: a JSON object a line); 0 when nothing matched, 3
    when something did, 1 on an error."""
    from image_finder.cli import load_extractor
    from image_finder.core.app import banks as app

    with app.open_banks(library) as banks:
        extractor = load_extractor(_model_args(args), settings, library)
        matched = 0
        with Interrupt(sys.stderr) as interrupt:
            for found in app.match_files(banks, args.paths, args.banks, extractor, interrupt):
                if isinstance(found, app.Unreadable):
                    print(f"left out {display_name(found.path)}: {found.reason}", file=sys.stderr)
                    continue
                matched += 1
                body = found.to_json()
                print(json.dumps(body) if args.json else match_line(body), flush=True)
    if not args.json:
        print(f"{matched:,} match{'es' if matched != 1 else ''}.", file=sys.stderr)
    return 3 if matched else 0


def cmd_webhook(args: argparse.Namespace, settings: Settings, library: Library) -> int:
    """Receivers of the matches in watched banks (core/banks/webhooks.py)."""
    from image_finder.core.app import banks as app

    if args.action == "add":
        hook, secret = app.add_webhook(library, args.url)
        _say(args, {**hook.to_json(), "secret": secret},
             f"Added the webhook {hook.id} ({hook.url}). Its deliveries are signed with this "
             f"secret, shown only now:\n  {secret}")  # fmt: skip
    elif args.action == "remove":
        app.remove_webhook(library, args.id)
        _say(args, {"removed": args.id}, f"Removed the webhook {args.id}.")
    elif args.action == "list":
        hooks = app.webhooks(library)
        if args.json:
            print(json.dumps({"webhooks": [h.to_json() for h in hooks]}))
        for hook in [] if args.json else hooks:
            print(webhook_line(hook.to_json()))
        if not hooks and not args.json:
            print("No webhooks yet: image-finder-cli webhook add URL")
    else:
        failed = 0
        for delivery in app.deliver_matches(library, force=True):
            failed += bool(delivery.error)
            said = f"not delivered: {delivery.error}" if delivery.error else "delivered"
            _say(args, delivery.to_json(),
                 f"{delivery.hook.url}: {delivery.delivered:,} matches {said}")  # fmt: skip
        return 1 if failed else 0
    return 0


def webhook_line(hook: dict[str, Any]) -> str:
    """A receiver and how its deliveries stand, in one line."""
    import time

    state = f"{hook['delivered']:,} delivered"
    if hook["failures"]:
        wait = max(0.0, hook["next_try_at"] - time.time())
        state += (f"; failing {hook['failures']}× in a row ({hook['last_error']}), next try in "
                  f"{wait:.0f} s")  # fmt: skip
    return f"{hook['id']}  {hook['url']}  ({state})"


def match_line(match: dict[str, Any]) -> str:
    """A match (its JSON) in one line: the file (and moment), the bank and label, the signal
    and how close, against the threshold."""
    part = match.get("part")
    where = f" {Part(part['kind'], part[Part.KINDS[part['kind']]]).label}" if part else ""
    label = f" “{match['label']}”" if match["label"] else ""
    return f"{display_name(match['path'])}{where}: {match['bank']}{label}, {closeness(match)}"


def _model_args(args: argparse.Namespace) -> argparse.Namespace:
    options = {"model": None, "weights": None, "device": None, "precision": None, **vars(args)}
    return argparse.Namespace(**options)


def _say(args: argparse.Namespace, body: dict[str, Any], words: str) -> None:
    print(json.dumps(body) if args.json else words)
