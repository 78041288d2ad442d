"""Duplicate finding: pair precision and recall per tier on planted copies among real photos,
and the time and memory to group a large library.

    python -m benchmarks.duplicates [--originals 40] [--vectors 100000] [--quick]

Each of ``--originals`` real photos gets planted copies: a byte-identical copy (tier
*identical*), and half size at JPEG q75, JPEG q50, JPEG q90, a PNG re-save and a copy with an
EXIF block added (tier *same picture*). Every pair within one photo's set is a true pair; the
byte copy's pair is identical. The other photos of the set, and the crops that
``benchmarks.photos`` makes (different views of one photo), are distractors: a crop called
*same picture* would be a false pair. Grouping goes through the product's own code
(``find_pairs`` over the library's index). Then ``--vectors`` vectors (the real ones plus
noise) are grouped for time and peak memory (tracemalloc), against the baseline of reading
the same vectors from the library in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import photos as photo_set
from benchmarks.common import DATA, publish

VARIANTS = ("half-q75", "q50", "q90", "png", "exif")


def plant(original: Path, folder: Path) -> list[Path]:
    """The original and its copies, written into ``folder``; the byte copy first after it."""
    stem = original.stem
    made = [folder / original.name, folder / f"{stem}-copy.jpg"]
    shutil.copy(original, made[0])
    shutil.copy(original, made[1])
    image = Image.open(original).convert("RGB")
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    half.save(folder / f"{stem}-half-q75.jpg", quality=75)
    image.save(folder / f"{stem}-q50.jpg", quality=50)
    image.save(folder / f"{stem}-q90.jpg", quality=90)
    image.save(folder / f"{stem}-png.png")
    exif = Image.Exif()
    exif[0x010F] = "Planted camera"  # Make
    exif[0x0131] = "an editor"  # Software
    image.save(folder / f"{stem}-exif.jpg", quality=92, exif=exif)
    made += [folder / f"{stem}-{v}{'.png' if v == 'png' else '.jpg'}" for v in VARIANTS]
    return made


def score(predicted: set[frozenset[str]], truth: set[frozenset[str]]) -> dict[str, float]:
    hit = len(predicted & truth)
    return {
        "precision": round(hit / len(predicted), 4) if predicted else 1.0,
        "recall": round(hit / len(truth), 4) if truth else 1.0,
        "pairs_true": len(truth),
        "pairs_found": len(predicted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--originals", type=int, default=40)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.originals = min(args.originals, 8)
        args.vectors = min(args.vectors, 5_000)

    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.search.duplicates import Tier, find_pairs, group_pairs
    from image_finder.core.stores.library import Library

    photos = photo_set.build(DATA / "photos-300", 300)
    originals = [p for p in photos if "-crop" not in p.name][: args.originals]
    distractors = [p for p in photos if p not in originals]
    extractor = Extractor.load(args.model, device="cpu")
    result: dict = {"model": extractor.name, "originals": len(originals)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "photos"
        folder.mkdir()
        sets = [plant(p, folder) for p in originals]
        for p in distractors:
            shutil.copy(p, folder / p.name)
        result["images"] = len(list(folder.iterdir()))
        identical = {frozenset((str(s[0]), str(s[1]))) for s in sets}
        same = {frozenset(map(str, pair)) for s in sets for pair in itertools.combinations(s, 2)}
        with Library(root / "library") as library:
            index_folders([folder], library, extractor)
            started = time.perf_counter()
            pairs = find_pairs(library)
            result["pairs_seconds"] = round(time.perf_counter() - started, 2)
            items = library.items(i for pair in pairs.found for i in pair)
            found = {
                tier: {
                    frozenset((items[a].path, items[b].path))
                    for (a, b), (t, _) in pairs.found.items()
                    if t >= tier
                }
                for tier in (Tier.IDENTICAL, Tier.SAME)
            }
            result["identical"] = score(found[Tier.IDENTICAL], identical)
            result["same_picture"] = score(found[Tier.SAME], same)
            crops = [
                pair
                for pair in found[Tier.SAME] - same
                if any("-crop" in Path(p).name for p in pair)
            ]
            result["crops_called_same_picture"] = len(crops)
            groups = group_pairs(library, pairs, min_tier=Tier.SAME)
            result["same_picture_groups"] = len(groups)
            result["catalogue"] = over_catalogue(library, root, pairs, groups)
            real = library.vectors(
                [r.id for f in library.folders() for r in library.folder_rows(f.id)]
            )
        result.update(scale(root, real, args.vectors, extractor.name))
    result["meets_targets"] = bool(
        result["identical"]["precision"] == result["identical"]["recall"] == 1.0
        and result["same_picture"]["precision"] >= 0.98
        and result["same_picture"]["recall"] >= 0.98
        and result["crops_called_same_picture"] == 0
        and result["group_seconds"] <= 60
        and result["catalogue"]["all_tiers_same_groups_as_library"]
    )
    publish(result, "duplicates.json" if not args.quick else "duplicates-quick.json")


def over_catalogue(library, root: Path, pairs, groups) -> dict:
    """The same library copied into a Milvus Lite catalogue (its vectors, nothing embedded
    again): the groups found over it, against the library's."""
    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.search.duplicates import Tier, find_pairs, group_pairs
    from image_finder.core.stores.catalogue import Catalogue

    def shown(found) -> list:
        return sorted((g.tier.label, tuple(sorted(i.path for i in g.items)), g.keep.path)
                      for g in found)  # fmt: skip

    with Catalogue(f"milvus-lite:{root / 'catalogue.db'}") as catalogue:
        copy_library(library, catalogue)
        started = time.perf_counter()
        theirs = find_pairs(catalogue)
        seconds = time.perf_counter() - started
        found = group_pairs(catalogue, theirs, min_tier=Tier.SAME)
        all_ours = group_pairs(library, pairs, min_tier=Tier.SIMILAR)
        all_theirs = group_pairs(catalogue, theirs, min_tier=Tier.SIMILAR)
    return {
        "pairs_seconds": round(seconds, 2),
        "same_picture_groups": len(found),
        "same_groups_as_library": shown(found) == shown(groups),
        "all_tiers_same_groups_as_library": shown(all_theirs) == shown(all_ours),
    }


