"""What a query image is searched as: its variants (rotated, mirrored, uncropped), their model
inputs, and the features they give.

Decoding and preprocessing (:func:`prepare_image`) need no model and run in any thread;
:func:`embed_prepared` embeds several prepared queries in one forward pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from image_finder.core.pictures import layout
from image_finder.core.pictures.images import ImageSource, load_image
from image_finder.core.pictures.page_print import page_print

if TYPE_CHECKING:
    from PIL import Image

    from image_finder.core.embedding.extractor import Extractor


class VariantOptions(Protocol):
    @property
    def rotations(self) -> bool: ...

    @property
    def crops(self) -> bool: ...


@dataclass(frozen=True)
class QueryFeatures:
    """What one query image is searched with."""

    vectors: np.ndarray  # [n, dim]: one per variant of the query
    # Brightness layouts of the variants when the query has no colour, else empty.
    layouts: tuple[bytes, ...] = ()
    signature: bytes = b""  # the query's own brightness layout, to tell the same picture
    digest: str | None = None  # the query's content hash, to tell byte-identical copies
    page_print: bytes = b""  # where its ink is, if it is a page (core/pictures/page_print.py)


def dihedral_variants(image: Image.Image) -> list[Image.Image]:
    """The image under the 8 symmetries of a square: 4 rotations, each also mirrored."""
    from PIL import Image as PILImage

    rotations = [image] + [
        image.transpose(t)
        for t in (
            PILImage.Transpose.ROTATE_90,
            PILImage.Transpose.ROTATE_180,
            PILImage.Transpose.ROTATE_270,
        )
    ]
    return rotations + [r.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT) for r in rotations]


UNCROP_FACTOR = 1.4


def uncropped(image: Image.Image) -> Image.Image:
    """The image in the middle of a canvas 1.4 times its size, the border filled with the
    image's own mirror reflection.

    A crop seen by the model fills the whole frame, so its objects look larger than in the
    picture it was cut from and its features drift away from that picture's. Shrunk back into
    the middle of a plausible surrounding, it is seen at about the scale of the original:
    measured on 114 real photos cut to the middle 50% of each side among 7,036 images, the
    original is found first for 113 instead of 106, and crops to 70% are all still found first
    (``python -m benchmarks.quality``)."""
    from PIL import Image as PILImage

    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    pad_y = round(height * (UNCROP_FACTOR - 1) / 2)
    pad_x = round(width * (UNCROP_FACTOR - 1) / 2)
    padded = np.pad(pixels, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="symmetric")
    return PILImage.fromarray(padded)


def query_variants(image: Image.Image, options: VariantOptions) -> list[Image.Image]:
    """The images a query is searched as: itself, plus its orientations and uncropped views as
    the options ask."""
    images = dihedral_variants(image) if options.rotations else [image]
    if options.crops:
        images += [uncropped(i) for i in images]
    return images


@dataclass(frozen=True)
class PreparedImage:
    """A query image decoded and made ready for the model, not yet embedded."""

    inputs: list[Any] = field(default_factory=list)  # model inputs, one per variant
    layouts: tuple[bytes, ...] = ()
    signature: bytes = b""
    digest: str | None = None
    page_print: bytes = b""


def prepare_image(
    source: ImageSource, options: VariantOptions, extractor: Extractor, digest: str | None = None
) -> PreparedImage:
    """Decode ``source`` and preprocess its variants (no model: any thread). Raises
    ImageLoadError."""
    image = load_image(source, min_size=extractor.min_decode_size)
    images = query_variants(image, options)
    layouts = tuple(layout.signature(i) for i in images) if layout.is_greyscale(image) else ()
    if digest is None and isinstance(source, bytes):
        digest = hashlib.blake2b(source, digest_size=16).hexdigest()
    inputs = [extractor.preprocess(i) for i in images]
    return PreparedImage(inputs, layouts, layout.signature(image), digest, page_print(image))


def embed_prepared(prepared: Sequence[PreparedImage], extractor: Extractor) -> list[QueryFeatures]:
    """The features of several prepared queries, from one forward pass of the model."""
    inputs = [x for p in prepared for x in p.inputs]
    vectors = extractor.embed_tensors(inputs) if inputs else np.zeros((0, extractor.dim))
    features, start = [], 0
    for p in prepared:
        end = start + len(p.inputs)
        features.append(
            QueryFeatures(vectors[start:end], p.layouts, p.signature, p.digest, p.page_print)
        )
        start = end
    return features
