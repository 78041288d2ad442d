"""vPDQ, Meta's video hash: the PDQ hash (core/pictures/pdq.py) of one frame a second, with
each frame's number, quality and time.

Two videos match as vPDQ says (ThreatExchange's ``vpdq`` and HMA's matcher): of each one's
frames of quality ≥ ``MIN_QUALITY``, duplicates left out, the share within ``MATCH_DISTANCE``
bits of a frame of the other. The video checked (the *query*) matches a known one when at
least ``QUERY_PERCENT`` of its frames are found in it; the share of the known video's frames
found (``compared``) is reported too, and a bank may ask for a minimum of it.

Frames are hashed as stored, at the video's own size, as the reference does, so that hash
files made by other tools match ours. (A frame hashed at another size is some bits off: a
copy resized to half moves each frame's hash by 8 to 28 bits. benchmarks/banks.py measures
what that does to recall.)

Hash files: ``FRAME,QUALITY,HASH,SECONDS`` lines (the reference's ``vpdq`` tool writes
them), also read in the order of its Python binding's example (``FRAME,HASH,QUALITY,
SECONDS``) and as HMA's JSON list of ``"HASH,QUALITY,SECONDS"`` strings.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.core.pictures.pdq import BYTES, MATCH_DISTANCE, MIN_QUALITY, Pdq, pdq_of

SECONDS_PER_HASH = 1.0
QUERY_PERCENT = 80.0
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Frame:
    """One sampled frame of a video: its number, time and PDQ hash."""

    number: int
    seconds: float
    pdq: Pdq

    def line(self) -> str:
        """As the reference's hash files write it."""
        return f"{self.number},{self.pdq.quality},{self.pdq.hex},{self.seconds:.3f}"


def video_hash(
    path: str | os.PathLike[str],
    every: float = SECONDS_PER_HASH,
    cancelled: Callable[[], bool] = lambda: False,
) -> list[Frame]:
    """The vPDQ hash of the video at ``path`` (a frame every ``every`` seconds). Raises
    ImageLoadError for a file that is no video, or one with no frame that could be hashed."""
    from image_finder.core.pictures.video import frames_every

    frames = []
    for number, seconds, picture in frames_every(path, every, cancelled=cancelled):
        try:
            frames.append(Frame(number, seconds, pdq_of(picture)))
        except ImageLoadError:
            continue
    if not frames:
        raise ImageLoadError(os.fspath(path), "no frame of it could be hashed")
    return frames


def parse(text: str, name: str = "the hash file") -> list[Frame]:
    """The frames of a vPDQ hash file's text; raises ImageFinderError naming the line that
    is not one."""
    stripped = text.strip()
    if stripped.startswith("["):  # HMA's serialisation
        try:
            lines = [str(s) for s in json.loads(stripped)]
        except ValueError as exc:
            raise ImageFinderError(f"{name}: not a JSON list of vPDQ frames ({exc})") from exc
        return [_frame(n, [str(n - 1), *s.split(",")], name, hma=True)
                for n, s in enumerate(lines, start=1)]  # fmt: skip
    frames = []
    for number, line in enumerate(stripped.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            frames.append(_frame(number, line.split(","), name))
    if not frames:
        raise ImageFinderError(f"{name}: no vPDQ frame in it")
    return frames


def _frame(number: int, fields: list[str], name: str, hma: bool = False) -> Frame:
    fields = [f.strip() for f in fields]
    where = f"{name}, {'item' if hma else 'line'} {number}"
    if len(fields) != 4:
        raise ImageFinderError(f"{where}: a vPDQ frame is FRAME,QUALITY,HASH,SECONDS")
    hashed = 1 if hma or _HEX.match(fields[1]) else 2
    if not _HEX.match(fields[hashed]):
        raise ImageFinderError(f"{where}: no PDQ hash (64 hexadecimal digits) in it")
    quality = fields[2] if hashed == 1 else fields[1]
    try:
        return Frame(int(fields[0]), float(fields[3]),
                     Pdq(bytes.fromhex(fields[hashed]), int(quality)))  # fmt: skip
    except ValueError:
        raise ImageFinderError(f"{where}: a frame number, quality or time is no number") from None


def is_hash_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` looks like a vPDQ hash file (its first line, a JSON list
    or four fields with a hash among them), not a list of photos' hashes."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            first = next((line.strip() for line in handle if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    fields = [f.strip() for f in first.split(",")]
    return first.startswith("[") or (
        len(fields) == 4 and fields[0].isdigit() and any(_HEX.match(f) for f in fields[1:3])
    )


def write(frames: Sequence[Frame]) -> str:
    """The frames as a hash file (the reference's lines)."""
    return "".join(f.line() + "\n" for f in frames)


def to_blob(frames: Sequence[Frame]) -> bytes:
    """As a bank keeps a video: each frame's hash, then its quality."""
    return b"".join(f.pdq.to_blob() for f in frames)


def from_blob(blob: bytes) -> list[Frame]:
    size = BYTES + 1
    return [Frame(n, float(n), Pdq.from_blob(blob[n * size : (n + 1) * size]))
            for n in range(len(blob) // size)]  # fmt: skip


def _bits(frames: Sequence[Frame], min_quality: int) -> np.ndarray:
    """The distinct hashes of the frames good enough to match, as rows of 256 0/1 floats."""
    kept = list(dict.fromkeys(f.pdq.hash for f in frames if f.pdq.quality >= min_quality))
    if not kept:
        return np.zeros((0, 8 * BYTES), np.float32)
    packed = np.frombuffer(b"".join(kept), np.uint8).reshape(-1, BYTES)
    return np.unpackbits(packed, axis=1).astype(np.float32)


@dataclass(frozen=True)
class Comparison:
    """How much of two videos' frames are found in the other, in percent."""

    query_percent: float
    compared_percent: float


def compare(
    query: Sequence[Frame],
    compared: Sequence[Frame],
    distance: int = MATCH_DISTANCE,
    min_quality: int = MIN_QUALITY,
) -> Comparison:
    """The share of each video's good, distinct frames within ``distance`` bits of one of the
    other's (vPDQ's brute-force matcher)."""
    a, b = _bits(query, min_quality), _bits(compared, min_quality)
    if not len(a) or not len(b):
        return Comparison(0.0, 0.0)
    # Hamming distance of 0/1 rows: ones in a + ones in b - twice the ones they share
    near = (a.sum(1)[:, None] + b.sum(1)[None, :] - 2.0 * (a @ b.T)) <= distance + 0.5
    return Comparison(100.0 * near.any(1).mean(), 100.0 * near.any(0).mean())
