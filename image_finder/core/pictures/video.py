"""Videos as pictures: the moments worth keeping of a video file, decoded with PyAV (FFmpeg is
inside its wheels), each an upright RGB picture with its time.

Which moments (:class:`MomentRule`): the first frame always; then a frame when it differs
from the last one kept (the mean difference of their small colour thumbnails), or when
``every`` seconds passed without one; never two within ``min_gap`` seconds. So a scene is
kept once, a still camera gives a moment every ``every`` seconds, and a fast cut gives one
per scene.

How (:func:`moments`): encoders place keyframes at scene cuts and at least every few seconds,
so the keyframes alone are decoded (a small share of the decoding work), and the packets
between them only read. Only where two keyframes lie more than ``every`` seconds apart, or a
packet far larger than those before it suggests a cut the encoder did not make a keyframe
of, is the stretch after the keyframe decoded, up to the frames wanted. Times are the frames'
own (variable frame rates keep them); a rotation the file asks for (phones) is applied.

Every failure is an :class:`ImageLoadError` with a reason a user can read: an audio-only
file, an empty or damaged one, one cut short.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.records import Part

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".3gp", ".3g2", ".mts", ".m2ts",
        ".ts", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv", ".mxf", ".vob",
    }
)  # fmt: skip

THUMB = (32, 18)  # the small colour thumbnail two frames are compared by
EVERY_SLACK = 0.25  # s: a frame this much short of ``every`` after the last moment is on time
MAX_SIDE = 640  # px: a kept moment is decoded at most this large (the models need far less)


def is_video_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(name))[1].lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class MomentRule:
    """Which frames of a video are kept as its moments."""

    every: float = 10.0  # seconds: at least one moment this often
    min_gap: float = 1.0  # seconds: never two moments closer than this
    change: float = 0.10  # the mean colour difference (0..1) that makes a new moment


@dataclass(frozen=True)
class VideoFacts:
    """What a video file says of itself."""

    duration: float  # seconds (0 when the file does not say)
    width: int  # as displayed (rotation applied)
    height: int
    codec: str
    recorded: float | None  # when it was recorded (its metadata), a POSIX time


@dataclass(frozen=True)
class Moment:
    seconds: float
    image: Image.Image  # upright RGB


@dataclass
class _Kept:
    seconds: float
    thumb: np.ndarray


def _open(path: str | os.PathLike[str]) -> Any:
    import av

    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ImageLoadError(os.fspath(path), "an empty file")
    try:
        container = av.open(os.fspath(path), metadata_errors="ignore")
    except FileNotFoundError as exc:
        raise ImageLoadError(os.fspath(path), "file not found") from exc
    except PermissionError as exc:
        raise ImageLoadError(os.fspath(path), "permission denied") from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ImageLoadError(
            os.fspath(path), f"not a video that can be read ({_why(exc)})"
        ) from exc
    if not container.streams.video:
        container.close()
        raise ImageLoadError(os.fspath(path), "no video in it (an audio-only file?)")
    return container


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__


def _recorded(metadata: dict[str, str]) -> float | None:
    for key in ("creation_time", "com.apple.quicktime.creationdate", "date"):
        value = metadata.get(key)
        if not value:
            continue
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return None


def probe(path: str | os.PathLike[str]) -> VideoFacts:
    """The video's duration, displayed size, codec and recording date (no frame decoded)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        metadata = {**container.metadata, **stream.metadata}
        return VideoFacts(max(0.0, duration), width, height, stream.codec_context.name,
                          _recorded(metadata))  # fmt: skip
    finally:
        container.close()


def _duration(container: Any, stream: Any) -> float:
    """The length the file declares, in seconds (0 when it does not say)."""
    if stream.duration is not None and stream.time_base is not None:
        return max(0.0, float(stream.duration * stream.time_base))
    if container.duration is not None:
        return max(0.0, float(container.duration) / 1_000_000)
    return 0.0


_converters = threading.local()


