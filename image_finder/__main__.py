"""``python -m image_finder`` and the ``image-finder`` launcher open the desktop window."""

from __future__ import annotations

import sys


def main() -> int:
    from image_finder.ui.app import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
