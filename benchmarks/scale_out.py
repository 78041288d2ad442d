"""Ingest the same pictures three ways, in one run: ``index`` into a library, ``index --store
milvus-lite:… --ray`` (a local Ray), and the same against a ``milvus-lite server`` on
127.0.0.1.

    python -m benchmarks.scale_out [--images DIR] [--count 2000] [--model efficientnet_lite0]

Pictures: the first COUNT files under DIR by the product's own image rule (default: Debian's
openclipart-png, its files of 300 kB or less so that a few 170-megapixel drawings do not decide
the figure). Each way runs in a process of its own, timed from start to exit (model load and
Ray start included), and the images/s of each are reported with the ratio to ``index``. Goal:
the Ray path within 1.3x of plain ``index`` on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.index_throughput import CPU_FLAGS, publish

CLIPART = Path("/usr/share/openclipart/png")


def pictures(folder: Path, count: int, max_bytes: int) -> list[Path]:
    from image_finder.core.pictures.images import is_image_name

    found = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name)
                   and p.stat().st_size <= max_bytes)  # fmt: skip
    return found[:count]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=CLIPART)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--max-bytes", type=int, default=300_000)
    parser.add_argument("--model", default="efficientnet_lite0")
    args = parser.parse_args()

    from image_finder.core.embedding import precision

    work = Path(tempfile.mkdtemp(prefix="scale-out-"))
    source = work / "pictures"
    chosen = pictures(args.images, args.count, args.max_bytes)
    for n, path in enumerate(chosen):
        target = source / f"{n // 500:03d}" / f"{n:05d}{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    cli = [sys.executable, "-m", "image_finder.cli"]
    model = ["--model", args.model]
    seconds = {
        "index": timed([*cli, "--data-dir", str(work / "lib"), "index", *model, str(source)]),
        "ray_milvus_lite_file": timed(
            [*cli, "index", "--store", f"milvus-lite:{work}/c.db", "--ray", *model, str(source)]
        ),
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "milvus-lite"), "server", "--data-dir",
         str(work / "milvus"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            time.sleep(0.2)
        seconds["ray_milvus_lite_server"] = timed(
            [*cli, "index", "--store", f"milvus://127.0.0.1:{port}/bench", "--ray", *model,
             str(source)]
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    n = len(chosen)
    result: dict[str, object] = {
        "cpu_cores": os.cpu_count(),
        "cpu_flags": " ".join(sorted(precision.cpu_flags() & CPU_FLAGS)),
        "model": args.model,
        "pictures": n,
    }
    for way, s in seconds.items():
        result[f"{way}_seconds"] = round(s, 1)
        result[f"{way}_images_per_second"] = round(n / s, 2)
    for way in ("ray_milvus_lite_file", "ray_milvus_lite_server"):
        result[f"{way}_slowdown_vs_index"] = round(seconds[way] / seconds["index"], 2)
    result["goal_slowdown"] = 1.3
    print(json.dumps(result))
    publish(result, "scale-out.json")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
