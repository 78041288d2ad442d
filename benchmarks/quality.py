"""Retrieval quality through the product's own indexing and search code.

    python -m benchmarks.quality [--models efficientnet_lite0,raw_pixels] [--vit-weights FILE]
        [--distractors N] [--quick]

1. Category retrieval on Debian's openclipart-png: every subcategory with at least 40 images,
   leaving out generic folders (computer/icons, shapes/*, special/*). Each image is a query;
   the others of its category are the relevant results. Reports mAP, precision@1 and
   recall@10 (the share of queries with a same-category image in the top 10).
2. Copy detection: real photos (skimage.data samples and Debian wallpapers) transformed in 11
   ways and searched for among the originals plus distractors (the other photos, then
   openclipart drawings). Reports recall@1 and recall@10 of the original for each transform,
   plain and with the search option made for it ("rotations": 8 orientations of the query;
   "crops": the query also seen uncropped), with its cost; greyscale copies also without the
   brightness-layout step ("model alone").

Libraries are kept under benchmarks/.data/quality-MODEL/ so that a second run only re-indexes
what changed. ViT-B/16 is measured when its weights can be had (--vit-weights or the cache).
Prints tables and writes benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from benchmarks import photos as photo_set
from benchmarks.common import DATA, RESULTS, machine

CLIPART = Path("/usr/share/openclipart/png")
EXCLUDED = ("computer/icons", "shapes/", "special/")
MIN_PER_CATEGORY = 40


def categories(quick: bool) -> dict[str, list[Path]]:
    found = {}
    for folder in sorted(CLIPART.glob("*/*/")):
        name = f"{folder.parent.name}/{folder.name}"
        if any(name == e or name.startswith(e) for e in EXCLUDED):
            continue
        files = sorted(folder.glob("*.png"))
        if len(files) >= MIN_PER_CATEGORY:
            found[name] = files
    if quick:
        found = {k: v[:20] for k, v in list(found.items())[:6]}
    return found


def linked_folder(target: Path, files: dict[str, list[Path]]) -> Path:
    """A folder of hard links (or copies), one subfolder per group (the library indexes this)."""
    for group, paths in files.items():
        sub = target / group.replace("/", "__")
        sub.mkdir(parents=True, exist_ok=True)
        for p in paths:
            link = sub / p.name
            photo_set.place(p, link)
    return target


def banner(image: Image.Image) -> Image.Image:
    out = image.copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, h - h // 5, w, h), fill=(0, 0, 0))
    draw.text((w // 20, h - h // 6), "SHARED VIA SOME APP  #photo", fill=(255, 255, 255))
    return out


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    cw, ch = int(w * fraction), int(h * fraction)
    return image.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))


TRANSFORMS = {
    "crop 70%": lambda im: centre_crop(im, 0.7),
    "crop 50%": lambda im: centre_crop(im, 0.5),
    "rotate 90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rotate 180": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "mirror": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "downscale 25%": lambda im: im.resize((max(1, im.width // 4), max(1, im.height // 4))),
    "JPEG q15": lambda im: jpeg(im, 15),
    "brightness +30%": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "contrast -30%": lambda im: ImageEnhance.Contrast(im).enhance(0.7),
    "greyscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "text banner": banner,
}
# Transforms also measured with the search option made for them ("model alone": without the
# brightness-layout step that black-and-white queries get, core/pictures/layout.py).
OPTION_FOR = {
    "rotate 90": "rotations",
    "rotate 180": "rotations",
    "mirror": "rotations",
    "crop 70%": "crops",
    "crop 50%": "crops",
    "greyscale": "model alone",
}


def distinct(paths: list[Path], threshold: float = 0.8) -> list[Path]:
    """Drop photos that are versions of an earlier one (the same wallpaper at another size, in
    light and dark, in other colours): copies of each other cannot tell a copy detector's
    mistakes from right answers. The test is model-free: the absolute correlation of 32 x 32
    greyscale thumbnails."""
    kept: list[Path] = []
    thumbs: list[np.ndarray] = []
    for p in paths:
        with Image.open(p) as im:
            grey = np.asarray(im.convert("L").resize((32, 32)), np.float32).ravel()
        grey -= grey.mean()
        norm = np.linalg.norm(grey)
        if norm < 1e-3:
            continue  # a flat picture
        grey /= norm
        if any(abs(float(grey @ t)) > threshold for t in thumbs):
            continue
        kept.append(p)
        thumbs.append(grey)
    return kept


def average_precision(relevant: np.ndarray) -> float:
    hits = np.cumsum(relevant)
    if hits[-1] == 0:
        return 0.0
    precision = hits / np.arange(1, len(relevant) + 1)
    return float((precision * relevant).sum() / relevant.sum())


def load_extractor(name: str, vit_weights: str | None):
    from image_finder.core.embedding.extractor import Extractor, PixelExtractor

    if name == "raw_pixels":
        return PixelExtractor()
    return Extractor.load(
        name,
        weights=vit_weights if name.startswith("vit") else None,
        device="auto",
        allow_fallback=False,
    )


def category_quality(extractor, cats: dict[str, list[Path]], workdir: Path) -> dict:
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    folder = linked_folder(
        DATA / ("clipart-categories" + ("-quick" if len(cats) <= 6 else "")), cats
    )
    with Library(workdir / "categories") as library:
        index_folders([folder], library, extractor)
        searcher = Searcher(library, extractor)
        rows = [r for f in library.folders() for r in library.folder_rows(f.id)]
        category = {r.id: Path(r.path).parent.name for r in rows}
        items = library.items(category)
        n = len(rows)
        aps, p1, r10 = [], [], []
        for image_id, cat in category.items():
            results = searcher.search(Query.item(items[image_id]), SearchOptions(top_k=n)).results
            ranked = [r.item.id for r in results if r.item.id != image_id]
            relevant = np.array([category[i] == cat for i in ranked], dtype=float)
            aps.append(average_precision(relevant))
            p1.append(relevant[0])
            r10.append(float(relevant[:10].any()))
    return {
        "categories": len(cats),
        "images": n,
        "mAP": round(float(np.mean(aps)), 4),
        "precision@1": round(float(np.mean(p1)), 4),
        "recall@10": round(float(np.mean(r10)), 4),
    }


def copy_quality(extractor, originals: list[Path], distractors: list[Path], workdir: Path) -> dict:
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    folder = linked_folder(
        DATA / f"copy-detection-{len(originals)}-{len(distractors)}",
        {"originals": originals, "distractors": distractors},
    )
    with Library(workdir / f"copies-{len(originals)}-{len(distractors)}") as library:
        index_folders([folder], library, extractor)
        searcher = Searcher(library, extractor)
        ids = {}
        for p in originals:
            item = library.item_by_path(folder / "originals" / p.name)
            if item is not None:
                ids[p] = item.id
        # drawings filed under one name in two categories are linked once (most are the same
        # file), and unreadable ones are skipped: count what the library holds
        out: dict = {
            "originals": len(ids),
            "distractors": library.count() - len(ids),
            "transforms": {},
        }
        from image_finder.core.pictures.images import load_image

        for name, transform in TRANSFORMS.items():
            modes = [None, OPTION_FOR[name]] if name in OPTION_FOR else [None]
            for option in modes:
                alone = option == "model alone"
                flag = {option: True} if option and not alone else {}
                options = SearchOptions(top_k=10, **flag)
                ranks, seconds = [], 0.0
                for p, image_id in ids.items():
                    query = transform(load_image(p))
                    started = time.perf_counter()
                    if alone:
                        vectors = searcher.embed_query(query, options).vectors
                        results = searcher.search_vectors(vectors, options).results
                    else:
                        results = searcher.search(Query.of(query), options).results
                    seconds += time.perf_counter() - started
                    found = [r.item.id for r in results]
                    ranks.append(found.index(image_id) + 1 if image_id in found else 99)
                ranks_a = np.array(ranks)
                key = name + (f" ({option})" if option else "")
                out["transforms"][key] = {
                    "recall@1": round(float(np.mean(ranks_a == 1)), 4),
                    "recall@10": round(float(np.mean(ranks_a <= 10)), 4),
                    "ms_per_query": round(seconds / len(ids) * 1000, 1),
                }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="efficientnet_lite0,raw_pixels")
    parser.add_argument("--vit-weights", help="ViT-B/16 weights file (adds vit_base_patch16_224)")
    parser.add_argument(
        "--distractors", type=int, default=0, help="openclipart distractors (0: all)"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    models = args.models.split(",")
    if args.vit_weights and "vit_base_patch16_224" not in models:
        models.insert(0, "vit_base_patch16_224")

    cats = categories(args.quick) if CLIPART.is_dir() else {}
    originals = distinct(photo_set.build(DATA / "photos-sources", None))
    clipart = sorted(CLIPART.rglob("*.png")) if CLIPART.is_dir() else []
    if args.quick:
        originals, clipart = originals[:12], clipart[:150]
    elif args.distractors:
        clipart = clipart[: args.distractors]
    distractors = clipart  # besides the other originals

    report: dict = {"models": {}, "notes": []}
    if not cats:
        report["notes"].append("openclipart-png is not installed: category retrieval skipped")
    for name in models:
        try:
            extractor = load_extractor(name, args.vit_weights)
        except Exception as exc:  # ViT weights not available offline, say
            report["notes"].append(f"{name}: not measured ({exc})")
            continue
        workdir = DATA / f"quality-{name}{'-quick' if args.quick else ''}"
        started = time.perf_counter()
        result = {"copy_detection": copy_quality(extractor, originals, distractors, workdir)}
        if cats:
            result["categories"] = category_quality(extractor, cats, workdir)
        result["seconds"] = round(time.perf_counter() - started, 1)
        report["models"][name] = result

    for name, result in report["models"].items():
        print(f"\n== {name} ({result['seconds']} s)")
        if "categories" in result:
            c = result["categories"]
            print(
                f"category retrieval: {c['categories']} categories, {c['images']} images: "
                f"mAP {c['mAP']:.3f}  P@1 {c['precision@1']:.3f}  R@10 {c['recall@10']:.3f}"
            )
        cd = result["copy_detection"]
        print(f"copy detection: {cd['originals']} photos among {cd['distractors']} distractors")
        print(f"  {'transform':28} {'R@1':>6} {'R@10':>6} {'ms/query':>9}")
        for t, v in cd["transforms"].items():
            print(f"  {t:28} {v['recall@1']:6.3f} {v['recall@10']:6.3f} {v['ms_per_query']:9.1f}")
    for note in report["notes"]:
        print("note:", note)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("quality-quick.json" if args.quick else "quality.json")
    out.write_text(json.dumps({**report, "machine": machine()}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
