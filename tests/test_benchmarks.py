"""Every benchmark runs in quick mode and writes well-formed results (targets are not checked
here: they are measured by hand, on an idle machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "results"

SCRIPTS = {
    "index_throughput": (
        "index_throughput-efficientnet_lite0-auto-quick.json",
        {"model_only_fp32_images_per_second", "precision_used", "ratio_to_fp32_model_only"},
    ),
    "index_search": ("index_search-quick.json", {"results"}),
    "watch_latency": (
        "watch_latency-efficientnet_lite0-quick.json",
        {"copy_to_searchable_p50_s", "bulk_jobs", "rename_embedded"},
    ),
    "duplicates": ("duplicates-quick.json", {"identical", "same_picture", "group_seconds"}),
    "quality": ("quality-quick.json", {"models", "notes"}),
    "query_latency": (
        "query_latency-quick.json",
        {"drop_to_grid_ms_p50", "baseline_embed_only_ms_p50"},
    ),
    "ui_responsiveness": (
        "ui_responsiveness-quick.json",
        {"indexing_max_gap_ms", "idle_max_gap_ms"},
    ),
    "words": ("words-quick.json", {"fashion_mnist", "openclipart", "latency"}),
    "server": (
        "server-efficientnet_lite0-quick.json",
        {"http_overhead_ms_p50", "ratio_16_to_1", "answered_429", "server_answers_after"},
    ),
    "conditions": (
        "conditions-quick.json",
        {"filter_1%_recall_at_10", "filter_50%_latency_ratio", "not_like_this_ms_p50"},
    ),
    "examples": ("examples-fashion-quick.json", {"default", "default_gain_3_examples_over_1"}),
    "learn": ("learn-fashion-quick.json", {"10 examples · concept"}),
    "video": (
        "video-quick.json",
        {
            "lite0_ingest_x_real_time",
            "decoding_ours_vs_keyframes_only",
            "recall_at_start_1s",
            "clip_recall_source_first_start_2s",
        },
    ),
    "text": ("text-quick.json", {"cheap_test_passed_share", "efficientnet_lite0"}),
    "banks": ("banks-quick.json", {"copies", "lookups", "indexing"}),
    "documents": (
        "documents-quick.json",
        {"page_first", "ours_against_pdftoppm", "dicom_decoded", "slices_per_second_explicit"},
    ),
}
FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
NEEDS = {
    "words": Path("/usr/share/openclipart/png"),  # Debian's openclipart-png
    "examples": FASHION,
    "learn": FASHION,
    "documents": Path("/usr/share/doc/gnuplot/gnuplot.pdf"),  # Debian's gnuplot-doc (and more)
    "text": Path("/usr/share/doc/gnuplot/gnuplot.pdf"),  # its pages
    "banks": Path("/usr/share/openclipart/png"),  # unrelated pictures
}


# the quick runs of a minute or so (and the longest of the others) are load tests
# (pytest -m load): CI keeps its time
LONG = {
    "conditions",
    "duplicates",
    "index_throughput",
    "index_search",
    "quality",
    "server",
    "watch_latency",
    "video",
    "query_latency",
    "ui_responsiveness",
    "learn",
    "documents",
    "text",
    "banks",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "script", [pytest.param(s, marks=pytest.mark.load) if s in LONG else s for s in sorted(SCRIPTS)]
)
def test_benchmark_runs_in_quick_mode(script):
    out_name, keys = SCRIPTS[script]
    if script in NEEDS and not NEEDS[script].exists():
        pytest.skip(f"needs {NEEDS[script]}")
    out = RESULTS / out_name
    before = out.stat().st_mtime if out.exists() else 0
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert out.stat().st_mtime > before
    data = json.loads(out.read_text())
    assert keys <= set(data)
    assert result.stdout.strip()  # a table was printed


def test_benchmark_photo_lists_follow_the_products_image_rule(tmp_path):
    from PIL import Image

    from benchmarks.photos import image_files

    for name in ("IMG_0001.JPEG", "b.png", "c.Jpg", ".hidden.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / name, format="PNG" if "png" in name else "JPEG")
    (tmp_path / "notes.txt").write_text("no picture")
    assert [p.name for p in image_files(tmp_path)] == ["IMG_0001.JPEG", "b.png", "c.Jpg"]
    with pytest.raises(SystemExit, match="no pictures"):
        image_files(tmp_path / "empty")
