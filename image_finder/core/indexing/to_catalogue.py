"""A library's pictures copied into a catalogue with their stored vectors (nothing is decoded
or embedded again): a collection that outgrew one machine moves to Milvus as it is, videos'
moments included. The
model's own features are copied, never an adapter's; a rerun writes the same rows (the key
is the path), so a copy cut short is finished by running it again. The text read in the
pictures goes with them."""

from __future__ import annotations

from collections.abc import Callable

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import FileFacts
from image_finder.core.embedding import precision
from image_finder.core.stores.catalogue import Catalogue, CatalogueRow
from image_finder.core.stores.library import Library

CHUNK = 1024


def copy_library(
    library: Library,
    catalogue: Catalogue,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Upsert every picture of ``library`` into ``catalogue``; returns how many were written
    (fewer when cancelled). Raises ModelMismatchError when the catalogue holds another
    model's vectors."""
    model, total = library.model, library.count()
    if model is None or not total:
        raise ImageFinderError("the library holds no pictures to copy")
    folders = [f.path for f in library.folders()]
    record = precision.recorded(library)
    made_in = record.chosen if record is not None else "fp32"
    catalogue.add_folders(folders)
    written = 0
    seen: set[str] = set()  # the files with parts met so far (their old parts deleted)
    with library.snapshot(original=True) as source:
        for ids, vectors in source.chunks(CHUNK):
            if cancelled is not None and cancelled():
                break
            items = library.items(ids.tolist())
            layouts = library.layouts(ids.tolist())
            texts = library.texts(ids.tolist())
            hashes = library.side_data.hashes(ids.tolist())
            rows = [
                CatalogueRow(item.path, FileFacts(item.size, item.mtime_ns, item.content_hash,
                                                  item.width, item.height, layouts.get(i),
                                                  pdq=hashes.get(i)),
                             vector, item.part, *_said(texts.get(i)))
                for i, vector in zip(ids.tolist(), vectors, strict=True)
                if (item := items.get(i)) is not None
            ]  # fmt: skip
            # a video's moments may come in two chunks: its old parts go once, before the first
            first_met = sorted({r.path for r in rows if r.part is not None} - seen)
            catalogue.delete(first_met)
            seen.update(first_met)
            written += catalogue.upsert(rows, model, folders, precision=made_in, replace=False)
            if progress is not None:
                progress(written, total)
    return written


def _said(text: tuple[str, str, str] | None) -> tuple[str, str]:
    """(text, source) of an item's text as the library keeps it ("", "": not read)."""
    return ("", "") if text is None else (text[1], text[0])
