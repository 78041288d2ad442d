"""Hash banks for every face: lists imported and exported, folders of known pictures added,
and files matched (core/banks/). The faces print or serve what these return.

Pictures are read as indexing reads them: a photo whole, a video by its moments (each a
picture matched on its own), a document by its pages. A file that cannot be read is
reported (``Unreadable``) and the others go on.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from image_finder.core.banks.lists import read_list, write_list
from image_finder.core.banks.matching import Match, Signals, ready_matcher
from image_finder.core.banks.matching import closeness as closeness
from image_finder.core.banks.store import BankStore, ImportCount
from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.core.common.records import Part, display_name
from image_finder.core.pictures.pdq import pdq_of

if TYPE_CHECKING:
    from PIL import Image

    from image_finder.core.banks.webhooks import Delivery, Webhook
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.pictures.vpdq import Frame
    from image_finder.core.stores.library import Library
    from image_finder.core.stores.store import Store

BATCH = 16  # pictures embedded together


@dataclass(frozen=True)
class Unreadable:
    """A file that could not be matched, and why."""

    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "error": self.reason}


def open_banks(store: Store) -> BankStore:
    """The banks kept beside a library (a catalogue keeps none)."""
    library = store.as_library()
    if library is None:
        raise ImageFinderError("hash banks are kept beside a library, not a catalogue")
    return BankStore(library.folder)


def import_list(banks: BankStore, name: str, path: str, label: str = "") -> ImportCount:
    """A hash list's rows into bank ``name``: all of them, or none when a line is wrong. A
    vPDQ hash file (one video's frames, core/pictures/vpdq.py) is one video of the bank,
    named by the file."""
    from image_finder.core.pictures import vpdq

    if vpdq.is_hash_file(path):
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImageFinderError(f"cannot read {path}: {exc}") from exc
        frames = vpdq.parse(text, path)
        return banks.add_videos(name, [(Path(path).stem, label, frames)])
    return banks.import_hashes(name, read_list(path))


def export_list(banks: BankStore, name: str, out: TextIO) -> int:
    return write_list(banks.hashes(name), out)


def pictures_of(
    paths: Sequence[str],
) -> Iterator[tuple[str, Part | None, Image.Image] | Unreadable]:
    """Every picture of the files and folders ``paths``: (path, part, picture), in order,
    or why a file gave none."""
    for found in _files(paths):
        yield from [found] if isinstance(found, Unreadable) else _file_pictures(found)


def _files(paths: Sequence[str]) -> Iterator[str | Unreadable]:
    """The files of ``paths`` (folders' files found as indexing finds them)."""
    from image_finder.core.pictures.scanning import ScanEntry, scan_folder

    for given in paths:
        if os.path.isdir(given):
            for entry in scan_folder(given):
                if isinstance(entry, ScanEntry):
                    yield entry.path
                else:
                    yield Unreadable(entry.path, entry.reason)
        elif os.path.exists(given):
            yield os.path.abspath(given)
        else:
            yield Unreadable(given, "file not found")


def _video_hashes(
    paths: Sequence[str], cancelled: Callable[[], bool]
) -> Iterator[tuple[str, list[Frame]] | Unreadable]:
    """(path, vPDQ frames) of each video of ``paths``."""
    from image_finder.core.pictures.video import is_video_name
    from image_finder.core.pictures.vpdq import video_hash

    for found in _files(paths):
        if cancelled():
            return
        if isinstance(found, str) and is_video_name(found):
            try:
                yield found, video_hash(found, cancelled=cancelled)
            except ImageLoadError as exc:
                yield Unreadable(found, exc.reason)


def _file_pictures(path: str) -> Iterator[tuple[str, Part | None, Image.Image] | Unreadable]:
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.parts import file_parts, has_parts
    from image_finder.core.pictures.video import MomentRule

    try:
        if not has_parts(path):
            yield path, None, load_image(path)
            return
        for part, picture in file_parts(path, MomentRule()).pictures:
            yield path, part, picture
    except (ImageLoadError, OSError) as exc:
        yield Unreadable(path, getattr(exc, "reason", None) or str(exc))


def _signals(
    found: list[tuple[str, Part | None, Image.Image]], extractor: Extractor | None
) -> list[Signals]:
    vectors = _vectors([p for _, _, p in found], extractor) if extractor else None
    out = []
    for n, (_, _, picture) in enumerate(found):
        try:
            pdq = pdq_of(picture)
        except ImageLoadError:
            pdq = None
        out.append(Signals(pdq, None if vectors is None else vectors[n]))
    return out


def _vectors(pictures: list[Image.Image], extractor: Extractor) -> np.ndarray:
    """The pictures' features; one the model refuses gets zeros (no vector match)."""
    try:
        return extractor.embed_images(pictures)
    except ImageLoadError:
        out = np.zeros((len(pictures), extractor.dim), np.float32)
        for n, picture in enumerate(pictures):
            with contextlib.suppress(ImageLoadError):
                out[n] = extractor.embed_images([picture])[0]
        return out


def _batches(
    paths: Sequence[str], cancelled: Callable[[], bool]
) -> Iterator[list[tuple[str, Part | None, Image.Image]] | Unreadable]:
    batch: list[tuple[str, Part | None, Image.Image]] = []
    for found in pictures_of(paths):
        if cancelled():
            break
        if isinstance(found, Unreadable):
            yield found
            continue
        batch.append(found)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def match_files(
    banks: BankStore,
    paths: Sequence[str],
    names: Sequence[str] = (),
    extractor: Extractor | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[Match | Unreadable]:
    """Each match of the pictures of ``paths`` in the banks ``names`` (all when empty), file
    by file; files that cannot be read are reported and skipped. Nothing is moved or changed."""
    matcher = ready_matcher(banks.path.parent, names, extractor.name if extractor else None)
    wanted = extractor if matcher.has_pictures else None  # vectors only against pictures
    for batch in _batches(paths, cancelled):
        if isinstance(batch, Unreadable):
            yield batch
            continue
        for (path, part, _), signal in zip(batch, _signals(batch, wanted), strict=True):
            yield from matcher.match(path, part, signal)
    if matcher.has_videos:  # each video whole, by its vPDQ hash
        for hashed in _video_hashes(paths, cancelled):
            if isinstance(hashed, Unreadable):
                continue  # said once already, by its moments
            yield from matcher.match_video(*hashed)


def add_folder(
    banks: BankStore,
    name: str,
    folder: str,
    extractor: Extractor,
    label: str = "",
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[ImportCount, list[Unreadable]]:
    """The pictures of ``folder`` into bank ``name``: each one's features (the library's
    model) and PDQ hash, named by its path in the folder (a video's moments each, and the
    video by its vPDQ hash), all at once."""
    if not os.path.isdir(folder):
        raise ImageFinderError(f"not a folder: {folder}")
    banks.get(name)  # a clear error before any picture is read
    rows: list[tuple[str, str, str, np.ndarray, bytes | None]] = []
    skipped: list[Unreadable] = []
    for batch in _batches([folder], cancelled):
        if isinstance(batch, Unreadable):
            skipped.append(batch)
            continue
        for (path, part, _), signal in zip(batch, _signals(batch, extractor), strict=True):
            entry = Path(path).relative_to(folder).as_posix() + (f"#{part.key}" if part else "")
            blob = signal.pdq.to_blob() if signal.pdq is not None else None
            assert signal.vector is not None
            rows.append((entry, label, extractor.name, signal.vector, blob))
    hashed = [h for h in _video_hashes([folder], cancelled) if not isinstance(h, Unreadable)]
    videos = [(Path(path).relative_to(folder).as_posix(), label, frames)
              for path, frames in hashed]  # fmt: skip
    if cancelled():
        raise ImageFinderError("cancelled: the bank was left as it was")
    return banks.add_pictures(name, rows, videos), skipped


def describe_skipped(skipped: Sequence[Unreadable]) -> list[str]:
    return [f"{display_name(s.path)}: {s.reason}" for s in skipped]


def check_watched(
    library: Library, cancelled: Callable[[], bool] = lambda: False
) -> list[dict[str, Any]]:
    """The pictures indexed since the last check, against the watched banks: the matches
    recorded now, as JSON (core/banks/watch.py)."""
    from image_finder.core.banks.watch import check_new, match_json

    return [match_json(m) for m in check_new(library, cancelled)]


DECISIONS = ("confirmed", "dismissed")


def match_picture(
    banks: BankStore, data: bytes, names: Sequence[str] = (), extractor: Extractor | None = None
) -> list[Match]:
    """The matches of one picture given as its file's bytes (an upload: never kept, never a
    path or a URL). Raises ImageLoadError for data that is no picture."""
    from image_finder.core.pictures.images import load_image

    picture = load_image(data)
    matcher = ready_matcher(banks.path.parent, names, extractor.name if extractor else None)
    wanted = extractor if matcher.has_pictures else None
    return matcher.match("upload", None, _signals([("upload", None, picture)], wanted)[0])


def match_items(
    library: Library, banks: BankStore, ids: Sequence[int], names: Sequence[str] = ()
) -> list[Match]:
    """The matches of library items, from the PDQ hash and vector kept for each."""
    from image_finder.core.pictures.pdq import Pdq

    matcher = ready_matcher(banks.path.parent, names, library.model)
    items = library.items(ids)
    hashes = library.side_data.hashes(list(items))
    vectors = library.vectors(list(items), original=True) if matcher.has_pictures else None
    found: list[Match] = []
    for n, (image_id, item) in enumerate(items.items()):
        blob = hashes.get(image_id)
        signals = Signals(Pdq.from_blob(blob) if blob else None,
                          None if vectors is None else vectors[n])  # fmt: skip
        found += matcher.match(item.path, item.part, signals)
    return found


def decide(library: Library, match_id: int, decision: str, who: str) -> dict[str, Any]:
    """Record a reviewer's decision on a recorded match; the match as it is now."""
    import time

    from image_finder.core.banks.watch import match_json

    if decision not in DECISIONS:
        raise ImageFinderError(f"a decision is one of {', '.join(DECISIONS)}, not {decision!r}")
    with library.writing():
        if not library.side_data.decide_match(match_id, decision, who, time.time()):
            raise ImageFinderError(f"no match {match_id}")
    return match_json(library.side_data.bank_matches([match_id], limit=1)[0])


def recorded_matches(
    library: Library, offset: int = 0, limit: int = 100, after: int | None = None
) -> list[dict[str, Any]]:
    """The matches recorded in the library, newest first (``after``: those recorded after
    that match, oldest first)."""
    from image_finder.core.banks.watch import match_json

    found = library.side_data.bank_matches(offset=offset, limit=limit, after=after)
    return [match_json(m) for m in found]


# -- webhooks: the recorded matches POSTed to their receivers (core/banks/webhooks.py) ---------

_delivering: dict[str, threading.Lock] = {}


def webhooks(library: Library) -> list[Webhook]:
    """The receivers configured for the library's matches, and how their deliveries stand."""
    from image_finder.core.banks.webhooks import FILE, WebhookStore

    if not (library.folder / FILE).exists():
        return []
    with WebhookStore(library.folder) as store:
        return store.hooks()


def add_webhook(library: Library, url: str) -> tuple[Webhook, str]:
    """A new receiver of the matches recorded from now on; it and its secret (shown once)."""
    from image_finder.core.banks.webhooks import WebhookStore

    newest = library.side_data.bank_matches(limit=1)
    with WebhookStore(library.folder) as store:
        return store.add(url, newest[0]["id"] if newest else 0)


def remove_webhook(library: Library, hook_id: str) -> None:
    from image_finder.core.banks.webhooks import WebhookStore

    with WebhookStore(library.folder) as store:
        store.remove(hook_id)


def deliver_matches(library: Library, *, force: bool = False, **options: Any) -> list[Delivery]:
    """The matches recorded and not yet acknowledged, POSTed to each receiver whose wait
    after a failure is over (``force``: every receiver now). One delivery at a time per
    library in this process; another process delivering too may repeat a match, which the
    receiver tells by its id."""
    from image_finder.core.banks.webhooks import deliver

    def pending(after: int, limit: int) -> list[dict[str, Any]]:
        return recorded_matches(library, 0, limit, after)

    lock = _delivering.setdefault(str(library.folder), threading.Lock())
    with lock:
        return deliver(library.folder, pending, force=force, **options)


class MatchSender:
    """Delivers a library's matches to its webhooks from a thread of its own, for a process
    that keeps running (the server, ``watch``): at once when nudged (new matches), and every
    ``poll`` seconds, which retries a failed delivery when its wait is over and sends what
    other processes recorded. ``heard`` is told of each delivery run that sent or failed."""

    def __init__(self, library: Library, heard: Callable[[Delivery], None] = lambda d: None,
                 poll: float = 2.0) -> None:  # fmt: skip
        self._library = library
        self._heard = heard
        self._poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> MatchSender:
        self._thread.start()
        return self

    def nudge(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import logging

        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                for delivery in deliver_matches(self._library):
                    self._heard(delivery)
            except Exception as exc:  # a library closed or locked meanwhile: next round
                logging.getLogger(__name__).warning("webhook delivery: %s", exc)
