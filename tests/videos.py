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
