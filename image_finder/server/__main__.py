"""python -m image_finder.server"""

from image_finder.server import main

raise SystemExit(main())
