"""python -m image_finder.cli: the command line."""

import sys

from image_finder.cli import main

sys.exit(main())
