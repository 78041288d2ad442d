"""Drop-to-results latency in the window, with the model warm and a 100,000-image library.

    python -m benchmarks.query_latency [--size 100000] [--queries 20]
        [--model vit_base_patch16_224] [--weights FILE] [--precision auto] [--quick]

The library holds ``--size`` items whose vectors are synthetic (768-d for ViT-B/16) and whose
files are links to real photos, so thumbnails load for real. Each query is a simulated drop of a
real photo on the drop zone; the time runs from the drop event to the results being in the grid
model (thumbnails then fill in; the time until the last one is shown is reported too).
Baseline, measured in the same run: embedding the query image alone (decode + model).
ViT-B/16 without a weights file uses random weights (timing does not depend on them).

With ``--precision auto`` the library first gets the precision check an indexing run would do,
on real photos, so queries run at the precision ``auto`` picks. The same drops are then repeated
with the query variants on (``rotations``: 8 orientations; ``rotations`` and ``crops``: 16),
each set embedded in one forward pass; their latency is given as a ratio to a plain query's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import photos as photo_set
from benchmarks.common import CPU_FLAGS, DATA, publish, random_vit_weights
from benchmarks.window import open_window, wait_until


def build_library(folder: Path, size: int, photos: list[Path], model: str, dim: int) -> None:
    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.stores.library import Library

    files = folder / "files"
    files.mkdir()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    with Library(folder / "library") as library, library.writing():
        info = library.add_folder(files)
        chunk = 2000
        for start in range(0, size, chunk):
            rows = []
            for i in range(start, min(size, start + chunk)):
                source = photos[i % len(photos)]
                link = files / f"{i:06d}-{source.name}"
                os.symlink(source, link)
                st = os.stat(link)
                rows.append(
                    NewImage(info.id, str(link), FileFacts(st.st_size, st.st_mtime_ns, f"h{i}"))
                )
            vectors = centres[rng.integers(0, len(centres), len(rows))] + 0.5 * rng.normal(
                size=(len(rows), dim)
            ).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            library.apply_changes(model=model, added=rows, added_vectors=vectors)
        library.vector_index.optimize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--model", default="vit_base_patch16_224")
    parser.add_argument("--weights")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.size, args.queries = min(args.size, 2000), min(args.queries, 5)
    if "DISPLAY" not in os.environ:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication

    from image_finder.core.config.settings import Settings
    from image_finder.core.embedding import precision
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.embedding.models import MODELS
    from image_finder.core.stores.library import Library
    from image_finder.ui.controller import ModelState

    photos = photo_set.build(DATA / "photos-300", 300)
    weights = args.weights or (random_vit_weights() if args.model == "vit_base_patch16_224" else "")
    dim = MODELS[args.model].dim
    _app = QApplication.instance() or QApplication([])  # kept alive for the whole run
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        build_library(root, args.size, photos, args.model, dim)
        print(f"library of {args.size:,} items built in {time.perf_counter() - started:.1f} s")
        if args.precision == "auto":  # what the first indexing run of these photos would do
            checker = Extractor.load(args.model, weights=weights or None, device=args.device)
            tensors = [checker.load_and_preprocess(p) for p in photos[: precision.CHECK_IMAGES]]
            with Library(root / "library") as library, library.writing():
                precision.check_and_record(checker, library, tensors)
            print(f"precision check: {checker.precision} ({checker.precision_reason})")
            del checker, tensors
        # no catch-up re-scan on start: it would index the library while latency is measured
        settings = Settings(
            model=args.model,
            weights=weights,
            device=args.device,
            precision=args.precision,
            top_k=24,
            watch_folders=False,
        )
        window, library = open_window(root, settings)
        wait = wait_until

        controller = window.controller
        wait(lambda: controller.model_state is not ModelState.LOADING)
        assert controller.model_state is ModelState.READY, window.notice_bar.label.text()
        extractor = controller.extractor
        queries = [photos[(i * 37) % len(photos)] for i in range(args.queries + 1)]

        # baseline: the query's own embedding (decode + preprocess + model), same process, at
        # the precision searches run in (the library's), and in fp32
        precision.follow_library(extractor, library)
        baseline, baseline_fp32 = [], []
        for q in queries[1:]:
            for kind, times in ((extractor.precision, baseline), ("fp32", baseline_fp32)):
                t = time.perf_counter()
                extractor.embed_tensors([extractor.load_and_preprocess(q)], precision=kind)
                times.append(time.perf_counter() - t)

        def drops(repeat: int = 0) -> tuple[list[float], list[float]]:
            latencies, fill = [], []
            for n, q in enumerate(queries):
                mime = QMimeData()
                mime.setUrls([QUrl.fromLocalFile(str(q))])
                t = time.perf_counter()
                window.search_panel.drop_zone.dropEvent(
                    QDropEvent(
                        QPoint(4, 4),
                        Qt.DropAction.CopyAction,
                        mime,
                        Qt.MouseButton.LeftButton,
                        Qt.KeyboardModifier.NoModifier,
                    )
                )
                wait(lambda: not controller.searching)
                shown = time.perf_counter() - t
                wait(lambda: window.search_panel.results_model.thumbnails_pending() == 0)
                filled = time.perf_counter() - t
                if n:  # the first query warms caches
                    latencies.append(shown)
                    fill.append(filled)
            return latencies, fill

        latencies, fill = drops()
        rows = window.search_panel.results_model.rowCount()
        variants = {}
        for name, rotations, crops in (("rotations", True, False), ("rotations_crops", True, True)):
            controller.options = dataclasses.replace(
                controller.options, rotations=rotations, crops=crops
            )
            variants[name] = statistics.median(drops()[0])
        used = extractor.precision, extractor.precision_reason
        window.close()
        library.close()

    p50 = statistics.median(latencies)
    result = {
        "library_size": args.size,
        "model": args.model,
        "precision": used[0],
        "precision_reason": used[1],
        "cpu_flags": " ".join(sorted(precision.cpu_flags() & CPU_FLAGS)),
        "queries": len(latencies),
        "results_per_query": rows,
        "drop_to_grid_ms_p50": round(p50 * 1000, 1),
        "drop_to_grid_ms_max": round(max(latencies) * 1000, 1),
        "thumbnails_filled_ms_p50": round(statistics.median(fill) * 1000, 1),
        "baseline_embed_only_ms_p50": round(statistics.median(baseline) * 1000, 1),
        "baseline_embed_only_fp32_ms_p50": round(statistics.median(baseline_fp32) * 1000, 1),
        "ratio_drop_to_grid_vs_embed_only": round(p50 / statistics.median(baseline), 3),
        "rotations_ms_p50": round(variants["rotations"] * 1000, 1),
        "rotations_ratio_to_plain": round(variants["rotations"] / p50, 2),
        "rotations_crops_ms_p50": round(variants["rotations_crops"] * 1000, 1),
        "rotations_crops_ratio_to_plain": round(variants["rotations_crops"] / p50, 2),
        "target_ms": 200,
        "meets_target": p50 <= 0.2,
    }
    publish(result, "query_latency-quick.json" if args.quick else "query_latency.json")


if __name__ == "__main__":
    main()
