"""Videos: ingest speed against decoding limits, moments kept, bytes stored, and whether a
photo shown in a video is found at its time.

    python -m benchmarks.video [--quick] [--models efficientnet_lite0,vit_base_patch16_224]

The videos are slideshows of real photos (benchmarks/photos.py), each scene 2-8 s of a slow
pan over one photo, cut to the next, encoded here with PyAV:

* speed set: H.264 at 720p and 1080p, 30 fps, H.264 at 720p 60 fps, and VP9 at 720p 30 fps,
  60 s each (20 s with --quick). For each (the best of 3 runs): decoding every frame, decoding
  the keyframes alone (PyAV, the decoding limit), and this project's choice of moments (its
  decoding, the moments' pictures made); then a
  naive pipeline (every frame decoded, one a second embedded) and ``index_folders`` on the
  set, for each model, as multiples of real time (video seconds per wall-clock second);
* recall set: 30 videos of 20-30 s at 480p (10 with --quick) of Debian's openclipart
  drawings, each shown in one video only, with 24 photos planted among them (each in two
  videos at most; without openclipart-png, the photos alone, each in several videos). Each
  photo is searched (top 50, a video once at its best moment with its other moments): an
  appearance counts as found when the video is listed with a moment within 1 s of the
  scene's start (and, looser, anywhere in the scene);
* clips: 20 clips of 5-20 s (10 with --quick) cut from the recall set's videos (each
  showing at least a second of a drawing only its video has, so that the source is the one
  answer) and copied at 360p, at a low bitrate, letterboxed, with a logo or in grey: found
  when their source comes first with its start within 2 s; and the best score of any other
  video;
* the duplicates' same-video tier: those clips (trimmed copies) and whole copies of 6 of the
  videos indexed beside them: recall (each copy paired with its source) and precision (the
  tier's pairs that join a copy to its source, or two copies of one source).

Each figure beside the CPU flags; writes benchmarks/results/video[-quick].json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import photos as photo_set
from benchmarks.common import CPU_FLAGS, DATA, publish, random_vit_weights


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
    out: list[Scene] = []
    at = 0.0
    while at < seconds - 1.0:
        length = min(rng.uniform(2.0, 8.0), seconds - at)
        shown = rng.choice([p for p in pool if not out or p != out[-1].photo])  # a cut each time
        out.append(Scene(shown, at, at + length))
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


def best_of(runs: int, measure, path: Path) -> tuple[float, int]:
    """The shortest of ``runs`` timings of ``measure(path)`` (the least disturbed)."""
    return min((measure(path) for _ in range(runs)), key=lambda found: found[0])


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


def _choose_moments(path: Path) -> tuple[float, int]:
    """This project's decoding: the moments chosen, each made a picture."""
    from image_finder.core.pictures.video import moments

    started = time.perf_counter()
    kept = sum(1 for _ in moments(path))
    return time.perf_counter() - started, kept


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


