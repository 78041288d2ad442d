"""Memory: the peak resident size of indexing one hour of 1080p video.

    python -m benchmarks.video_memory [--minutes 5,60]

The video is a slideshow of real photos (benchmarks/video.py: a pan over each, cut to the
next) at 1920x1080, 30 fps, H.264: a stretch of 150 s is encoded once and its packets written
again and again, times shifted, up to the length asked for (the file is a real hour of video
to its decoder; only the encoding is saved). Each measurement runs in a child process of its
own, its peak resident size (its own ``ru_maxrss``) read as it ends: the model loaded alone (the
floor), then ``index_folders`` on the video with EfficientNet-Lite0, for each length asked
(5 and 60 minutes: the peak must not grow with the length). Writes
benchmarks/results/video_memory.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import photos as photo_set
from benchmarks.common import CPU_FLAGS, DATA, publish
from benchmarks.video import Spec, _scenes, encode

STRETCH = 150.0  # seconds encoded; the rest of the hour repeats its packets

CHILD = """
import sys, time, json, resource
from image_finder.core.embedding.extractor import Extractor
extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="auto")
found = {}
if sys.argv[1] == "index":
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library
    started = time.perf_counter()
    with Library(sys.argv[3]) as library:
        report = index_folders([sys.argv[2]], library, extractor)
    found = {"moments": report.embedded, "videos": report.videos,
             "skipped": [s.reason for s in report.skipped],
             "seconds": time.perf_counter() - started}
found["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(found))
"""


def long_video(path: Path, minutes: float) -> None:
    """``minutes`` of 1080p30 H.264 (see the module's notes)."""
    import av

    if path.exists():
        return
    stretch = path.parent.parent / "stretch-1080p30.mp4"  # beside the folder indexed
    if not stretch.exists():
        pool = photo_set.build(DATA / "photos-60", 60)
        spec = Spec("h264-1080p30", "libx264", (1920, 1080), 30, STRETCH)
        encode(stretch, spec, _scenes(pool, STRETCH, random.Random(7)))
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(stretch)) as source, av.open(str(partial), "w") as target:
        inp = source.streams.video[0]
        out = target.add_stream_from_template(inp)
        packets = [p for p in source.demux(inp) if p.dts is not None]
        dts = [p.dts for p in packets]
        frame = min(b - a for a, b in itertools.pairwise(dts) if b > a)
        step = max(dts) - min(dts) + frame  # the next copy's first packet a frame after
        for n in range(max(1, round(minutes * 60 / float(step * inp.time_base)))):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                copy.pts, copy.dts = packet.pts + n * step, packet.dts + n * step
                copy.is_keyframe = packet.is_keyframe
                copy.time_base = inp.time_base
                copy.stream = out
                target.mux(copy)
    partial.rename(path)


def _child(*args: str) -> tuple[float, dict]:
    """Peak resident MiB of a child process running CHILD with ``args`` (its own
    ``ru_maxrss``, read as it ends), and what it reported."""
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["peak_kib"] / 1024, found


def main() -> None:
    from image_finder.core.embedding import precision
    from image_finder.core.pictures.video import probe

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", default="5,60", help="the lengths measured, in minutes")
    args = parser.parse_args()
    result: dict[str, object] = {"cpu_flags": sorted(precision.cpu_flags() & CPU_FLAGS)}
    floor, _ = _child("model")
    result["model_loaded_peak_rss_mib"] = round(floor)
    for minutes in sorted(float(m) for m in args.minutes.split(",")):
        folder = DATA / "video-memory" / f"{minutes:g}min"  # the video alone in its folder
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "1080p30.mp4"
        long_video(video, minutes)
        facts = probe(video)
        with tempfile.TemporaryDirectory() as tmp:
            peak, indexed = _child("index", str(folder), str(Path(tmp) / "lib"))
        tag = f"{minutes:g}min"
        result[f"{tag}_video"] = f"{facts.width}x{facts.height} {facts.codec} 30 fps, " + (
            f"{facts.duration / 60:.1f} min, {video.stat().st_size / 2**20:.0f} MB"
        )
        result[f"{tag}_indexing_peak_rss_mib"] = round(peak)
        result[f"{tag}_moments"] = indexed["moments"]
        result[f"{tag}_skipped"] = indexed["skipped"]
        result[f"{tag}_x_real_time"] = round(facts.duration / indexed["seconds"], 1)
    result["indexing_peak_rss_goal_mib"] = 1536
    publish(result, "video_memory.json")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 2))
    main()