def scale(root: Path, real: np.ndarray, n: int, model: str) -> dict:
    """Group ``n`` vectors: the real ones plus noise, a tenth of them with a planted near-copy.
    Time, peak traced memory, and how many planted copies are found at each nprobe."""
    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.search import duplicates as dup
    from image_finder.core.stores.library import Library

    rng = np.random.default_rng(0)
    folder = root / "scale"
    folder.mkdir()
    planted: set[tuple[int, int]] = set()
    with Library(root / "scale-library") as library, library.writing():
        info = library.add_folder(folder)
        for start in range(0, n, 10_000):
            size = min(10_000, n - start) // 11 * 10
            # around the real ones, as far apart as different photos of one scene are (the
            # recipe of ui_responsiveness): pure noise would have no neighbours to find
            vectors = real[rng.integers(0, len(real), size)] + 0.03 * rng.normal(
                size=(size, real.shape[1])
            ).astype(np.float32)
            copies = vectors[::10] + 0.003 * rng.normal(size=(len(vectors[::10]), real.shape[1]))
            both = np.concatenate([vectors, copies.astype(np.float32)])
            both /= np.linalg.norm(both, axis=1, keepdims=True)
            records = [
                NewImage(info.id, str(folder / f"{start}-{i}.jpg"), FileFacts(1, 1, f"{start}-{i}"))
                for i in range(len(both))
            ]
            ids = library.apply_changes(model=model, added=records, added_vectors=both)
            planted |= {
                (min(ids[j * 10], ids[size + j]), max(ids[j * 10], ids[size + j]))
                for j in range(len(copies))
            }
        library.vector_index.optimize()
    result: dict = {}
    with Library(root / "scale-library") as library:
        started = time.perf_counter()
        ids_all = [r.id for f in library.folders() for r in library.folder_rows(f.id)]
        library.vectors(ids_all)
        read_seconds = time.perf_counter() - started
        info = library.vector_index.info()
        result["group_vectors"] = len(ids_all)
        result["group_index"] = (
            f"{info['index_type']}, {info['n_regions']} regions, calibrated nprobe {info['nprobe']}"
        )
        for nprobe in (1, 2, dup.NPROBE, None):
            tracemalloc.start()
            started = time.perf_counter()
            pairs = dup.find_pairs(library, nprobe=nprobe)
            groups = dup.group_pairs(library, pairs, threshold=dup.DEFAULT_THRESHOLD)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            found = len(planted & set(pairs.found))
            label = "calibrated" if nprobe is None else str(nprobe)
            result[f"nprobe_{label}"] = {
                "seconds": round(seconds, 1),
                "planted_copies_found": round(found / len(planted), 4),
                "groups": len(groups),
                "peak_traced_mib": round(peak / 2**20, 1),
            }
    default = result[f"nprobe_{dup.NPROBE}"]
    result.update(
        {
            "group_seconds": default["seconds"],
            "group_peak_traced_mib": default["peak_traced_mib"],
            "baseline_read_vectors_seconds": round(read_seconds, 2),
            "ratio_group_vs_read": round(default["seconds"] / max(read_seconds, 1e-6), 1),
        }
    )
    return result


if __name__ == "__main__":
    main()
