"""Entry point of the bundled command-line companion."""

import multiprocessing
import sys

from image_finder.cli import main

if __name__ == "__main__":
    # the documents' page renderers are spawned processes: in a bundle they start through
    # this same executable, which must hand them over instead of starting the app again
    multiprocessing.freeze_support()
    sys.exit(main())
