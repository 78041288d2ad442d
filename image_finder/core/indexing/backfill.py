"""What the library stores beside each vector and an earlier version did not: read once more
at the next indexing run, without the model. Brightness layouts (core/pictures/layout.py) decode the
picture; the facts that narrow a search (core/pictures/picture_facts.py) need its header only;
a document's page prints (core/pictures/page_print.py) render its pages again; PDQ hashes
(core/pictures/pdq.py) decode the picture, or the moment, again."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import display_name
from image_finder.core.indexing.progress import (
    CancelCallback,
    IndexPhase,
    IndexProgress,
    ProgressCallback,
)
from image_finder.core.pictures.images import load_image
from image_finder.core.pictures.layout import signature
from image_finder.core.pictures.picture_facts import read_facts
from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)

T = TypeVar("T")

LAYOUT_BATCH = 256  # images read per write when storing layouts for older entries
FACTS_BATCH = 1024


def fill_layouts(
    library: Library,
    folder_ids: Sequence[int],
    min_size: int,
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> None:
    """Pictures indexed by an earlier version have no layout, or one without colours
    (core/pictures/layout.py): read them once more, without the model. A file that cannot be
    read now gets an empty layout, so that it is not tried on every run (it gets a real one when it
    changes and is re-indexed)."""
    todo = library.side_data.missing_layouts(folder_ids)
    if not todo:
        return
    log.info("storing the brightness layouts of %d images indexed before", len(todo))

    def read(row: tuple[int, str]) -> tuple[int, bytes]:
        try:
            return row[0], signature(load_image(row[1], min_size=min_size))
        except (ImageLoadError, OSError) as exc:
            log.warning("no brightness layout for %s: %s", display_name(row[1]), exc)
            return row[0], b""

    _in_batches(todo, read, library.side_data.set_layouts, notify, is_cancelled)


def _in_batches(
    todo: Sequence[T],
    read: Callable[[T], tuple[int, bytes]],
    write: Callable[[list[tuple[int, bytes]]], None],
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> None:
    """Read ``todo`` on all cores, writing each batch as it is read, with progress."""
    notify(IndexProgress(IndexPhase.LAYOUTS, 0, len(todo)))
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="backfill") as pool:
        for start in range(0, len(todo), LAYOUT_BATCH):
            if is_cancelled():
                return
            write(list(pool.map(read, todo[start : start + LAYOUT_BATCH])))
            done = min(len(todo), start + LAYOUT_BATCH)
            notify(IndexProgress(IndexPhase.LAYOUTS, done, len(todo)))


def fill_facts(
    library: Library,
    folder_ids: Sequence[int],
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> None:
    """Read the format, time taken and camera of the images that have none yet (new ones, and
    those of an earlier version) from their headers. A file whose header cannot be read gets
    an empty format, so that it is not tried on every run."""
    todo = library.side_data.missing_facts(folder_ids)
    if not todo:
        return
    log.info("reading the format, date and camera of %d images", len(todo))

    def read(row: tuple[int, str]) -> tuple[object, ...]:
        return read_facts(row[1]).row(row[0])

    notify(IndexProgress(IndexPhase.FACTS, 0, len(todo)))
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="facts") as pool:
        for start in range(0, len(todo), FACTS_BATCH):
            if is_cancelled():
                return
            library.side_data.set_facts(list(pool.map(read, todo[start : start + FACTS_BATCH])))
            done = min(len(todo), start + FACTS_BATCH)
            notify(IndexProgress(IndexPhase.FACTS, done, len(todo)))


def fill_in(
    library: Library,
    folder_ids: Sequence[int],
    min_size: int,
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> None:
    """Everything an earlier version did not store, for the items of those folders."""
    fill_layouts(library, folder_ids, min_size, notify, is_cancelled)
    if not is_cancelled():
        fill_facts(library, folder_ids, notify, is_cancelled)
    if not is_cancelled():
        fill_page_prints(library, folder_ids, notify, is_cancelled)
    if not is_cancelled():
        fill_hashes(library, folder_ids, notify, is_cancelled)


def fill_hashes(
    library: Library,
    folder_ids: Sequence[int],
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> None:
    """The PDQ hashes of the photos and video moments indexed before they were kept: each
    picture decoded once more (a moment at its time), without the model."""
    from image_finder.core.common.records import Part
    from image_finder.core.pictures.parts import part_picture
    from image_finder.core.pictures.pdq import hash_of

    todo = library.side_data.missing_hashes(folder_ids)
    if not todo:
        return
    log.info("computing the PDQ hashes of %d pictures indexed before", len(todo))

    def read(row: tuple[int, str, str | None]) -> tuple[int, bytes]:
        try:
            return row[0], hash_of(part_picture(row[1], Part.from_key(row[2])))
        except (ImageLoadError, OSError) as exc:
            log.warning("no PDQ hash for %s: %s", display_name(row[1]), exc)
            return row[0], b""

    _in_batches(todo, read, library.side_data.set_hashes, notify, is_cancelled)


def fill_page_prints(
    library: Library,
    folder_ids: Sequence[int],
    notify: ProgressCallback,
    is_cancelled: CancelCallback,
) -> None:
    """The prints of pages indexed before prints were kept: each document's pages rendered
    again (no model). A document that cannot be read now gets empty prints, so that it is not
    tried on every run (it gets real ones when it changes and is indexed again)."""
    from image_finder.core.pictures.documents import pages
    from image_finder.core.pictures.page_print import page_print

    todo = library.side_data.missing_page_prints(folder_ids)
    if not todo:
        return
    by_path: dict[str, dict[int, int]] = {}
    for image_id, path, number in todo:
        by_path.setdefault(path, {})[number] = image_id
    log.info("keeping the page prints of %d pages indexed before", len(todo))
    done = 0
    notify(IndexProgress(IndexPhase.LAYOUTS, 0, len(todo)))
    for path, wanted in by_path.items():
        found: list[tuple[int, bytes]] = []
        try:
            for page in pages(path, cancelled=is_cancelled, first=min(wanted)):
                if page.number in wanted:
                    found.append((wanted[page.number], page_print(page.image)))
                if page.number >= max(wanted):
                    break
        except (ImageLoadError, OSError) as exc:
            log.warning("no page prints for %s: %s", display_name(path), exc)
        if is_cancelled():
            return
        kept = {i for i, _ in found}
        found += [(i, b"") for i in wanted.values() if i not in kept]
        library.side_data.set_page_prints(found)
        done += len(wanted)
        notify(IndexProgress(IndexPhase.LAYOUTS, done, len(todo)))