def _scaled(frame: Any, width: int, height: int, use: str) -> np.ndarray:
    """The frame as 8-bit RGB at ``width`` x ``height``, each pixel the mean of its block
    (AREA: a fair reduction, and faster than the default bicubic). Each thread keeps a
    converter per use, so FFmpeg's scaler is set up once per video, not once per frame."""
    from av.video.reformatter import VideoReformatter

    converter = getattr(_converters, use, None)
    if converter is None:
        converter = VideoReformatter()
        setattr(_converters, use, converter)
    small = converter.reformat(frame, width=width, height=height, format="rgb24",
                               interpolation="AREA")  # fmt: skip
    return np.asarray(small.to_ndarray())


def _thumb(frame: Any) -> np.ndarray:
    return _scaled(frame, THUMB[0], THUMB[1], "thumb").astype(np.float32) / 255.0


def _picture(frame: Any) -> Image.Image:
    from PIL import Image

    scale = min(1.0, MAX_SIDE / max(frame.width, frame.height))
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    image = Image.fromarray(_scaled(frame, width, height, "picture"))
    rotation = frame.rotation  # counter-clockwise degrees the display matrix asks for
    if rotation:
        image = image.rotate(rotation, expand=True)
    upright: Image.Image = image.convert("RGB")
    return upright


class _Chooser:
    """The rule applied to frames in time order."""

    def __init__(self, rule: MomentRule) -> None:
        self.rule = rule
        self.last: _Kept | None = None

    def wants(self, seconds: float, thumb: np.ndarray, cut: bool = False) -> bool:
        """Whether the frame at ``seconds`` is a moment (``cut``: its size says it starts a
        new scene, so half the change is enough)."""
        last = self.last
        if last is None:
            return True
        gap = seconds - last.seconds
        if gap < self.rule.min_gap:
            return False
        change = self.rule.change * (CUT_CHANGE if cut else 1.0)
        regular = gap >= self.rule.every - EVERY_SLACK
        return regular or _difference(thumb, last.thumb) >= change

    def keep(self, seconds: float, thumb: np.ndarray) -> None:
        self.last = _Kept(seconds, thumb)


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))


