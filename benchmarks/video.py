"""Videos: ingest speed against decoding limits, moments kept, bytes stored, and whether a
photo shown in a video is found at its time.

    python -m benchmarks.video [--quick] [--models efficientnet_lite0,vit_base_patch16_224]

The videos are slideshows of real photos (benchmarks/photos.py), each scene 2-8 s of a slow
pan over one photo, cut to the next, encoded here with PyAV:

* speed set: H.264 at 720p and 1080p, 30 fps, H.264 at 720p 60 fps, and VP9 at 720p 30 fps,
  60 s each (20 s with --quick). For each: decoding every frame, decoding the keyframes alone
  (PyAV, the decoding limit), and this project's choice of moments (its decoding); then a
  naive pipeline (every frame decoded, one a second embedded) and ``index_folders`` on the
  set, for each model, as multiples of real time (video seconds per wall-clock second);
* recall set: 30 videos of 20-30 s at 480p (10 with --quick), each photo shown in several.
  Each photo is searched (top 50, a video once at its best moment with its other moments):
  an appearance counts as found when the video is listed with a moment within 1 s of the
  scene's start (and, looser, anywhere in the scene).

Each figure beside the CPU flags; writes benchmarks/results/video[-quick].json.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import photos as photo_set
from benchmarks.common import DATA, publish, random_vit_weights


@dataclass(frozen=True)
class Spec:
    name: str
    codec: str
    size: tuple[int, int]
    fps: int
    seconds: float


@dataclass(frozen=True)
class Scene:
    photo: Path
    start: float
    end: float


def _scenes(pool: list[Path], seconds: float, rng: random.Random) -> list[Scene]:
    out, at = [], 0.0
    while at < seconds - 1.0:
        length = min(rng.uniform(2.0, 8.0), seconds - at)
        out.append(Scene(rng.choice(pool), at, at + length))
        at += length
    return out


def encode(path: Path, spec: Spec, scenes: list[Scene]) -> None:
    """Each scene a pan across its photo (scaled 15% larger than the frame), cut to the next."""
    import av

    width, height = spec.size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(spec.codec, rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if spec.codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "23"}
        else:
            stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}
        for scene in scenes:
            picture = Image.open(scene.photo).convert("RGB")
            big = np.asarray(
                picture.resize((int(width * 1.15), int(height * 1.15)), Image.Resampling.BILINEAR)
            )
            frames = max(1, round((scene.end - scene.start) * spec.fps))
            room_x, room_y = big.shape[1] - width, big.shape[0] - height
            for n in range(frames):
                x = room_x * n // max(1, frames - 1)
                y = room_y // 2
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(big[y : y + height, x : x + width]), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_every_frame(path: Path) -> tuple[float, int]:
    import av

    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count = sum(1 for _ in container.decode(stream))
    return time.perf_counter() - started, count


def decode_keyframes(path: Path) -> tuple[float, int]:
    """PyAV decoding the keyframe packets alone: the least decoding any choice can do."""
    import av

    started = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for packet in container.demux(stream):
            if packet.size and not packet.is_keyframe:
                continue
            count += len(packet.decode())
    return time.perf_counter() - started, count


def naive_one_a_second(path: Path, extractor) -> float:
    """Every frame decoded, one a second embedded, one at a time."""
    import av

    started = time.perf_counter()
    last = -1.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is not None and frame.time - last >= 1.0:
                last = frame.time
                extractor.embed_images([frame.to_image()])
    return time.perf_counter() - started


def build(folder: Path, specs: list[Spec], pool: list[Path], seed: int) -> dict[Path, list[Scene]]:
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[Path, list[Scene]] = {}
    rng = random.Random(seed)
    for n, spec in enumerate(specs):
        scenes = _scenes(pool, spec.seconds, rng)
        ext = ".webm" if spec.codec == "libvpx-vp9" else ".mp4"
        path = folder / f"{n:02d}-{spec.name}{ext}"
        if not path.exists():
            encode(path, spec, scenes)
        made[path] = scenes
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default="efficientnet_lite0,vit_base_patch16_224")
    args = parser.parse_args()
    quick = args.quick

    from image_finder.core.embedding import precision
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.pictures.video import moments
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    pool = photo_set.build(DATA / "photos-60", 60)
    length = 20.0 if quick else 60.0
    speed_specs = [
        Spec("h264-720p30", "libx264", (1280, 720), 30, length),
        Spec("h264-1080p30", "libx264", (1920, 1080), 30, length),
        Spec("h264-720p60", "libx264", (1280, 720), 60, length),
        Spec("vp9-720p30", "libvpx-vp9", (1280, 720), 30, length),
    ]
    tag = "-quick" if quick else ""
    speed = build(DATA / f"videos-speed{tag}", speed_specs, pool, seed=1)
    video_seconds = sum(s.seconds for s in speed_specs)
    result: dict[str, object] = {
        "cpu_flags": sorted(precision.cpu_flags()),
        "speed_videos": [p.name for p in speed],
        "speed_video_seconds": video_seconds,
    }
    ours_total = keys_total = every_total = 0.0
    kept_total = 0
    for path in speed:
        every, frames = decode_every_frame(path)
        keys, keyframes = decode_keyframes(path)
        started = time.perf_counter()
        kept = sum(1 for _ in moments(path))
        ours = time.perf_counter() - started
        ours_total += ours
        keys_total += keys
        every_total += every
        kept_total += kept
        result[f"{path.stem}_decode_every_frame_s"] = round(every, 2)
        result[f"{path.stem}_decode_keyframes_s"] = round(keys, 2)
        result[f"{path.stem}_moments_s"] = round(ours, 2)
        result[f"{path.stem}_frames_keyframes_moments"] = [frames, keyframes, kept]
    result["decoding_ours_vs_keyframes_only"] = round(ours_total / keys_total, 2)
    result["decoding_ours_vs_every_frame"] = round(ours_total / every_total, 3)
    result["moments_per_minute"] = round(kept_total / (video_seconds / 60), 1)

    for model in args.models.split(","):
        weights = random_vit_weights() if model == "vit_base_patch16_224" else None
        extractor = Extractor.load(model, weights=weights, device="cpu", precision="auto",
                                   allow_fallback=False)  # fmt: skip
        naive = sum(naive_one_a_second(p, extractor) for p in speed)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            with Library(Path(tmp) / "lib") as library:
                report = index_folders([str(next(iter(speed)).parent)], library, extractor)
                stored = sum(f.stat().st_size for f in (Path(tmp) / "lib").iterdir()
                             if f.is_file() and not f.name.endswith(".backup"))  # fmt: skip
            wall = time.perf_counter() - started
        short = "lite0" if "lite0" in model else "vit_b16"
        result[f"{short}_precision"] = extractor.precision
        result[f"{short}_ingest_x_real_time"] = round(video_seconds / wall, 1)
        result[f"{short}_naive_1fps_x_real_time"] = round(video_seconds / naive, 1)
        result[f"{short}_moments_indexed"] = report.embedded
        result[f"{short}_bytes_stored_per_hour"] = int(stored / (video_seconds / 3600))

    recall_specs = [
        Spec("h264-480p30", "libx264", (854, 480), 30, 20.0 + (n % 3) * 5.0)
        for n in range(10 if quick else 30)
    ]
    recall_set = build(DATA / f"videos-recall{tag}", recall_specs, pool[:24], seed=2)
    extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="auto")
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as library:
        index_folders([str(next(iter(recall_set)).parent)], library, extractor)
        searcher = Searcher(library, extractor)
        appearances = strict = loose = 0
        for photo in sorted({s.photo for scenes in recall_set.values() for s in scenes}):
            outcome = searcher.search(Query.file(str(photo)), SearchOptions(top_k=50))
            listed: dict[str, list[float]] = {}
            for r in outcome.results:
                if r.item.part is not None:
                    listed[r.path] = [m["seconds"] for m in r.moments] or [r.item.part.at]
            for path, scenes in recall_set.items():
                for scene in (s for s in scenes if s.photo == photo):
                    appearances += 1
                    times = listed.get(str(path), [])
                    strict += any(abs(t - scene.start) <= 1.0 for t in times)
                    loose += any(scene.start - 1.0 <= t <= scene.end for t in times)
    result["recall_videos"] = len(recall_set)
    result["recall_appearances"] = appearances
    result["recall_at_start_1s"] = round(strict / appearances, 3)
    result["recall_within_scene"] = round(loose / appearances, 3)
    publish(result, f"video{tag}.json")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 2))
    main()
