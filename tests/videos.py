"""Videos made for tests: slideshows of real photos (skimage's), encoded with PyAV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

SCENES = ("astronaut", "coffee", "chelsea", "rocket")


def photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def slideshow(
    path: Path,
    scenes: Sequence[str] = SCENES,
    *,
    seconds: float = 3.0,
    fps: int = 25,
    size: tuple[int, int] = (480, 270),
    codec: str = "libx264",
    rotation: int | None = None,
    turn: int = 0,
) -> Path:
    """Each scene's photo shown ``seconds`` with a slow zoom, cut to the next. ``turn``: the
    pictures are stored turned by that many degrees counter-clockwise, and ``rotation`` is the
    display rotation the file asks for (as a phone writes a portrait video)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        frames = round(seconds * fps)
        for name in scenes:
            base = photo(name).rotate(turn, expand=True) if turn else photo(name)
            for n in range(frames):
                zoom = 1 + 0.08 * n / frames
                w, h = base.size
                shown = base.crop((0, 0, int(w / zoom), int(h / zoom))).resize(size)
                for packet in stream.encode(av.VideoFrame.from_image(shown)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file with a video's name and only sound in it."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = int(44100 * seconds)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 44100)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def cut(
    source: Path,
    target: Path,
    start: float,
    end: float,
    *,
    size: tuple[int, int] = (640, 360),
    change=None,
) -> Path:
    """Seconds ``start`` to ``end`` of ``source``, each frame passed through ``change`` (a
    PIL image to a PIL image) and re-encoded at ``size`` and the source's frame rate, as a
    copy found elsewhere would be."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=src.streams.video[0].average_rate or 25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "32"}  # a low bitrate
        for frame in src.decode(src.streams.video[0]):
            if frame.time is None or not start <= frame.time < end:
                continue
            picture = frame.to_image()
            if change is not None:
                picture = change(picture)
            picture = picture.convert("RGB").resize(size)
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def letterboxed(picture: Image.Image) -> Image.Image:
    """The picture in a 4:3 frame with black bars above and below."""
    width, height = picture.size
    canvas = Image.new("RGB", (width, width * 3 // 4))
    canvas.paste(picture, (0, (canvas.height - height) // 2))
    return canvas


def greyed(picture: Image.Image) -> Image.Image:
    return picture.convert("L").convert("RGB")


def with_logo(picture: Image.Image) -> Image.Image:
    from PIL import ImageDraw

    marked = picture.copy()
    draw = ImageDraw.Draw(marked)
    w, h = marked.size
    draw.rectangle((w - w // 5, 8, w - 8, 8 + h // 8), fill=(255, 255, 255))
    draw.text((w - w // 5 + 6, 12), "TV 24", fill=(200, 0, 0))
    return marked
