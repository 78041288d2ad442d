"""Text in pictures, the choice of the recogniser: word recall and speed of the candidates on
real document pages, rasterised and degraded, against each page's own text layer.

    python -m benchmarks.text_engines [--quick] [--pages N]

The pages are Debian's documentation PDFs (benchmarks/documents.py: asymptote-doc,
gnuplot-doc, libtasn1-doc, shared-mime-info), every k-th page up to N (60; 20 with --quick).
Each page is rendered with pypdfium2 at 1,600 px on its longer side (about 150 dpi on A4),
rotated by 1.5 degrees, blurred (Gaussian 0.8 px) and saved as JPEG quality 60; its text
layer (pypdfium2) is the truth. Word recall: the share of the layer's words of 3 letters or
more (lower case, letters and digits) that the recogniser's text holds, counted with their
repetitions. Candidates, as installed from the package registry and Debian:

* RapidOCR 3 (ONNX Runtime; PP-OCRv6 small detection and recognition, the models inside its
  wheel), its defaults;
* Tesseract 5 (Debian's tesseract-ocr with tesseract-ocr-eng), through its command line
  (``tesseract - - --psm 3``; tesserocr, its library binding, runs the same engine and
  differs by the process start).

Writes benchmarks/results/text_engines[-quick].json with the machine.
"""

from __future__ import annotations

import argparse
import collections
import io
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.common import publish
from benchmarks.documents import PDFS

SIDE = 1600
WORD = re.compile(r"[a-z0-9]{3,}")


def words(text: str) -> collections.Counter[str]:
    return collections.Counter(WORD.findall(text.lower()))


def degraded_jpeg(page: Image.Image) -> bytes:
    """``page`` as a poor scan or a photo of it: turned 1.5 degrees, blurred, JPEG 60."""
    turned = page.rotate(1.5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    out = io.BytesIO()
    turned.filter(ImageFilter.GaussianBlur(0.8)).convert("RGB").save(out, "JPEG", quality=60)
    return out.getvalue()


def degraded(page: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(degraded_jpeg(page))).convert("RGB")


def pages(count: int, jpeg: bool = False) -> list[tuple[str, int, Any, str]]:
    """(document, page number, degraded picture, text layer) of ``count`` pages spread over
    the documents; ``jpeg``: the picture as its JPEG file's bytes."""
    import pypdfium2 as pdfium

    found = [p for p in PDFS if Path(p).exists()]
    if not found:
        raise SystemExit("no documentation PDFs: apt install asymptote-doc gnuplot-doc "
                         "libtasn1-doc shared-mime-info")  # fmt: skip
    total = sum(len(pdfium.PdfDocument(p)) for p in found)
    step = max(1, total // count)
    out, n = [], 0
    for path in found:
        document = pdfium.PdfDocument(path)
        for index in range(len(document)):
            n += 1
            if n % step or len(out) >= count:
                continue
            page = document[index]
            text = page.get_textpage().get_text_range()
            if len(words(text)) < 20:  # a figure or a blank page: no body text to read
                continue
            width, height = page.get_size()
            image = page.render(scale=SIDE / max(width, height)).to_pil().convert("RGB")
            picture = degraded_jpeg(image) if jpeg else degraded(image)
            out.append((Path(path).name, index + 1, picture, text))
        document.close()
    return out


def rapidocr_engine():
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "critical"})

    def read(image: Image.Image) -> str:
        result = engine(np.asarray(image))
        return " ".join(result.txts or ())

    return read


def tesseract_engine():
    program = shutil.which("tesseract")
    if program is None:
        return None

    def read(image: Image.Image) -> str:
        data = io.BytesIO()
        image.save(data, "PNG")
        done = subprocess.run([program, "-", "-", "--psm", "3", "-l", "eng"], input=data.getvalue(),
                              capture_output=True, timeout=120, check=False)  # fmt: skip
        return done.stdout.decode("utf-8", "replace")

    return read


def measure(read, sample: list[tuple[str, int, Image.Image, str]]) -> dict[str, object]:
    read(sample[0][2])  # loaded, warm
    hit = want = 0
    seconds: list[float] = []
    worst: list[tuple[float, str]] = []
    for name, number, image, truth in sample:
        started = time.perf_counter()
        text = read(image)
        seconds.append(time.perf_counter() - started)
        expected, got = words(truth), words(text)
        found = sum(min(n, got[w]) for w, n in expected.items())
        hit, want = hit + found, want + sum(expected.values())
        worst.append((found / max(1, sum(expected.values())), f"{name} p. {number}"))
    worst.sort()
    return {
        "word_recall": round(hit / max(1, want), 4),
        "seconds_per_page_median": round(float(np.median(seconds)), 3),
        "seconds_per_page_p90": round(float(np.percentile(seconds, 90)), 3),
        "lowest_pages": [f"{w} ({r:.2f})" for r, w in worst[:5]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pages", type=int, default=0)
    args = parser.parse_args()
    sample = pages(args.pages or (20 if args.quick else 60))
    result: dict[str, object] = {"pages": len(sample), "side_px": SIDE}
    for name, make in (("rapidocr", rapidocr_engine), ("tesseract", tesseract_engine)):
        try:
            read = make()
        except ImportError as exc:
            result[name] = f"not installed ({exc})"
            continue
        result[name] = measure(read, sample) if read is not None else "not installed"
    publish(result, f"text_engines{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
