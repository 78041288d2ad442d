"""PDQ, Meta's perceptual hash of a photo: 256 bits and a quality (0-100), computed by the
reference C++ code of ThreatExchange through its ``pdqhash`` binding (the luma of the pixels,
a Jarosz filter down to 64x64, a DCT: nothing here re-implements it).

Two hashes of one picture are within ``MATCH_DISTANCE`` bits (Hamming distance) of each
other through re-encoding, resizing and light edits; a hash of quality under
``MIN_QUALITY`` (a flat picture, a blank page) is not matched, as the reference says. Hashes
are written as ThreatExchange writes them: 64 hexadecimal digits, the first bit first.

A picture larger than 512 pixels a side is hashed as it is decoded (ThreatExchange's Python
hashes the whole picture too; its command-line hasher squeezes it to 512x512 first, which
moves a few bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from image_finder.core.common.errors import ImageFinderError, ImageLoadError

if TYPE_CHECKING:
    from PIL import Image

BITS = 256
BYTES = BITS // 8
MATCH_DISTANCE = 31  # bits: the reference's threshold for a match
MIN_QUALITY = 50  # a hash of lower quality is not matched (flat or featureless pictures)


@dataclass(frozen=True)
class Pdq:
    """A picture's PDQ hash (32 bytes, the first bit the most significant of the first
    byte) and its quality."""

    hash: bytes
    quality: int

    @property
    def hex(self) -> str:
        return self.hash.hex()

    @property
    def matchable(self) -> bool:
        return self.quality >= MIN_QUALITY

    def to_blob(self) -> bytes:
        """As the library keeps it: the hash, then the quality in one byte."""
        return self.hash + bytes([max(0, min(100, self.quality))])

    @classmethod
    def from_blob(cls, blob: bytes) -> Pdq:
        return cls(bytes(blob[:BYTES]), int(blob[BYTES]))


def parse_hex(text: str) -> bytes:
    """A PDQ hash written in hexadecimal (64 digits, case ignored) as its 32 bytes; raises
    ImageFinderError, saying what is wrong, for anything else."""
    cleaned = text.strip().lower()
    if len(cleaned) != 2 * BYTES:
        raise ImageFinderError(f"a PDQ hash has 64 hexadecimal digits, not {len(cleaned)}")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ImageFinderError(f"not a hexadecimal PDQ hash: {text.strip()[:80]!r}") from None


def distance(a: bytes, b: bytes) -> int:
    """The Hamming distance of two hashes, in bits."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def pdq_of(image: Image.Image) -> Pdq:
    """The PDQ hash of a picture (its RGB pixels). Raises ImageLoadError where the binding is
    missing or refuses the picture."""
    try:
        import pdqhash
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImageLoadError("<picture>", "hashing needs the pdqhash package") from exc
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    if min(rgb.shape[:2]) < 1:
        raise ImageLoadError("<picture>", "it has no pixels to hash")
    bits, quality = pdqhash.compute(rgb)
    return Pdq(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality))


def hash_of(image: Image.Image) -> bytes:
    """What the library keeps of a picture's PDQ hash (``Pdq.to_blob``), or b"" when it
    cannot be hashed (kept so, that it is not tried again until the file changes)."""
    try:
        return pdq_of(image).to_blob()
    except ImageLoadError:
        return b""