def _stored_bytes(library) -> int:
    """What the moments take in the library: their rows' vectors, layouts and paths (plus 64
    bytes of row each) in SQLite, and their vectors in the flat search index; the library's
    fixed files (the words' head, the backup) are not counted."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{library.db_path}?mode=ro", uri=True)) as db:
        total, rows = db.execute(
            "SELECT SUM(LENGTH(vector) + IFNULL(LENGTH(layout), 0) + LENGTH(path) + 64),"
            " COUNT(*) FROM images"
        ).fetchone()
    return int(total or 0) + int(rows or 0) * 4 * int(library.dim or 0)


def _drawings(count: int, rng: random.Random) -> list[Path]:
    """Debian's openclipart drawings (``count`` of them, each a distinct picture), flattened on
    white into benchmarks/.data; none when the package is not installed."""
    from benchmarks.clipart import CLIPART
    from image_finder.core.pictures.images import load_image

    if not CLIPART.is_dir():
        return []
    folder = DATA / f"drawings-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    made = sorted(folder.glob("*.jpg"))
    if len(made) >= count:
        return made[:count]
    files = sorted(CLIPART.rglob("*.png"))
    for n, path in enumerate(rng.sample(files, min(len(files), 3 * count))):
        if len(made) >= count:
            break
        try:
            picture = load_image(path)
        except Exception:
            continue
        if min(picture.size) < 200:
            continue
        out = folder / f"{n:04d}.jpg"
        picture.save(out, quality=90)
        made.append(out)
    return made


def _planted(
    specs: list[Spec], photos: list[Path], drawings: list[Path], rng: random.Random
) -> list[list[Scene]]:
    """Each video's scenes: drawings none of the others shows, and one or two photos planted
    among them (each photo in two videos at most)."""
    out: list[list[Scene]] = []
    left = list(drawings)
    uses = dict.fromkeys(photos, 0)
    for spec in specs:
        scenes = _scenes(left, spec.seconds, rng)
        planted = rng.sample(range(len(scenes)), min(len(scenes), rng.choice((1, 2))))
        for n in planted:
            photo = min(photos, key=lambda p: (uses[p], rng.random()))
            uses[photo] += 1
            scenes[n] = Scene(photo, scenes[n].start, scenes[n].end)
        left = [d for d in left if d not in {s.photo for s in scenes}]
        out.append(scenes)
    return out


def build(
    folder: Path, specs: list[Spec], pool: list[Path], seed: int,
    scenes_of: list[list[Scene]] | None = None,
) -> dict[Path, list[Scene]]:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[Path, list[Scene]] = {}
    rng = random.Random(seed)
    for n, spec in enumerate(specs):
        scenes = scenes_of[n] if scenes_of else _scenes(pool, spec.seconds, rng)
        ext = ".webm" if spec.codec == "libvpx-vp9" else ".mp4"
        path = folder / f"{n:02d}-{spec.name}{ext}"
        told = path.with_suffix(".json")  # what the video shows, as it was encoded
        if path.exists() and told.exists():
            scenes = [Scene(Path(p), a, b) for p, a, b in json.loads(told.read_text())]
        else:
            encode(path, spec, scenes)
            told.write_text(json.dumps([(str(s.photo), s.start, s.end) for s in scenes]))
        made[path] = scenes
    return made


COPIES = ("360p", "low bitrate", "letterboxed", "logo", "greyscale")


def _copy(source: Path, target: Path, start: float, end: float, how: str) -> None:
    """Seconds ``start`` to ``end`` of ``source``, copied as ``how`` says, re-encoded."""
    from tests.videos import cut, greyed, letterboxed, with_logo

    changes = {"letterboxed": letterboxed, "logo": with_logo, "greyscale": greyed}
    size = {"360p": (640, 360), "letterboxed": (640, 480)}.get(how, (854, 480))
    cut(source, target, start, end, size=size, change=changes.get(how))


def _clip_recall(
    library, extractor, videos: dict[Path, list[Scene]], tmp: Path, n: int,
    made: dict[Path, Path],
) -> dict:  # fmt: skip
    """Clips of 5-20 s cut from the videos, each copied one way, searched with: found when
    their source comes first with its start within 2 s; the best score of any other video.
    ``made`` learns each clip's source."""
    from image_finder.core.search.clips import MIN_SHARE, search_clip

    rng = random.Random(3)
    found = 0
    others: list[float] = []
    took: list[float] = []
    sources = sorted(videos)
    for n_clip in range(n):
        while True:  # a stretch with a scene of its own video (not only a photo planted twice)
            source = rng.choice(sources)
            length = rng.uniform(5.0, 20.0)
            total = videos[source][-1].end
            start = rng.uniform(0.0, max(0.0, total - length))
            shown = [s for s in videos[source] if s.end > start + 1 and s.start < start + length]
            if any(s.photo.parent.name.startswith("drawings") for s in shown) or not any(
                s.photo.parent.name.startswith("drawings") for s in videos[source]
            ):
                break
        how = COPIES[n_clip % len(COPIES)]
        clip = tmp / f"clip-{n_clip}.mp4"
        _copy(source, clip, start, start + length, how)
        made[clip] = source
        started = time.perf_counter()
        outcome = search_clip(library, extractor, clip, top_k=50)
        took.append(time.perf_counter() - started)
        first = outcome.videos[0] if outcome.videos else None
        found += bool(first and first.item.path == str(source) and abs(first.start - start) <= 2)
        others += [m.score for m in outcome.videos if m.item.path != str(source)]
    return {
        "clips": n,
        "clip_copies": list(COPIES),
        "clip_recall_source_first_start_2s": round(found / n, 3),
        "clip_best_other_video_score": round(max(others, default=0.0), 3),
        "clip_listed_from_score": MIN_SHARE,
        "clip_search_seconds_median": round(sorted(took)[len(took) // 2], 2),
    }


def _same_video_tier(library, extractor, videos: list[Path], copies: dict[Path, Path]) -> dict:
    """The duplicates' same-video tier on the clips (trimmed copies) and on whole copies of
    some of the videos (360p, grey): recall, each copy paired with its source; precision,
    the pairs the tier makes that join a copy to its source or two copies of one source."""
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.search.duplicates import Tier, find_pairs

    folder = next(iter(copies)).parent
    for n, source in enumerate(videos[:6]):
        whole = folder / f"whole-{n}.mp4"
        _copy(source, whole, 0.0, 1e9, COPIES[(n * 2) % len(COPIES)])
        copies[whole] = source
    index_folders([str(folder)], library, extractor)
    started = time.perf_counter()
    pairs = find_pairs(library)
    took = time.perf_counter() - started
    first = {str(p): min(library.file_items(p), key=lambda i: i.part.at).id
             for p in [*videos, *copies]}  # fmt: skip
    origin = {first[str(p)]: str(s) for p, s in copies.items()}
    origin.update({first[str(v)]: str(v) for v in videos})
    tiered = [pair for pair, (tier, _) in pairs.found.items() if tier >= Tier.SAME_VIDEO]
    right = sum(origin.get(a) == origin.get(b) is not None for a, b in tiered)
    paired = {
        c: any({first[str(c)], first[str(s)]} == set(pair) for pair in tiered)
        for c, s in copies.items()
    }
    found = sum(paired.values())
    missed = [
        f"{c.name} ({len(library.file_items(c))} moments)" for c, ok in paired.items() if not ok
    ]
    return {
        "same_video_copies": len(copies),
        "same_video_pairs": len(tiered),
        "same_video_recall": round(found / len(copies), 3),
        "same_video_precision": round(right / len(tiered), 3) if tiered else None,
        "same_video_pairing_seconds": round(took, 2),
        "same_video_missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default="efficientnet_lite0,vit_base_patch16_224")
    args = parser.parse_args()
    quick = args.quick

    from image_finder.core.embedding import precision
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
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
        "cpu_flags": sorted(precision.cpu_flags() & CPU_FLAGS),
        "speed_videos": [p.name for p in speed],
        "speed_video_seconds": video_seconds,
    }
    ours_total = keys_total = every_total = 0.0
    kept_total = 0
    for path in speed:
        every, frames = best_of(3, decode_every_frame, path)
        keys, keyframes = best_of(3, decode_keyframes, path)
        ours, kept = best_of(3, _choose_moments, path)
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
                stored = _stored_bytes(library)
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
    rng = random.Random(2)
    drawings = _drawings(200, random.Random(5))
    if len(drawings) >= 150:  # distinct content in every video, photos planted in them
        scenes_of = _planted(recall_specs, pool[:24], drawings, rng)
        recall_set = build(DATA / f"videos-planted{tag}", recall_specs, [], 2, scenes_of)
        result["recall_set"] = "openclipart drawings, 24 photos planted (each in 2 videos at most)"
    else:  # the photos alone, each shown in several videos
        recall_set = build(DATA / f"videos-recall{tag}", recall_specs, pool[:24], seed=2)
        result["recall_set"] = "24 photos, each in several videos"
    extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="auto")
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib") as library:
        index_folders([str(next(iter(recall_set)).parent)], library, extractor)
        searcher = Searcher(library, extractor)
        appearances = strict = loose = 0
        planted = {s.photo for scenes in recall_set.values() for s in scenes} & set(pool[:24])
        for photo in sorted(planted):
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
        copies_folder = Path(tmp) / "copies"
        copies_folder.mkdir()
        made: dict[Path, Path] = {}
        clips = _clip_recall(library, extractor, recall_set, copies_folder, 10 if quick else 20,
                             made)  # fmt: skip
        tier = _same_video_tier(library, extractor, sorted(recall_set), made)
    result.update(clips)
    result.update(tier)
    result["recall_videos"] = len(recall_set)
    result["recall_appearances"] = appearances
    result["recall_at_start_1s"] = round(strict / appearances, 3)
    result["recall_within_scene"] = round(loose / appearances, 3)
    publish(result, f"video{tag}.json")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 2))
    main()
