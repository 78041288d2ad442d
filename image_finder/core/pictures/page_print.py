"""Page prints: which page of a document a photo of a page is.

The model tells a text page from a photo, but not one text page from the next: on 567 pages
of Debian's documentation PDFs, a photo-like copy of a page (tilted in perspective, blurred,
half size, grey, JPEG quality 40) finds its own page first for 23% of the pages with
EfficientNet-Lite0 alone. What tells pages apart is where their ink is: the blocks of
paragraphs, headings, code and figures. A page's print is that: the page cropped to its ink
(the margins and the desk around a photographed page left out), in PRINT_W x PRINT_H grey cells
(box-averaged, 352 bytes), kept with each page at indexing.

A query is a page when the model finds pages like it (cosine MODEL_FLOOR or more: the 567
photo-like copies score 0.54 or more with their own page, 19 photos of skimage's at most 0.40
with any page); among those pages, the one whose print correlates best with the query's is
the page, listed first. With the model's shortlist and the prints, 566 of the 567 copies
find their page first (``python -m benchmarks.documents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

PRINT_W, PRINT_H = 16, 22  # cells: a page's proportions (A4, US letter)
PRINT_BYTES = PRINT_W * PRINT_H
INK = 40  # levels below the page's median brightness: ink
INK_SHARE = 0.003  # of a row's (a column's) pixels being ink: the row is part of the content
MODEL_FLOOR = 0.5  # cosine at which the model takes a query for one of the pages
PRINT_FLOOR = 0.5  # print correlation under which no page is the query's
SHORTLIST = 1000  # pages looked at (the model's best, at MODEL_FLOOR or more)


def page_print(image: Image.Image) -> bytes:
    """The picture's print (see the module's notes); b"" for a picture without ink (a blank
    page)."""
    from PIL import Image as PILImage

    grey = image.convert("L")
    small = grey.copy()
    small.thumbnail((800, 800))  # the crop is found on a picture of bounded size
    pixels = np.asarray(small, np.float32)
    ink = pixels < np.median(pixels) - INK
    rows = np.flatnonzero(ink.mean(axis=1) > INK_SHARE)
    cols = np.flatnonzero(ink.mean(axis=0) > INK_SHARE)
    if len(rows) < 4 or len(cols) < 4:
        return b""
    scale = grey.width / small.width
    box = (int(cols[0] * scale), int(rows[0] * scale),
           int((cols[-1] + 1) * scale), int((rows[-1] + 1) * scale))  # fmt: skip
    cells = grey.crop(box).resize((PRINT_W, PRINT_H), PILImage.Resampling.BOX)
    return cells.tobytes()


def _normalised(prints: Sequence[bytes]) -> np.ndarray:
    rows = np.frombuffer(b"".join(prints), np.uint8).reshape(len(prints), PRINT_BYTES)
    centred = rows.astype(np.float32) - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    out: np.ndarray = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 1e-3)
    return out


def correlations(query: bytes, prints: Sequence[bytes]) -> np.ndarray:
    """How well each of ``prints`` correlates with ``query`` (-1..1); 0 for an empty one."""
    if len(query) != PRINT_BYTES or not prints:
        return np.zeros(len(prints), np.float32)
    kept = [p if len(p) == PRINT_BYTES else bytes(PRINT_BYTES) for p in prints]
    found: np.ndarray = _normalised(kept) @ _normalised([query])[0]
    return found
