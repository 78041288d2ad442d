"""Brightness layouts: how a black-and-white query is matched to its colour original.

The model's features depend on colour, so the greyscale copy of a colour picture can look to it
like another picture: a flat-colour illustration whose colours have similar brightness turns
into a few grey blobs. What a greyscale copy keeps exactly is the picture's brightness pattern.
Each image's pattern is stored at indexing as 16 x 16 grey cells (256 bytes); a query with no
colour is searched as usual, then the results whose pattern correlates with the query's at
:data:`MATCH` or more are listed first. Measured on 7,036 images (114 real photos, 6,922
drawings): the pattern of each photo's greyscale copy correlates with its original's at 0.998 or
more and with any other picture's at most 0.89. Greyscale made other ways (Rec. 709 weights,
the channels' mean, HSL lightness), then halved and saved as JPEG quality 50, still correlates
with its original at 0.987 or more (skimage's colour photos).
With it, 114 of 114 greyscale copies find their original first, against 110 for the model alone
(``python -m benchmarks.quality``).

The test is not used for colour queries: drawings on white backgrounds share patterns (the
phases of a moon drawing correlate at up to 0.99), colour variants of one drawing have the same
pattern, and the model already finds the colour copies of a picture.

Each layout also keeps the picture's colours in COLOUR_SIDE x COLOUR_SIDE cells, after the grey
ones: what tells a resized or re-encoded copy (core/search/duplicates.py: *same picture*) from a
recoloured variant with the same brightness pattern. Measured on 40 real photos and their
planted copies (half size JPEG q75, JPEG q50 and q90, PNG, EXIF added), the cells of a copy
differ from its original's by at most 0.94 levels on average; the recoloured variants among the
wallpapers (one design in blue and teal, an aurora in three colours: model scores up to 0.95,
brightness patterns correlating at 0.99 and more) by 8.9 levels or more
(``python -m benchmarks.duplicates``). A layout stored by an earlier version has no colour part;
indexing fills it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

SIDE = 16
SIGNATURE_BYTES = SIDE * SIDE  # the grey cells, first in a stored layout
COLOUR_SIDE = 8
LAYOUT_BYTES = SIGNATURE_BYTES + COLOUR_SIDE * COLOUR_SIDE * 3  # grey, then the RGB cells
# Mean difference of the colour cells (0-255 levels) up to which two pictures have the same
# colours: ~3x the largest a copy showed, a third of the smallest a recoloured variant did.
COLOUR_MATCH = 3.0
MATCH = 0.97
# Results looked at for a pattern match: a greyscale copy's original can rank far down on the
# model's score alone (186th among 7,036 images for a flat-colour illustration).
SHORTLIST = 1000
# Colour spread (max - min channel, 0-255) tolerated in a "greyscale" picture: JPEG noise.
GREY_MEAN_SPREAD = 2.0
GREY_P99_SPREAD = 12.0


def signature(image: Image.Image) -> bytes:
    """The picture's brightness in SIDE x SIDE cells (ITU-R 601 luma, box-averaged), then its
    colours in COLOUR_SIDE x COLOUR_SIDE cells (RGB, box-averaged)."""
    from PIL import Image as PILImage

    grey = image.convert("L").resize((SIDE, SIDE), PILImage.Resampling.BOX)
    colour = image.convert("RGB").resize((COLOUR_SIDE, COLOUR_SIDE), PILImage.Resampling.BOX)
    return grey.tobytes() + colour.tobytes()


def has_colours(stored: bytes) -> bool:
    """Whether a stored layout has its colour part (not one of an earlier version)."""
    return len(stored) == LAYOUT_BYTES


def same_colours(a: bytes, b: bytes) -> bool:
    """Whether two layouts' colour cells agree (mean difference up to COLOUR_MATCH levels)."""
    if not (has_colours(a) and has_colours(b)):
        return False
    cells_a = np.frombuffer(a, np.uint8, offset=SIGNATURE_BYTES).astype(np.int16)
    cells_b = np.frombuffer(b, np.uint8, offset=SIGNATURE_BYTES).astype(np.int16)
    return bool(np.abs(cells_a - cells_b).mean() <= COLOUR_MATCH)


def is_greyscale(image: Image.Image) -> bool:
    """Whether the picture has no colour (a black-and-white photo, a greyscale copy)."""
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    small = image.convert("RGB")
    small.thumbnail((64, 64))
    pixels = np.asarray(small, dtype=np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    return bool(spread.mean() <= GREY_MEAN_SPREAD and np.percentile(spread, 99) <= GREY_P99_SPREAD)


def colourless(stored: bytes) -> bool:
    """Whether a stored layout's colour cells are grey (a greyscale picture or copy)."""
    if not has_colours(stored):
        return False
    cells = np.frombuffer(stored, np.uint8, offset=SIGNATURE_BYTES).reshape(-1, 3)
    spread = cells.max(axis=1).astype(np.int16) - cells.min(axis=1)
    return bool(spread.mean() <= GREY_MEAN_SPREAD and spread.max() <= GREY_P99_SPREAD)


def correlation_matrix(a: Sequence[bytes], b: Sequence[bytes]) -> np.ndarray:
    """The brightness patterns' correlation (-1..1) of each of ``a`` with each of ``b``."""
    if not a or not b:
        return np.zeros((len(a), len(b)), np.float32)
    found: np.ndarray = _normalised(a) @ _normalised(b).T
    return found


def _normalised(signatures: Sequence[bytes]) -> np.ndarray:
    grey = b"".join(s[:SIGNATURE_BYTES] for s in signatures)
    rows = np.frombuffer(grey, np.uint8).reshape(len(signatures), SIGNATURE_BYTES)
    centred = rows.astype(np.float32) - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    out: np.ndarray = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 1e-3)
    return out


def correlations(queries: Sequence[bytes], candidates: Sequence[bytes]) -> np.ndarray:
    """For each candidate, its best correlation (-1..1) with any of the query's patterns; a flat
    picture correlates with nothing (0)."""
    if not candidates:
        return np.zeros(0, np.float32)
    best: np.ndarray = (_normalised(candidates) @ _normalised(queries).T).max(axis=1)
    return best
