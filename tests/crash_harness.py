"""Index a folder with the model-free pixel extractor, for the crash-consistency tests.

    python -m tests.crash_harness LIBRARY_DIR FOLDER [IVF_MIN_VECTORS [ROOT ...]]

ROOTs (subfolders of FOLDER) are indexed instead of FOLDER, as a watched folder's batch is.

Set IMAGE_FINDER_KILL_AT=POINT[:N] to have the process SIGKILL itself at a crash point.
"""

from __future__ import annotations

import sys

from image_finder.core.embedding.extractor import PixelExtractor
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.stores.library import Library


def main() -> int:
    library_dir, folder = sys.argv[1], sys.argv[2]
    ivf_min = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    roots = sys.argv[4:] or [folder]
    with Library(library_dir, ivf_min_vectors=ivf_min) as library:
        index_folders(roots, library, PixelExtractor(), batch_size=4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
