"""Event-loop responsiveness while indexing 1,000 images and scrolling the results grid.

    python -m benchmarks.ui_responsiveness [--images 1000] [--model efficientnet_lite0] [--quick]

A QTimer probe ticks every 5 ms on the GUI thread; the longest gap between ticks is how long
the window could not react. The grid holds results of an earlier search and is scrolled a step
every 16 ms while the images are indexed. Baseline, in the same run: the same probe and
scrolling for 5 s with nothing being indexed. The light bundled model is the default because it
indexes fastest, so it produces the most progress and library updates per second (the heavier
ViT only gives the GUI thread more room).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks import photos as photo_set
from benchmarks.index_throughput import DATA, publish, random_vit_weights
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.images = min(args.images, 150)
    if "DISPLAY" not in os.environ:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from image_finder.core.settings import Settings

    photos = photo_set.build(DATA / "photos-300", 300)
    weights = args.weights or (random_vit_weights() if args.model == "vit_base_patch16_224" else "")
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = root / "first"
        first.mkdir()
        for p in photos[:120]:
            os.symlink(p, first / p.name)
        bulk = root / "bulk"
        make_images(bulk, args.images, photos)
        settings = Settings(
            model=args.model, weights=weights, device="cpu", top_k=120, thumbnail_size=128
        )
        window, library = open_window(root, settings)
        wait = wait_until

        wait(lambda: window.model_state == "ready")
        window.add_folders([str(first)])
        wait(lambda: not window._indexing)
        window.search_file(str(photos[0]))
        wait(lambda: window.is_settled())
        assert window.results_model.rowCount() == 120

        gaps: list[float] = []
        clock = QElapsedTimer()
        probe = QTimer()
        probe.setInterval(5)

        def tick() -> None:
            gaps.append(clock.restart())

        probe.timeout.connect(tick)
        scrollbar = window.results_view.verticalScrollBar()
        scroller = QTimer()
        scroller.setInterval(16)

        def scroll() -> None:
            step = max(1, scrollbar.maximum() // 60)
            value = scrollbar.value() + step
            scrollbar.setValue(0 if value > scrollbar.maximum() else value)

        scroller.timeout.connect(scroll)

        def measure(condition) -> list[float]:
            gaps.clear()
            clock.start()
            probe.start()
            scroller.start()
            while not condition():
                app.processEvents()
                time.sleep(0.001)
            probe.stop()
            scroller.stop()
            return list(gaps[1:])

        end = time.perf_counter() + 5
        idle = measure(lambda: time.perf_counter() > end)
        started = time.perf_counter()
        window.add_folders([str(bulk)])
        busy = measure(lambda: not window._indexing and not window._index_queue)
        seconds = time.perf_counter() - started
        indexed = library.count() - 120
        window.close()
        library.close()

    def p99(values: list[float]) -> float:
        return sorted(values)[int(0.99 * (len(values) - 1))]

    result = {
        "images_indexed": indexed,
        "model": args.model,
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
    publish(result, "ui_responsiveness.json")


if __name__ == "__main__":
    main()
