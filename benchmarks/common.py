"""What the benchmarks share: where data sets and results go, the CPU flags a figure is
reported with, the table-and-JSON output, and random ViT-B/16 weights (speed does not depend
on them)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CPU_FLAGS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"})
DATA = Path(__file__).parent / ".data"


def publish(result: dict, filename: str) -> None:
    """Print ``result`` as a two-column table and write it to benchmarks/results/FILENAME."""
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / filename
    out.write_text(json.dumps(result, indent=2))
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
