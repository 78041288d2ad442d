"""Event-loop responsiveness while indexing 1,000 images and scrolling the results grid, and while
a large library's search index retrains.

    python -m benchmarks.ui_responsiveness [--images 1000] [--retrain-vectors 100000]
        [--model efficientnet_lite0] [--quick]

A QTimer probe ticks every 5 ms on the GUI thread; the longest gap between ticks is how long
the window could not react. The grid holds results of an earlier search and is scrolled a step
every 16 ms while the images are indexed. Baseline, in the same run: the same probe and
scrolling for 5 s with nothing being indexed. The light bundled model is the default because it
indexes fastest, so it produces the most progress and library updates per second (the heavier
ViT only gives the GUI thread more room).

Retrain case: a library of ``--retrain-vectors`` vectors (the real photos plus synthetic
vectors, whose IVF index was trained at half that size) is opened in the window and a re-scan
makes the index retrain (k-means, adding, nprobe calibration). While it trains, the Settings
dialog is opened and a search is dropped in: the longest event-loop gap, the time to open the
dialog and the search's latency are measured, and whether the search answered before training
ended (from the old index).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import photos as photo_set
from benchmarks.common import DATA, publish, random_vit_weights
from benchmarks.window import open_window, wait_until


def make_images(target: Path, count: int, photos: list[Path]) -> None:
    """``count`` distinct JPEGs (~1 MP) made from the real photos: scaled, cropped, mirrored."""
    target.mkdir(parents=True)
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as im:
            image = im.convert("RGB")
        image.thumbnail((1280, 1280))
        variant = i // len(photos)
        if variant % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if variant >= 2:
            w, h = image.size
            image = image.crop((w // 10, h // 10, w - w // 10, h - h // 10))
        image.save(target / f"{i:05d}.jpg", quality=88)


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


class Probe:
    """Gaps between ticks of a 5 ms timer on the GUI thread, with the grid scrolling."""

    def __init__(self, app, scrollbar=None) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.app = app
        self.gaps: list[float] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(lambda: self.gaps.append(self.clock.restart()))
        self.scrollbar = scrollbar
        self.scroller = QTimer()
        self.scroller.setInterval(16)
        self.scroller.timeout.connect(self._scroll)

    def _scroll(self) -> None:
        bar = self.scrollbar
        if bar is not None:
            value = bar.value() + max(1, bar.maximum() // 60)
            bar.setValue(0 if value > bar.maximum() else value)

    def measure(self, done, during=None) -> list[float]:
        """Run the event loop until ``done()``; ``during()`` is called on each pass."""
        self.gaps.clear()
        self.clock.start()
        self.timer.start()
        self.scroller.start()
        while not done():
            self.app.processEvents()
            if during is not None:
                during()
            time.sleep(0.001)
        self.timer.stop()
        self.scroller.stop()
        return list(self.gaps[1:])


def build_large_library(folder: Path, photo_dir: Path, n: int, extractor) -> None:
    """The photos, indexed for real, then synthetic vectors around theirs up to ``n``: half of
    them before the index is trained, half after, so that the next indexing run retrains."""
    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    synthetic = folder.parent / "synthetic"
    synthetic.mkdir()
    rng = np.random.default_rng(0)
    with Library(folder) as library:
        index_folders([photo_dir], library, extractor)
        real = library.vectors([r.id for f in library.folders() for r in library.folder_rows(f.id)])
        with library.writing():
            info = library.add_folder(synthetic)
            made = 0
            for half in (n // 2, n):
                while library.count() < half:
                    size = min(10_000, half - library.count())
                    vectors = real[rng.integers(0, len(real), size)] + 0.03 * rng.normal(
                        size=(size, real.shape[1])
                    ).astype(np.float32)
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    records = [
                        NewImage(info.id, str(synthetic / f"{made + i}.jpg"), FileFacts(1, 1, "s"))
                        for i in range(size)
                    ]
                    made += size
                    library.apply_changes(
                        model=extractor.name, added=records, added_vectors=vectors
                    )
                if half < n:
                    library.vector_index.optimize()  # trained at half the final size


def retrain_case(app, root: Path, photos: list[Path], n: int, settings) -> dict:
    """Measure the window while the index of ``n`` vectors retrains."""
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.stores import vector_index
    from image_finder.ui.controller import ModelState

    photo_dir = root / "retrain-photos"
    photo_dir.mkdir()
    for p in photos:
        photo_set.place(p, photo_dir / p.name)
    started = time.perf_counter()
    extractor = Extractor.load(settings.model, weights=settings.weights or None, device="cpu")
    build_large_library(root / "library", photo_dir, n, extractor)
    build_seconds = time.perf_counter() - started

    training = threading.Event()
    original = vector_index.checkpoint

    def spy(point: str) -> None:
        if point == "ivf_training":
            training.set()
        original(point)

    vector_index.checkpoint = spy
    window, library = open_window(root, settings)
    try:
        controller = window.controller
        wait_until(lambda: controller.model_state is ModelState.READY)
        probe = Probe(app, window.search_panel.results_view.verticalScrollBar())
        marks: dict[str, float] = {}

        def during() -> None:
            if not training.is_set() or "search_sent" in marks:
                return
            t = time.perf_counter()
            dialog = window.settings_dialog()
            dialog.show()
            app.processEvents()
            marks["settings_open_ms"] = (time.perf_counter() - t) * 1000
            dialog.close()
            dialog.deleteLater()
            marks["search_sent"] = time.perf_counter()
            window.search_file(str(photos[0]))

        def answered() -> None:
            marks.setdefault("search_answered", time.perf_counter())

        controller.results_ready.connect(answered)
        job_started = time.perf_counter()
        window.add_folders([str(photo_dir)])
        gaps = probe.measure(lambda: not controller.indexing and training.is_set(), during)
        marks["job_done"] = time.perf_counter()
        wait_until(lambda: "search_answered" in marks or "search_sent" not in marks, 60)
        info = library.vector_index.info()
    finally:
        vector_index.checkpoint = original
        window.close()
        library.close()
    sent, answer = marks.get("search_sent"), marks.get("search_answered")
    search_ms = (answer - sent) * 1000 if sent and answer else None
    return {
        "retrain_vectors": n,
        "retrain_library_build_seconds": round(build_seconds, 1),
        "retrain_job_seconds": round(marks["job_done"] - job_started, 1),
        "retrain_index_after": f"{info['index_type']}, {info['n_regions']} regions",
        "retrain_max_gap_ms": max(gaps),
        "retrain_p99_gap_ms": p99(gaps),
        "retrain_settings_open_ms": round(marks.get("settings_open_ms", -1), 1),
        "retrain_search_ms": round(search_ms, 1) if search_ms is not None else None,
        "retrain_search_answered_before_training_ended": bool(
            answer and answer < marks["job_done"]
        ),
        "retrain_meets_targets": bool(
            max(gaps) <= 50 and search_ms is not None and search_ms <= 1000
        ),
    }


def indexing_case(app, root: Path, photos: list[Path], images: int, settings) -> dict:
    """Measure the window while ``images`` new images are indexed."""
    from image_finder.ui.controller import ModelState

    first = root / "first"
    first.mkdir(parents=True)
    shown = photos[:120]
    for p in shown:
        photo_set.place(p, first / p.name)
    bulk = root / "bulk"
    make_images(bulk, images, photos)
    window, library = open_window(root, settings)
    try:
        controller = window.controller
        wait_until(lambda: controller.model_state is ModelState.READY)
        window.add_folders([str(first)])
        wait_until(lambda: not controller.indexing)
        window.search_file(str(photos[0]))
        wait_until(window.is_settled)
        rows = window.search_panel.results_model.rowCount()
        if rows != len(shown):
            raise SystemExit(f"expected {len(shown)} results, the grid shows {rows}")
        probe = Probe(app, window.search_panel.results_view.verticalScrollBar())
        end = time.perf_counter() + 5
        idle = probe.measure(lambda: time.perf_counter() > end)
        started = time.perf_counter()
        window.add_folders([str(bulk)])
        busy = probe.measure(lambda: not controller.indexing)
        seconds = time.perf_counter() - started
        indexed = library.count() - len(shown)
    finally:
        window.close()
        library.close()
    return {
        "images_indexed": indexed,
        "index_seconds": round(seconds, 1),
        "idle_max_gap_ms": max(idle),
        "idle_p99_gap_ms": p99(idle),
        "indexing_max_gap_ms": max(busy),
        "indexing_p99_gap_ms": p99(busy),
        "indexing_median_gap_ms": statistics.median(busy),
        "ratio_max_gap_indexing_vs_idle": round(max(busy) / max(1, max(idle)), 2),
        "target_ms": 50,
        "meets_target": max(busy) <= 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--retrain-vectors", type=int, default=100_000)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.images = min(args.images, 150)
        args.retrain_vectors = min(args.retrain_vectors, 24_000)  # flat -> IVF at 20,000
    if "DISPLAY" not in os.environ:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from image_finder.core.config.settings import Settings

    # Whatever photos this machine has: skimage's, plus Debian's wallpapers where installed.
    photos = photo_set.build(DATA / "photos-300", 300)
    weights = args.weights or (random_vit_weights() if args.model == "vit_base_patch16_224" else "")
    app = QApplication.instance() or QApplication([])
    # No catch-up re-scan on start and no watching: the retrain library's synthetic entries
    # have no files, and each case measures one kind of work at a time.
    settings = Settings(
        model=args.model,
        weights=weights,
        device="cpu",
        top_k=120,
        thumbnail_size=128,
        watch_folders=False,
        resume_interrupted=False,
    )
    result: dict = {"model": args.model, "photos": len(photos)}
    with tempfile.TemporaryDirectory() as tmp:
        result.update(indexing_case(app, Path(tmp) / "indexing", photos, args.images, settings))
    with tempfile.TemporaryDirectory() as tmp:
        result.update(retrain_case(app, Path(tmp), photos, args.retrain_vectors, settings))
    publish(result, "ui_responsiveness-quick.json" if args.quick else "ui_responsiveness.json")


if __name__ == "__main__":
    main()
