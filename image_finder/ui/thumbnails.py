"""Thumbnails made off the GUI thread and cached on disk.

Thumbnails are decoded with the core's image loader (EXIF orientation, every colour mode) in a
QThreadPool, saved as JPEG under ``<cache dir>/thumbnails`` keyed by path + size + mtime +
thumbnail size, and handed to the GUI thread as QImage; QPixmaps are made there.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from image_finder.core.common import paths
from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import Part
from image_finder.core.pictures.images import ImageSource, load_image
from image_finder.core.pictures.parts import part_picture

log = logging.getLogger(__name__)


def cache_folder() -> Path:
    return paths.cache_dir() / "thumbnails"


def cache_key(path: str, size: int, part: Part | None = None) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    where = f"|{part.key}" if part else ""  # a video's moments each have their own
    raw = os.fsencode(path) + f"|{st.st_size}|{st.st_mtime_ns}|{size}{where}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def pil_to_qimage(image: Image.Image) -> QImage:
    """RGB Pillow image -> a QImage that owns its pixels."""
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimage = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return qimage.copy()  # detach from the Python bytes


def make_thumbnail(source: ImageSource, size: int) -> QImage:
    """Decode ``source`` and scale it to fit ``size`` x ``size``. Raises ImageLoadError."""
    return pil_to_qimage(_pil_thumbnail(source, size))


def _pil_thumbnail(source: ImageSource, size: int) -> Image.Image:
    image = load_image(source, min_size=size)
    image.thumbnail((size, size))
    return image


def _part_thumbnail(path: str, part: Part, size: int) -> Image.Image:
    image = part_picture(path, part, min_size=size)
    image.thumbnail((size, size))
    return image


def cached_thumbnail(path: str, size: int, part: Part | None = None) -> QImage:
    """The thumbnail of ``path`` (or of its ``part``: a video's moment) from the disk cache,
    made and cached if missing. Pillow and PyAV do the file work, so this is safe in any
    thread."""
    key = cache_key(path, size, part)
    cached = cache_folder() / key[:2] / f"{key}.jpg" if key else None
    if cached is not None and cached.exists():
        try:
            return pil_to_qimage(load_image(cached))
        except ImageLoadError:
            log.debug("damaged cached thumbnail %s; making it again", cached)
    image = _pil_thumbnail(path, size) if part is None else _part_thumbnail(path, part, size)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            image.save(tmp, "JPEG", quality=88)
            os.replace(tmp, cached)
        except OSError as exc:
            log.debug("cannot cache the thumbnail of %s: %s", path, exc)
    return pil_to_qimage(image)


class _Signals(QObject):
    # paths travel as Python objects: a QString would mangle names that are not valid UTF-8
    ready = Signal(int, object, QImage)  # generation, path, image
    failed = Signal(int, object, str)  # generation, path, reason


class _Job(QRunnable):
    def __init__(
        self,
        signals: _Signals,
        generation: int,
        path: str,
        size: int,
        part: Part | None,
        key: object,
    ) -> None:
        super().__init__()
        self.signals = signals
        self.generation = generation
        self.path = path
        self.size = size
        self.part = part
        self.key = key

    def run(self) -> None:
        try:
            image = cached_thumbnail(self.path, self.size, self.part)
        except ImageLoadError as exc:
            self.signals.failed.emit(self.generation, self.key, exc.reason)
        except Exception as exc:  # never let a thumbnail take the app down
            log.exception("thumbnail of %s failed", self.path)
            self.signals.failed.emit(self.generation, self.key, str(exc))
        else:
            self.signals.ready.emit(self.generation, self.key, image)


class ThumbnailLoader(QObject):
    """Loads thumbnails in a thread pool. Results of an older ``generation`` are dropped by
    the receiver; :meth:`clear` drops queued jobs when a new result list arrives."""

    ready = Signal(int, object, QImage)
    failed = Signal(int, object, str)

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._signals = _Signals()
        self._signals.ready.connect(self.ready)
        self._signals.failed.connect(self.failed)

    def request(
        self,
        generation: int,
        path: str,
        size: int,
        part: Part | None = None,
        key: object = None,
    ) -> None:
        """The thumbnail of ``path``, or of its ``part``; it comes back under ``key`` (by
        default ``path``)."""
        self.pool.start(_Job(self._signals, generation, path, size, part,
                             path if key is None else key))  # fmt: skip

    def clear(self) -> None:
        self.pool.clear()  # queued, not yet started jobs are dropped

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)
