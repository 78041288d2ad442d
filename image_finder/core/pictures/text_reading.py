"""Text in pictures: the lines a picture says, with where they are, read with RapidOCR (ONNX
Runtime, and the PP-OCRv6 small detection and recognition models inside its wheel: nothing is
downloaded). A document page with a text layer is not read: its layer is its text
(core/pictures/documents.py).

Chosen by measurement (``python -m benchmarks.text_engines``): on degraded pages of Debian's
documentation PDFs (1,600 px, turned 1.5 degrees, blurred, JPEG 60), RapidOCR and Tesseract 5
recall about the same share of the pages' words (0.980 and 0.976 on 60 pages), RapidOCR in
half the time (2.7 s a dense page on two idle cores, against 5.5 s).

Text turned by 180 degrees is turned back by RapidOCR's own classifier; a picture whose
lines run vertically (text turned by 90 or 270 degrees) is read again turned upright. Lines
read with a confidence under ``LINE_SCORE``, of a single letter, or spanning the whole picture
are left out (what a picture seems to say is not what it says). Every failure is an
:class:`ImageLoadError`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageLoadError

if TYPE_CHECKING:
    from PIL import Image

MAX_SIDE = 1600  # px: a picture is read at most this large (a page at about 150 dpi)
LINE_SCORE = 0.8  # the recogniser's confidence under which a line is left out
BOX_SCORE = 0.5  # the detector's, under which a region is not text
UPRIGHT_SHARE = 0.5  # of the lines found running vertically: the picture is read turned
MIN_LETTERS = 2  # a line of fewer letters or digits is noise (a lone "8" in a photo's texture)
GLANCE_SIDE = 320  # px: the cheap test looks for text regions at this size
# The cheap test, measured on 15 of skimage's pictures on two cores: 20 ms a picture (a full
# read: 336 ms); it finds regions in both pictures of text and in 3 photos (coins, a retina, a
# horse: read for nothing), none in the 10 others.
WHOLE = 0.9  # a "line" this wide and this high (shares of the picture) is the picture itself


@dataclass(frozen=True)
class Line:
    text: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1, as shares of the picture (0..1)


@dataclass(frozen=True)
class TextRead:
    lines: tuple[Line, ...] = ()
    turned: int = 0  # degrees the picture was turned (counter-clockwise) to be read

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


_local = threading.local()


def _engine(glance: bool = False) -> Any:
    """This thread's recogniser (its sessions are not shared between threads); ``glance``:
    the one that only looks for text regions, small."""
    name = "glance" if glance else "engine"
    engine = getattr(_local, name, None)
    if engine is None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ImageLoadError("<text>", "reading text needs the rapidocr package") from exc
        params: dict[str, Any] = {"Global.log_level": "critical", "Global.text_score": LINE_SCORE,
                                  "Det.box_thresh": BOX_SCORE}  # fmt: skip
        if glance:
            params |= {"Det.limit_side_len": GLANCE_SIDE, "Det.limit_type": "max"}
        engine = RapidOCR(params=params)
        setattr(_local, name, engine)
    return engine


def has_text(image: Image.Image) -> bool:
    """The cheap test: whether the picture seems to hold text worth reading (regions of text
    found at GLANCE_SIDE px, nothing recognised)."""
    small = image.convert("RGB")
    if max(small.size) > 2 * GLANCE_SIDE:
        small = small.copy()
        small.thumbnail((2 * GLANCE_SIDE, 2 * GLANCE_SIDE))
    try:
        result = _engine(glance=True)(np.asarray(small), use_cls=False, use_rec=False)
    except Exception as exc:  # the engine's own errors, with their words
        raise ImageLoadError("<picture>", f"its text cannot be looked for ({exc})") from exc
    return result.boxes is not None and len(result.boxes) > 0


def _lines(image: Image.Image, flip: bool = True) -> tuple[list[Line], int]:
    """The lines read, and how many of the regions found run vertically; ``flip``: lines
    upside down turned back (off when trying quarter turns: the wrong one must read worse)."""
    width, height = image.size
    result = _engine()(np.asarray(image.convert("RGB")), use_cls=flip)
    boxes = result.boxes if result.boxes is not None else []
    texts = result.txts or ()
    scores = result.scores or ()
    lines, vertical = [], 0
    for box, text, score in zip(boxes, texts, scores, strict=False):
        xs, ys = [float(p[0]) for p in box], [float(p[1]) for p in box]
        if max(ys) - min(ys) > 2.0 * (max(xs) - min(xs)) and len(text) > 2:
            vertical += 1
        where = (min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)
        whole = where[2] - where[0] > WHOLE and where[3] - where[1] > WHOLE  # not a line
        letters = sum(c.isalnum() for c in text)
        if letters >= MIN_LETTERS and score >= LINE_SCORE and not whole:
            lines.append(Line(text.strip(), float(score), where))
    return lines, vertical


def _weight(lines: Sequence[Line]) -> float:
    """How much was read, and how surely: the letters, weighed by their lines' confidence."""
    return sum(len(line.text) * line.score for line in lines)


def read_text(image: Image.Image) -> TextRead:
    """The lines ``image`` says, top to bottom (see the module's notes)."""
    from PIL import Image as PILImage

    picture = image.convert("RGB")
    if max(picture.size) > MAX_SIDE:
        picture = picture.copy()
        picture.thumbnail((MAX_SIDE, MAX_SIDE), PILImage.Resampling.LANCZOS)
    try:
        lines, vertical = _lines(picture)
        if vertical < UPRIGHT_SHARE * max(1, len(lines)):  # none found turned: as it reads
            return TextRead(tuple(lines))
        best = TextRead(tuple(lines))
        for turn in (90, 270):  # vertical lines: text turned a quarter, one way or the other
            turned, _ = _lines(picture.rotate(turn, expand=True), flip=False)
            if _weight(turned) > _weight(best.lines):
                best = TextRead(tuple(turned), turn)
        return best
    except ImageLoadError:
        raise
    except Exception as exc:  # the engine's own errors, with their words
        raise ImageLoadError("<picture>", f"its text cannot be read ({exc})") from exc
