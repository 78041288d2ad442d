"""The PySide6 desktop window. Talks to the engine only through image_finder.core."""
