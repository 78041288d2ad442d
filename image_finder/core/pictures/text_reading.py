"""Text in pictures: the lines a picture says, with where they are, read with RapidOCR (ONNX
Runtime, and the PP-OCRv6 small detection and recognition models inside its wheel: nothing is
downloaded). A document page with a text layer is not read: its layer is its text
(core/pictures/documents.py).

Chosen over Tesseract 5 by measurement (``python -m benchmarks.text``, docs/performance.md):
on degraded pages of Debian's documentation PDFs it recalls as many of the pages' words or
more, in half the time.

Text turned by 180 degrees is turned back by RapidOCR's own classifier (its lines then come
in reading order, bottom of the picture first); a picture whose lines run vertically (text
turned by 90 or 270 degrees) is read again turned upright, its lines' places given back on the
picture as it is. A picture is read for at most ``TIME_LIMIT`` seconds: its regions of text
are recognised in chunks, and those left when the time is up stay unread (``TextRead.cut``;
a dense page takes a few seconds). Lines
read with a confidence under ``LINE_SCORE``, of a single letter, or spanning the whole picture
are left out (what a picture seems to say is not what it says). Every failure is an
:class:`ImageLoadError`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
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
PAGE_GLANCE_SIDE = 800  # px: and at this size on a page, a screen or a slide (small text)
FLAT = 0.4  # share of a picture in its commonest of 16 grey levels: a page, a screen, a slide
# The cheap test (benchmarks/text.py measures what passes): the text of a dense page (a 4 px
# line at 320 px) is found only at 640 px, a screenshot's 14 px text at 800 px; a photo is
# looked at 320 px, a picture mostly of one flat shade (a page, a screen) at 800 px.
WHOLE = 0.9  # a "line" this wide and this high (shares of the picture) is the picture itself
TIME_LIMIT = 30.0  # seconds a picture may take to be read (a dense page: about 3 s)
CHUNK = 24  # regions of text recognised between two looks at the clock


@dataclass(frozen=True)
class Line:
    text: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1, as shares of the picture (0..1)


@dataclass(frozen=True)
class TextRead:
    lines: tuple[Line, ...] = ()
    turned: int = 0  # degrees its text is turned (counter-clockwise) from upright
    cut: bool = False  # the time limit left regions of text unread

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class _Clock(threading.local):
    """This thread's read in flight: its deadline, and what the classifier said of it."""

    deadline = float("inf")
    cut = False
    regions = 0  # regions of text the classifier looked at
    upside_down = 0  # of those, the ones it found turned by 180 degrees


_local = threading.local()
_clock = _Clock()


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
            params |= {"Det.limit_side_len": PAGE_GLANCE_SIDE, "Det.limit_type": "max"}
        engine = RapidOCR(params=params)
        if not glance:
            _watch(engine)
        setattr(_local, name, engine)
    return engine


def _watch(engine: Any) -> None:
    """Recognition stopped at this thread's deadline (the regions left get no text, which
    RapidOCR drops) and the classifier's verdicts counted: RapidOCR 3's steps, wrapped on this
    instance; an engine without them reads whole pictures, unlimited."""
    recognise = getattr(engine, "recognize_txt", None)
    classify = getattr(engine, "cls_and_rotate", None)
    if recognise is None or classify is None:  # pragma: no cover - pinned below 4
        return

    def recognise_until(crops: list[Any]) -> Any:
        texts: list[str] = []
        scores: list[float] = []
        words: list[Any] = []
        first = None
        for start in range(0, len(crops), CHUNK):
            if time.monotonic() > _clock.deadline:
                _clock.cut = True
                break
            part = recognise(crops[start : start + CHUNK])
            first = part if first is None else first
            texts += part.txts
            scores += list(part.scores)
            words += list(part.word_results)
        if first is None:
            from rapidocr.ch_ppocr_rec import TextRecOutput

            first = TextRecOutput()
        missing = len(crops) - len(texts)
        return dataclasses.replace(first, imgs=crops, txts=(*texts, *[""] * missing),
                                   scores=scores + [0.0] * missing,
                                   word_results=(*words, *[()] * missing))  # fmt: skip

    def classify_counting(crops: list[Any]) -> Any:
        turned, verdicts = classify(crops)
        labels = [str(label) for label, _ in verdicts.cls_res or ()]
        _clock.regions += len(labels)
        _clock.upside_down += sum(label == "180" for label in labels)
        return turned, verdicts

    engine.recognize_txt = recognise_until
    engine.cls_and_rotate = classify_counting


