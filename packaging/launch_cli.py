"""Entry point of the bundled command-line companion."""

import sys

from image_finder.cli import main

sys.exit(main())
