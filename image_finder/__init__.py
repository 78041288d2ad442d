"""Image Finder: local query-by-example image search."""

__version__ = "0.1.0"
APP_NAME = "Image Finder"
APP_ID = "io.github.image_finder.ImageFinder"