def has_text(image: Image.Image) -> bool:
    """The cheap test: whether the picture seems to hold text worth reading (regions of text
    found, nothing recognised, at GLANCE_SIDE px, or PAGE_GLANCE_SIDE px where the picture is
    mostly one flat shade, as pages, screens and slides are)."""
    from PIL import Image as PILImage

    grey = image.convert("L")
    grey.thumbnail((128, 128), PILImage.Resampling.NEAREST)
    shades = np.bincount(np.asarray(grey).ravel() // 16, minlength=16)
    side = PAGE_GLANCE_SIDE if shades.max() >= FLAT * shades.sum() else GLANCE_SIDE
    small = image.convert("RGB")
    if max(small.size) > side:
        small = small.copy()
        small.thumbnail((side, side))
    try:
        result = _engine(glance=True)(np.asarray(small), use_cls=False, use_rec=False)
    except Exception as exc:  # the engine's own errors, with their words
        raise ImageLoadError("<picture>", f"its text cannot be looked for ({exc})") from exc
    return result.boxes is not None and len(result.boxes) > 0


def _lines(image: Image.Image, flip: bool = True) -> tuple[list[Line], int]:
    """The lines read, and how many of the regions found run vertically; ``flip``: lines
    upside down turned back (off when trying quarter turns: the wrong one must read worse)."""
    width, height = image.size
    _clock.regions = _clock.upside_down = 0
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


def _back(line: Line, turn: int) -> Line:
    """``line`` read on the picture turned by ``turn`` degrees, placed on the picture."""
    u0, v0, u1, v1 = line.box
    box = (1 - v1, u0, 1 - v0, u1) if turn == 90 else (v0, 1 - u1, v1, 1 - u0)
    return dataclasses.replace(line, box=box)


def read_text(image: Image.Image, limit: float = TIME_LIMIT) -> TextRead:
    """The lines ``image`` says, in reading order, read for at most ``limit`` seconds (see
    the module's notes)."""
    from PIL import Image as PILImage

    picture = image.convert("RGB")
    if max(picture.size) > MAX_SIDE:
        picture = picture.copy()
        picture.thumbnail((MAX_SIDE, MAX_SIDE), PILImage.Resampling.LANCZOS)
    _clock.deadline, _clock.cut = time.monotonic() + limit, False
    try:
        lines, vertical = _lines(picture)
        if vertical < UPRIGHT_SHARE * max(1, len(lines)):  # none found turned: as it reads
            if _clock.upside_down > UPRIGHT_SHARE * max(1, _clock.regions):
                return TextRead(tuple(reversed(lines)), 180, _clock.cut)
            return TextRead(tuple(lines), cut=_clock.cut)
        # Vertical lines: the text is turned a quarter, one way or the other. RapidOCR reads
        # such lines as they are, but in no order: the picture is read again turned upright,
        # each way, and the way that reads more wins (the wrong one reads upside down).
        best, weight = TextRead(tuple(lines)), 0.0
        for turn in (90, 270):
            if time.monotonic() > _clock.deadline:
                _clock.cut = True
                break
            turned, _ = _lines(picture.rotate(turn, expand=True), flip=False)
            if _weight(turned) > weight:
                best = TextRead(tuple(_back(line, turn) for line in turned), (360 - turn) % 360)
                weight = _weight(turned)
        return dataclasses.replace(best, cut=_clock.cut)
    except ImageLoadError:
        raise
    except Exception as exc:  # the engine's own errors, with their words
        raise ImageLoadError("<picture>", f"its text cannot be read ({exc})") from exc
    finally:
        _clock.deadline = float("inf")
