"""Text in pictures, its cost on a photo library: how many photos pass the cheap test (and
are read), and the indexing rate with text reading on against off.

    python -m benchmarks.text [--quick] [--photos N]

The photos are benchmarks/photos.py's (skimage's photos and the desktop wallpapers Debian
packages ship, quadrant crops making up the count where those are fewer). For each model
(EfficientNet-Lite0 with its weights, ViT-B/16 with random weights: the speed is the same), a
new library indexes them (``index_folders``: the rate off), then reads their text
(``fill_texts``: the rate on is the photos over both times). The cheap test
(``text_reading.has_text``) is also timed alone, photo by photo.

Writes benchmarks/results/text[-quick].json with the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import photos as photo_set
from benchmarks.common import publish, random_vit_weights


def main() -> None:
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.texts import fill_texts
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.text_reading import has_text
    from image_finder.core.stores.library import Library

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--photos", type=int, default=0)
    args = parser.parse_args()
    count = args.photos or (40 if args.quick else 300)
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        files = photo_set.build(folder, count)
        result["photos"] = len(files)
        result["photos_note"] = "benchmarks/photos.py: skimage's photos and wallpapers, crops"
        has_text(load_image(files[0]))  # loaded, warm
        started, passed = time.perf_counter(), []
        for path in files:
            if has_text(load_image(path)):
                passed.append(path.name)
        result["cheap_test_ms_per_photo"] = round(
            (time.perf_counter() - started) / len(files) * 1000, 1
        )
        result["cheap_test_passed"] = len(passed)
        result["cheap_test_passed_share"] = round(len(passed) / len(files), 3)
        models = [("efficientnet_lite0", None)]
        if not args.quick:
            models.append(("vit_base_patch16_224", random_vit_weights()))
        for name, weights in models:
            extractor = Extractor.load(name, device="cpu", precision="fp32", weights=weights)
            with Library(Path(tmp) / f"lib-{name}") as library:
                started = time.perf_counter()
                index_folders([folder], library, extractor)
                off = time.perf_counter() - started
                started = time.perf_counter()
                fill_texts(library, lambda p: None, lambda: False)
                reading = time.perf_counter() - started
            result[name] = {
                "photos_per_second_off": round(len(files) / off, 2),
                "photos_per_second_on": round(len(files) / (off + reading), 2),
                "on_against_off": round(off / (off + reading), 3),
                "reading_seconds": round(reading, 1),
            }
    publish(result, f"text{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
