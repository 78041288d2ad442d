"""What the benchmarks share: where data sets and results go, the CPU flags a figure is
reported with, the table-and-JSON output, and random ViT-B/16 weights (speed does not depend
on them)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CPU_FLAGS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"})
DATA = Path(__file__).parent / ".data"


def machine() -> dict[str, object]:
    """Where and when a figure was measured: the date, the CPU and the flags that matter to
    the model's speed, the commit, and the command."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": model,
        "cores": cores,
        "cpu_flags": sorted(flags & CPU_FLAGS | flags & {"fma", "avx", "f16c", "amx_int8"}),
        "commit": commit or "unknown",
        "command": " ".join(["python -m", _module(), *sys.argv[1:]]),
    }


def _module() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def publish(result: dict, filename: str) -> None:
    """Print ``result`` as a two-column table and write it, with the machine it was measured
    on (``machine``), to benchmarks/results/FILENAME."""
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / filename
    out.write_text(json.dumps({**result, "machine": machine()}, indent=2))
    print(f"wrote {out}")


def random_vit_weights() -> str:
    import timm
    import torch

    path = DATA / "vit_base_patch16_224-random.pth"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(timm.create_model("vit_base_patch16_224").state_dict(), path)
    return str(path)
