"""Thumbnails of library items, made on demand and kept in a bounded in-memory cache."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

from image_finder.core.common.records import Item
from image_finder.core.pictures.parts import part_picture

MIN_SIZE = 16
MAX_SIZE = 1024
DEFAULT_SIZE = 256


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    media_type: str
    etag: str


def etag_for(item: Item, size: int, fmt: str) -> str:
    part = f"-{item.part.key}" if item.part else ""
    return f'"{item.content_hash[:20]}-{item.mtime_ns}{part}-{size}-{fmt}"'


def picture_png(item: Item) -> bytes:
    """The item's whole picture as a PNG, with no metadata (a medical image's, for one)."""
    image = part_picture(item.path, item.part)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def make_thumbnail(item: Item, size: int, fmt: str) -> Thumbnail:
    """The item's picture fitted in ``size`` x ``size``, as JPEG or WebP. Raises
    ImageLoadError."""
    image = part_picture(item.path, item.part, min_size=size)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, "WEBP", quality=80, method=4)
    else:
        image.save(buffer, "JPEG", quality=85, optimize=True)
    return Thumbnail(buffer.getvalue(), f"image/{fmt}", etag_for(item, size, fmt))


class ThumbnailCache:
    """Least recently used thumbnails, at most ``capacity`` bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Thumbnail] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, item: Item, size: int, fmt: str) -> Thumbnail:
        key = etag_for(item, size, fmt)
        with self._lock:
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
                return cached
        thumbnail = make_thumbnail(item, size, fmt)
        with self._lock:
            if key not in self._items and len(thumbnail.data) <= self.capacity:
                self._items[key] = thumbnail
                self._bytes += len(thumbnail.data)
                while self._bytes > self.capacity:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= len(old.data)
        return thumbnail
