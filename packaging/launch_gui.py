"""Entry point of the bundled desktop app."""

import sys

from image_finder.ui.app import main

sys.exit(main())
