"""The Qt-free engine of Image Finder.

Everything here is plain Python (numpy, Pillow, SQLite, and lazily torch/timm/faiss) so that the
command-line companion, the desktop window and the tests drive the same functions.
"""
