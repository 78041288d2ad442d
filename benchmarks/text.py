"""Text in pictures, in one run: the cost of reading text on a photo library, the recall of
the words on degraded document pages and a 3-word phrase search among pages and photos, and
the recognisers compared.

    python -m benchmarks.text [--quick] [--photos N] [--pages N] [--candidates N]

1. **Photos** (benchmarks/photos.py: skimage's photos and the desktop wallpapers Debian packages
   ship, quadrant crops making up the count; 1,000): the cheap test
   (``text_reading.has_text``) timed photo by photo, how many pass; then a new library indexes
   them with EfficientNet-Lite0 (``index_folders``: the rate with reading off) and reads their
   text (``fill_texts``: the rate on is the photos over both times). ViT-B/16 (random weights:
   the speed is the same) indexes them too; reading does not depend on the model, so its rate
   on adds the same reading time.
2. **Recognisers compared** on ``--candidates`` of the pages below (60): the product's reading
   (``read_text``: RapidOCR as configured) and Tesseract 5 (Debian's, its command line),
   word recall and seconds a page (benchmarks/text_engines.py).
3. **Pages** (500): Debian's documentation PDFs' pages with body text, rendered at 1,600 px,
   turned 1.5 degrees, blurred and saved as JPEG 60 (benchmarks/text_engines.py), are added
   to the photos' library as pictures and read by ``fill_texts``. Word recall: the share of
   each page's text layer's words (3 letters or more) found in the text read. Phrases: for
   each page, the first three consecutive words (3 letters or more each) of one of its lines,
   from its middle on, that no other page's layer says; searched as a quoted phrase through
   the words field (``Searcher``, top 3), among the pages and the photos.

Writes benchmarks/results/text[-quick].json with the machine.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from benchmarks import photos as photo_set
from benchmarks import text_engines
from benchmarks.common import publish, random_vit_weights

TOKEN = re.compile(r"\w+")


def phrase_of(layer: str, said_elsewhere: set[str]) -> str | None:
    """Three consecutive words of one line of ``layer`` (from its middle line on) that no
    other page says, or None."""
    lines = [line for line in re.split(r"[\r\n]+", layer) if line.strip()]
    middle = len(lines) // 2
    for line in lines[middle:] + lines[:middle]:
        tokens = TOKEN.findall(line.lower())
        for n in range(len(tokens) - 2):
            three = tokens[n : n + 3]
            if all(len(t) >= 3 and t.isalpha() for t in three):
                phrase = " ".join(three)
                if phrase not in said_elsewhere:
                    return phrase
    return None


def photo_costs(files: list[Path], tmp: Path, quick: bool, result: dict[str, object]) -> Path:
    """Part 1; the Lite0 library holding the photos, read."""
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.texts import fill_texts
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.text_reading import has_text
    from image_finder.core.stores.library import Library

    folder = files[0].parent
    has_text(load_image(files[0]))  # loaded, warm
    started, passed = time.perf_counter(), 0
    for path in files:
        passed += has_text(load_image(path))
    result["cheap_test_ms_per_photo"] = round((time.perf_counter() - started) / len(files) * 1e3, 1)
    result["cheap_test_passed"] = passed
    result["cheap_test_passed_share"] = round(passed / len(files), 3)
    reading = 0.0
    models = [("efficientnet_lite0", None)]
    if not quick:
        models.append(("vit_base_patch16_224", random_vit_weights()))
    for name, weights in models:
        extractor = Extractor.load(name, device="cpu", precision="fp32", weights=weights)
        with Library(tmp / f"lib-{name}") as library:
            started = time.perf_counter()
            index_folders([folder], library, extractor)
            off = time.perf_counter() - started
            if not reading:
                started = time.perf_counter()
                fill_texts(library, lambda p: None, lambda: False)
                reading = time.perf_counter() - started
                result["photos_read_seconds"] = round(reading, 1)
        result[name] = {
            "photos_per_second_off": round(len(files) / off, 2),
            "photos_per_second_on": round(len(files) / (off + reading), 2),
            "on_against_off": round(off / (off + reading), 3),
        }
    return tmp / "lib-efficientnet_lite0"


def candidates(sample: list, result: dict[str, object]) -> None:
    """Part 2."""
    import io

    from PIL import Image

    from image_finder.core.pictures.text_reading import read_text

    pictures = [(n, p, Image.open(io.BytesIO(b)).convert("RGB"), t) for n, p, b, t in sample]
    compared: dict[str, object] = {"pages": len(pictures)}
    compared["image_finder_rapidocr"] = text_engines.measure(
        lambda image: read_text(image).text, pictures
    )
    tesseract = text_engines.tesseract_engine()
    compared["tesseract"] = (
        text_engines.measure(tesseract, pictures) if tesseract else "not installed"
    )
    result["candidates"] = compared


def page_search(sample: list, library_path: Path, tmp: Path, result: dict[str, object]) -> None:
    """Part 3."""
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.texts import fill_texts
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    folder = tmp / "pages"
    folder.mkdir()
    truth: dict[str, str] = {}
    for name, number, jpeg, layer in sample:
        file = f"{Path(name).stem}-p{number:04d}.jpg"
        (folder / file).write_bytes(jpeg)
        truth[file] = layer
    extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="fp32")
    with Library(library_path) as library:
        index_folders([folder], library, extractor)
        started = time.perf_counter()
        fill_texts(library, lambda p: None, lambda: False)
        seconds = time.perf_counter() - started
        ids = {f: library.item_by_path(folder / f).id for f in truth}  # type: ignore[union-attr]
        read = library.side_data.texts([ids[f] for f in truth])
        hit = want = 0
        for file, layer in truth.items():
            expected = text_engines.words(layer)
            got = text_engines.words(read[ids[file]][1])
            hit += sum(min(n, got[w]) for w, n in expected.items())
            want += sum(expected.values())
        phrases: dict[str, str] = {}
        for file, layer in truth.items():
            elsewhere = {
                " ".join(t[n : n + 3])
                for other, text in truth.items()
                if other != file
                for t in [TOKEN.findall(text.lower())]
                for n in range(len(t) - 2)
            }
            phrase = phrase_of(layer, elsewhere)
            if phrase:
                phrases[file] = phrase
        searcher = Searcher(library, extractor)
        found, ranks = 0, []
        for file, phrase in phrases.items():
            outcome = searcher.search(Query.words(f'"{phrase}"'), SearchOptions(top_k=3))
            names = [Path(r.item.path).name for r in outcome.results]
            if file in names:
                found += 1
                ranks.append(names.index(file) + 1)
        total = library.count()
    result["pages"] = {
        "pages": len(truth),
        "library_items": total,
        "read_seconds_per_page": round(seconds / len(truth), 2),
        "word_recall": round(hit / max(1, want), 4),
        "phrases": len(phrases),
        "phrase_page_in_top_3": round(found / max(1, len(phrases)), 4),
        "phrase_page_first": round(ranks.count(1) / max(1, len(phrases)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--photos", type=int, default=0)
    parser.add_argument("--pages", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=0)
    args = parser.parse_args()
    photos = args.photos or (40 if args.quick else 1000)
    pages = args.pages or (20 if args.quick else 500)
    compared = args.candidates or (6 if args.quick else 60)
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = photo_set.build(tmp / "photos", photos)
        result["photos"] = len(files)
        result["photos_note"] = "benchmarks/photos.py: skimage's photos and wallpapers, crops"
        started = time.perf_counter()
        library = photo_costs(files, tmp, args.quick, result)
        print(f"photos done in {time.perf_counter() - started:.0f} s", flush=True)
        sample = text_engines.pages(pages, jpeg=True)
        candidates(sample[:: max(1, len(sample) // compared)][:compared], result)
        print(f"candidates done in {time.perf_counter() - started:.0f} s", flush=True)
        page_search(sample, library, tmp, result)
    publish(result, f"text{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
