"""Debian's openclipart-png (8,121 labelled public-domain drawings) as one library.

    python -m benchmarks.clipart [--model efficientnet_lite0] [--quick]

Indexes every PNG under /usr/share/openclipart/png through the product's own code into
benchmarks/.data/clipart-MODEL/ (a second run only checks that nothing changed), so that the
benchmarks that need real embeddings of a few thousand labelled images share one library:
``words`` (category names as text queries) and ``index_search`` (vectors that follow real
embeddings). Each image's label is its top folder (``animals``, ``food``…) and its subfolder.
Install the set with ``apt-get install openclipart-png``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks import photos as photo_set
from benchmarks.common import DATA

CLIPART = Path("/usr/share/openclipart/png")


def library_path(model: str, quick: bool = False) -> Path:
    return DATA / (f"clipart-{model}" + ("-quick" if quick else ""))


def build(model: str = "efficientnet_lite0", quick: bool = False, extractor=None) -> Path:
    """Index the set (or, ``quick``, 30 images of each top folder) and return the library."""
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    if not CLIPART.is_dir():
        raise SystemExit("openclipart-png is not installed: apt-get install openclipart-png")
    source = CLIPART
    if quick:  # a folder of links to a few images per top folder
        source = DATA / "clipart-quick-source"
        for top in sorted(p for p in CLIPART.iterdir() if p.is_dir()):
            target = source / top.name
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted(top.rglob("*.png"))[:30]:
                link = target / f"{path.parent.name}__{path.name}"
                photo_set.place(path, link)
    extractor = extractor or Extractor.load(model, device="cpu")
    folder = library_path(model, quick)
    with Library(folder) as library:
        report = index_folders([source], library, extractor)
        print(
            f"openclipart library {folder}: {library.count():,} images "
            f"(+{report.added} this run, {report.seconds:.0f} s, {len(report.skipped)} skipped)"
        )
    return folder


def labelled_vectors(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(ids, vectors, top folder, subfolder) of every image in a clipart library."""
    from image_finder.core.stores.library import Library

    with Library(folder) as library:
        rows = [r for f in library.folders() for r in library.folder_rows(f.id)]
        ids = np.array([r.id for r in rows], np.int64)
        vectors = library.vectors(list(ids))
        root = library.folders()[0].path
    tops, subs = [], []
    for row in rows:
        parts = Path(os.path.relpath(row.path, root)).parts
        name = parts[-1]
        tops.append(parts[0])
        subs.append(parts[1] if len(parts) > 2 else name.split("__")[0] if "__" in name else "")
    return ids, vectors, tops, subs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    build(args.model, args.quick)


if __name__ == "__main__":
    main()
