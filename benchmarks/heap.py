"""The C heap of a process that embeds: ``index`` of the same pictures with glibc's default
malloc and with ``core/common/heap.py``'s (freed blocks kept, one arena), in one run.

    python -m benchmarks.heap [--images DIR] [--count 600] [--model efficientnet_lite0]
        [--weights FILE] [--precision fp32]

Each way is ``image-finder-cli index`` into a new library, in a process of its own, timed from
start to exit; the default way replaces ``keep_freed_blocks`` with a function that does
nothing before the CLI is imported. Reported: seconds, images/s, the job's own images/s, the
processes' user and system CPU seconds (system time is the kernel zeroing pages faulted in
afresh) and the ratio. Pictures: as ``benchmarks/scale_out.py`` (openclipart, files of 300 kB
or less). For ViT-B/16 without ``--weights``, random weights (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CPU_FLAGS, publish, random_vit_weights
from benchmarks.scale_out import CLIPART, pictures

DEFAULT_HEAP = (
    "import sys, image_finder.core.common.heap as heap\n"
    "heap.keep_freed_blocks = lambda: False\n"
    "from image_finder.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
KEPT_HEAP = "import sys\nfrom image_finder.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def timed(code: str, arguments: list[str]) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *arguments, "--json"],
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"index failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "seconds": round(seconds, 1),
        "job_images_per_second": report["images_per_second"],
        "user_cpu_seconds": round(after.ru_utime - before.ru_utime, 1),
        "system_cpu_seconds": round(after.ru_stime - before.ru_stime, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=CLIPART)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    weights = args.weights
    if weights is None and args.model == "vit_base_patch16_224":
        weights = random_vit_weights()
    work = Path(tempfile.mkdtemp(prefix="heap-"))
    source = work / "pictures"
    chosen = pictures(args.images, args.count, 300_000)
    source.mkdir()
    for n, path in enumerate(chosen):
        shutil.copy(path, source / f"{n:05d}{path.suffix}")
    model = ["--model", args.model, "--precision", args.precision]
    if weights:
        model += ["--weights", weights]
    from image_finder.core.embedding import precision

    flags = " ".join(sorted(precision.cpu_flags() & CPU_FLAGS))
    result: dict[str, object] = {"pictures": len(chosen), "model": args.model, "cpu_flags": flags}
    for way, code in (("default_malloc", DEFAULT_HEAP), ("kept_blocks", KEPT_HEAP)):
        figures = timed(code, ["--data-dir", str(work / way), "index", *model, str(source)])
        for key, value in figures.items():
            result[f"{way}_{key}"] = value
        result[f"{way}_images_per_second"] = round(len(chosen) / figures["seconds"], 2)
    seconds = [float(str(result[f"{way}_seconds"])) for way in ("default_malloc", "kept_blocks")]
    result["speed_up"] = round(seconds[0] / seconds[1], 2)
    shutil.rmtree(work, ignore_errors=True)
    publish(result, f"heap-{args.model}.json")


if __name__ == "__main__":
    main()