def moments(
    path: str | os.PathLike[str],
    rule: MomentRule | None = None,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    time_limit: float | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[Moment]:
    """The video's moments in time order (see the module's notes). ``time_limit``: seconds of
    decoding allowed (a clip sent to a server); past it, ImageLoadError. The video is gone
    through once, a stretch between two keyframes at a time, so memory stays the same
    however long it is. ``start``, ``end``: a segment of it (a task of a job that spreads a
    long video): from its first keyframe at or after ``start`` to the first at or after
    ``end`` (where the next segment starts), so that segments leave no gap between them."""
    rule = rule or MomentRule()
    deadline = None if time_limit is None else time.monotonic() + time_limit
    scan = _Scan()
    chooser = _Chooser(rule)
    previous: _Candidate | None = None  # the last keyframe: its stretch is not done yet
    for key in _keyframes(path, scan, deadline, cancelled, start):
        if key.seconds < start - 1e-3:
            continue
        if previous is not None:
            yield from _stretch(path, rule, chooser, scan, previous, key, deadline, cancelled)
        if end is not None and key.seconds >= end - 1e-3:
            return  # the next segment's first keyframe
        previous = key
    if previous is None and not start:
        if cancelled():
            return
        raise ImageLoadError(
            os.fspath(path), "no frame could be decoded (an empty or damaged video)"
        )
    duration = scan.duration
    if end is None and duration and scan.last < duration - max(CUT_SHORT_SECONDS, 0.1 * duration):
        ends, length = Part.time(scan.last).label, Part.time(duration).label
        raise ImageLoadError(os.fspath(path), f"cut short: it ends at {ends} of its {length}")
    if previous is None:
        return  # a segment with no keyframe of its own: the one before took it to the end
    end = max(previous.seconds, duration, scan.last)
    yield from _stretch(path, rule, chooser, scan, previous, end, deadline, cancelled)


CUT_SIZE = 3.0  # a frame's packet this many times the largest recent one: likely a cut
CUT_CHANGE = 0.5  # the share of the rule's change a likely cut needs
CUT_MIN_BYTES = 2048
CUT_SHORT_SECONDS = 2.0  # a file ending this long before the length it declares is cut short


class _Scan:
    """What the keyframe pass learns without decoding more: every keyframe's time, and the
    frames between them whose packets are far larger than those around them (a cut the
    encoder did not make a keyframe of: most VP9 and AV1 encodes, for example)."""

    def __init__(self) -> None:
        self.keyframes: list[float] = []
        self.cuts: list[float] = []
        self.last = 0.0  # the time of the last packet (where the file really ends)
        self.duration = 0.0  # the length the file declares
        self._recent: list[int] = []
        self._base: tuple[Any, float] | None = None  # the time base, and it as a float

    def packet(self, packet: Any) -> None:
        when = packet.pts if packet.pts is not None else packet.dts
        base = packet.time_base
        if when is None or base is None:
            return
        if self._base is None or self._base[0] is not base:  # a Fraction's arithmetic is slow
            self._base = (base, float(base))
        seconds = when * self._base[1]
        self.last = max(self.last, seconds)
        if packet.is_keyframe:
            return
        recent, size = self._recent, packet.size
        if len(recent) >= 8 and size >= CUT_MIN_BYTES and size > CUT_SIZE * max(recent):
            self.cuts.append(seconds)
        recent.append(size)
        if len(recent) > 30:
            del recent[0]

    def wanted(self, start: float, end: float, every: float) -> tuple[list[float], set[float]]:
        """The times after the keyframe at ``start`` and before ``end`` (the next keyframe)
        where frames are wanted: each likely cut, and, when the two are more than ``every``
        seconds apart, every ``every`` seconds; and which of them are cuts."""
        cuts = {c for c in self.cuts if start < c < end}
        times = set(cuts)
        if end - start > every:
            times.update(start + every * k for k in range(1, int((end - start) / every) + 1))
        return sorted(times), cuts


@dataclass
class _Candidate:
    seconds: float
    thumb: np.ndarray
    frame: Any  # the decoded frame: made a picture only when the rule keeps it
    cut: bool = False  # a frame its packet's size marked as a likely cut

    def moment(self) -> Moment:
        return Moment(self.seconds, _picture(self.frame))


def _check(path: str | os.PathLike[str], deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ImageLoadError(os.fspath(path), "decoding it took too long")


def _keyframes(
    path: str | os.PathLike[str],
    scan: _Scan,
    deadline: float | None,
    cancelled: Callable[[], bool],
    start: float = 0.0,
) -> Iterator[_Candidate]:
    """Every keyframe in time order (from the last at or before ``start``), each decoded
    alone (its packets only, the decoder told to skip the rest); ``scan`` learns, as it
    goes, where the packets between them suggest a cut."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        stream.thread_type = "AUTO"
        scan.duration = _duration(container, stream)
        if start > 0 and stream.time_base:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        for packet in container.demux(stream):
            if cancelled():
                return
            _check(path, deadline)
            scan.packet(packet)
            if packet.size and not packet.is_keyframe:
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                if scan.keyframes:
                    raise ImageLoadError(
                        os.fspath(path), f"damaged or cut short ({_why(exc)})"
                    ) from exc
                raise ImageLoadError(
                    os.fspath(path), f"no frame could be decoded ({_why(exc)})"
                ) from exc
            for frame in frames:
                seconds = float(frame.time or 0.0)
                scan.keyframes.append(seconds)
                yield _Candidate(seconds, _thumb(frame), frame)
    except av.error.FFmpegError as exc:
        raise ImageLoadError(os.fspath(path), f"damaged or cut short ({_why(exc)})") from exc
    finally:
        container.close()


def _stretch(
    path: str | os.PathLike[str],
    rule: MomentRule,
    chooser: _Chooser,
    scan: _Scan,
    key: _Candidate,
    end: _Candidate | float,
    deadline: float | None,
    cancelled: Callable[[], bool],
) -> Iterator[Moment]:
    """The moments from the keyframe ``key`` to ``end`` (the next keyframe, or the end's
    time): the keyframe, and the frames wanted between (decoded from it), the rule applied
    to them in time order. The scene that starts at the stretch's last cut runs on to the
    next keyframe, which shows it: that keyframe's picture stands for it, at the cut's time,
    with nothing decoded (most VP9 and AV1 cuts)."""
    until = end.seconds if isinstance(end, _Candidate) else end
    times, cuts = scan.wanted(key.seconds, until, rule.every)
    found = [key]
    if cuts and isinstance(end, _Candidate):
        last = max(cuts)
        found.append(_Candidate(last, end.thumb, end.frame, cut=True))
        times = [t for t in times if t != last]
    if times:
        found += _frames_at(path, key.seconds, times, cuts, deadline, cancelled)
    for candidate in sorted(found, key=lambda c: c.seconds):
        if chooser.wants(candidate.seconds, candidate.thumb, candidate.cut):
            chooser.keep(candidate.seconds, candidate.thumb)
            yield candidate.moment()


def _frames_at(
    path: str | os.PathLike[str],
    start: float,
    times: list[float],
    cuts: set[float],
    deadline: float | None,
    cancelled: Callable[[], bool],
) -> Iterator[_Candidate]:
    """The first frame at or after each of ``times`` (those in ``cuts`` likely cuts),
    decoding from the keyframe at ``start`` and no further than the last of them."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        container.seek(int(start / base) if base else 0, stream=stream, backward=True)
        left = list(times)
        for frame in container.decode(stream):
            if cancelled() or not left:
                return
            _check(path, deadline)
            seconds = float(frame.time or 0.0)
            if seconds + 1e-3 < left[0]:
                continue
            cut = False
            while left and left[0] <= seconds + 1e-3:
                cut = cut or left.pop(0) in cuts
            yield _Candidate(seconds, _thumb(frame), frame, cut)
    except av.error.FFmpegError as exc:
        log.info("%s: decoding stopped after %.1f s (%s)", path, start, _why(exc))
    finally:
        container.close()


def frame_at(path: str | os.PathLike[str], seconds: float) -> Image.Image:
    """The picture shown at ``seconds`` (a moment's thumbnail): the nearest frame from there."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        base = stream.time_base
        container.seek(int(seconds / base) if base else 0, stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
            if float(frame.time or 0.0) >= seconds - 1e-3:
                break
        if last is None:
            raise ImageLoadError(os.fspath(path), "no frame could be decoded at that time")
        return _picture(last)
    except av.error.FFmpegError as exc:
        raise ImageLoadError(os.fspath(path), f"damaged or cut short ({_why(exc)})") from exc
    finally:
        container.close()


def frames_every(
    path: str | os.PathLike[str],
    every: float = 1.0,
    max_side: int | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[int, float, Image.Image]]:
    """(frame number, time, picture) of the first frame at or after each ``every`` seconds,
    decoding the whole video (as vPDQ samples it), each picture at most ``max_side``
    pixels (None: as stored). Raises ImageLoadError for a file that is no video; a video
    damaged part-way gives the frames before the damage."""
    import av
    from PIL import Image

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        due = 0.0
        for number, frame in enumerate(container.decode(stream)):
            if cancelled():
                return
            seconds = float(frame.time or 0.0)
            if seconds + 1e-3 < due:
                continue
            due = (int(seconds / every + 1e-6) + 1) * every
            scale = min(1.0, (max_side or frame.width) / max(frame.width, frame.height))
            width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
            picture = Image.fromarray(_scaled(frame, width, height, "sample"))
            if frame.rotation:
                picture = picture.rotate(frame.rotation, expand=True)
            yield number, seconds, picture
    except av.error.FFmpegError as exc:
        log.info("%s: decoding stopped (%s)", path, _why(exc))
    finally:
        container.close()
