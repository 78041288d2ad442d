"""Documents and medical images: whether a photo of a page finds its document and page, how
fast pages are rendered against poppler, and whether every DICOM file with pixels decodes.

    python -m benchmarks.documents [--quick]

* pages: the Debian documentation PDFs below (asymptote-doc, gnuplot-doc, libtasn1-doc,
  shared-mime-info: 567 pages; install them with apt), indexed with EfficientNet-Lite0. Each
  page's photo-like copy (tilted in perspective, blurred, half resolution, greyscale, JPEG
  quality 40) is the query: found when the right document and page come first (results
  grouped by document as every face shows them), and within the first 5 pages (ungrouped);
  and first by the model alone (no page prints);
* rendering: every page at the model's size (640 px on the longer side) by this project
  (``documents.pages``: PDFium in worker processes), by pypdfium2 in one process, and by
  poppler's ``pdftoppm`` (``-scale-to 640``, PPM, one process per document), pages/s, the
  best of 3;
* DICOM: every file of pydicom's own test files, decoded (``dicom.frames``): the count per
  transfer syntax, the files that fail with their reason; for the files with a window, the
  picture against ``apply_voi_lut``'s output mapped to 8 bits (the largest difference); the
  decode rate of a 200-slice CT series (512 × 512, 12 bits, written here from real pictures)
  uncompressed, RLE and JPEG 2000, slices/s.

--quick: the first 120 pages, a 50-slice series. Writes benchmarks/results/documents[-quick].json.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.common import publish

PDFS = (
    "/usr/share/doc/asymptote/asymptote.pdf",
    "/usr/share/doc/gnuplot/gnuplot.pdf",
    "/usr/share/doc/libtasn1-doc/libtasn1.pdf",
    "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
    "/usr/share/doc/asymptote/CAD.pdf",
)
SIDE = 640


def photo_of(page: Image.Image, seed: int) -> Image.Image:
    """A page as a phone would take it: tilted, blurred, half size, grey, JPEG q40."""
    import io

    rng = np.random.default_rng(seed)
    w, h = page.size
    d = rng.uniform(0.02, 0.06, 8) * [w, h, w, h, w, h, w, h]
    # the source's corners, as QUAD takes them: upper left, lower left, lower right, upper right
    corners = (d[0], d[1], d[6], h - d[7], w - d[4], h - d[5], w - d[2], d[3])
    tilted = page.transform(page.size, Image.Transform.QUAD, corners, Image.Resampling.BICUBIC,
                            fillcolor=(90, 90, 90))  # fmt: skip
    small = tilted.filter(ImageFilter.GaussianBlur(1.2)).resize((w // 2, h // 2))
    out = io.BytesIO()
    small.convert("L").save(out, "JPEG", quality=40)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def _documents(quick: bool, folder: Path) -> list[Path]:
    found = [Path(p) for p in PDFS if Path(p).exists()]
    if not found:
        raise SystemExit("no documentation PDFs: apt install asymptote-doc gnuplot-doc "
                         "libtasn1-doc shared-mime-info")  # fmt: skip
    out = []
    for path in found:
        target = folder / path.name
        shutil.copy(path, target)
        out.append(target)
    if quick:  # the first 120 pages: the smaller documents whole, then the rest
        import pypdfium2 as pdfium

        budget, kept = 120, []
        for path in sorted(out, key=lambda p: len(pdfium.PdfDocument(p))):
            count = len(pdfium.PdfDocument(path))
            if count <= budget:
                kept.append(path)
                budget -= count
            else:
                path.unlink()
        out = kept
    return out


def rendering(documents: list[Path], pages: int) -> dict[str, object]:
    from image_finder.core.pictures import documents as docs

    def ours() -> None:
        for path in documents:
            for _ in docs.pages(path):
                pass

    def one_process() -> None:
        import pypdfium2 as pdfium

        for path in documents:
            document = pdfium.PdfDocument(path)
            for n in range(len(document)):
                docs._render(document, n, SIDE)
            document.close()

    def poppler() -> None:
        with tempfile.TemporaryDirectory() as out:
            for path in documents:
                subprocess.run(["pdftoppm", "-scale-to", str(SIDE), str(path),
                                f"{out}/{path.stem}"], check=True)  # fmt: skip

    figures: dict[str, object] = {}
    for name, run in (("ours", ours), ("pypdfium2_one_process", one_process),
                      ("pdftoppm", poppler)):  # fmt: skip
        if name == "pdftoppm" and not shutil.which("pdftoppm"):
            figures[name] = "pdftoppm missing (apt install poppler-utils)"
            continue
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - started)
        figures[f"{name}_pages_per_second"] = round(pages / best, 1)
    if isinstance(figures.get("pdftoppm_pages_per_second"), float):
        ratio = figures["ours_pages_per_second"] / figures["pdftoppm_pages_per_second"]  # type: ignore[operator]
        figures["ours_against_pdftoppm"] = round(ratio, 2)
    return figures


def retrieval(documents: list[Path], folder: Path) -> dict[str, object]:
    from image_finder.core.common.records import Part
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.pictures.documents import pages
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="auto")
    with Library(folder / "library") as library:
        started = time.perf_counter()
        report = index_folders([folder / "pdfs"], library, extractor)
        seconds = time.perf_counter() - started
        searcher = Searcher(library, extractor)
        first = top5 = total = model_first = 0
        missed: list[str] = []
        query = folder / "query.jpg"
        for path in documents:
            for page in pages(path):
                photo_of(page.image, total).save(query, quality=95)
                total += 1
                grouped = searcher.search(Query.file(str(query)), SearchOptions(top_k=5))
                best = grouped.results[0].item if grouped.results else None
                right = (str(path), Part.page(page.number))
                if best is not None and (best.path, best.part) == right:
                    first += 1
                else:
                    missed.append(f"{path.name} p. {page.number}")
                flat = searcher.search(Query.file(str(query)),
                                       SearchOptions(top_k=5, group_parts=False))  # fmt: skip
                top5 += any((r.item.path, r.item.part) == right for r in flat.results)
                alone = searcher.search_vectors(  # the model alone: no page print
                    searcher.embed_query(str(query)).vectors, SearchOptions(top_k=1)
                ).results
                model_first += bool(alone) and (alone[0].item.path, alone[0].item.part) == right
    return {
        "pages": total,
        "documents": len(documents),
        "index_pages_per_second": round(report.embedded / seconds, 1),
        "page_first": round(first / total, 4),
        "page_in_top_5": round(top5 / total, 4),
        "page_first_model_alone": round(model_first / total, 4),
        "missed": missed[:40],
    }


def dicom_files() -> dict[str, object]:
    import pydicom
    from pydicom.data import get_testdata_files
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    from image_finder.core.common.errors import ImageLoadError
    from image_finder.core.pictures import dicom

    decoded: collections.Counter[str] = collections.Counter()
    failed: dict[str, str] = {}
    without, worst, windowed = 0, 0, 0
    for path in sorted(get_testdata_files()):
        try:
            ds = pydicom.dcmread(path, force=path.endswith(".dcm"))
        except Exception:
            continue  # not DICOM (the test data holds JSON, text, a DICOMDIR's other files)
        if "PixelData" not in ds:
            without += 1
            continue
        syntax = ds.file_meta.get("TransferSyntaxUID")
        name = syntax.name if syntax else "(none named)"
        try:
            frames = list(dicom.frames(path))
        except ImageLoadError as exc:
            failed[Path(path).name] = f"{name}: {exc.reason}"
            continue
        decoded[name] += 1
        if "WindowCenter" in ds and ds.get("SamplesPerPixel", 1) == 1 and frames:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = (
                    ds.pixel_array
                    if int(ds.get("NumberOfFrames", 1) or 1) == 1
                    else ds.pixel_array[0]
                )
                low, high = dicom.output_range(ds)
                reference = apply_voi_lut(apply_modality_lut(values, ds), ds)
            expected = np.clip(np.round((reference - low) * 255.0 / (high - low)), 0, 255)
            if ds.PhotometricInterpretation == "MONOCHROME1":
                expected = 255 - expected
            shown = np.asarray(frames[0][1].convert("L"), np.float64)
            worst = max(worst, int(np.abs(shown - expected).max()))
            windowed += 1
    return {
        "dicom_decoded": sum(decoded.values()),
        "dicom_by_syntax": dict(sorted(decoded.items())),
        "dicom_failed": failed,
        "dicom_without_pixels": without,
        "dicom_windowed_files": windowed,
        "dicom_window_largest_difference": worst,
    }


def series_rate(count: int, folder: Path) -> dict[str, object]:
    from skimage import data

    from image_finder.core.pictures import dicom
    from tests import dicoms

    sources = [np.asarray(Image.fromarray(getattr(data, n)()).convert("L").resize((512, 512)))
               for n in ("camera", "moon", "coins", "astronaut", "brick", "grass")]  # fmt: skip
    out: dict[str, object] = {"series_slices": count}
    for syntax in ("explicit", "rle", "j2k"):
        where = folder / f"series-{syntax}"
        where.mkdir()
        paths = []
        for n in range(count):
            values = (sources[n % len(sources)].astype(np.uint16) * 16 + n) % 4096
            paths.append(dicoms.write(where / f"s{n:03d}.dcm", values.astype(np.uint16),
                                      syntax=syntax, instance=n + 1))  # fmt: skip
        started = time.perf_counter()
        for path in paths:
            dicom.picture(str(path))
        out[f"slices_per_second_{syntax}"] = round(count / (time.perf_counter() - started), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pdfs").mkdir()
        documents = _documents(args.quick, folder / "pdfs")
        import pypdfium2 as pdfium

        pages = sum(len(pdfium.PdfDocument(p)) for p in documents)
        result: dict[str, object] = {"documents": [p.name for p in documents], "pages": pages}
        result.update(rendering(documents, pages))
        result.update(retrieval(documents, folder))
        result.update(dicom_files())
        result.update(series_rate(50 if args.quick else 200, folder))
    publish(result, f"documents{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
