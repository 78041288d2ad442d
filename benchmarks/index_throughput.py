"""Indexing throughput: model-only vs end-to-end ``index``, on the same images.

    python -m benchmarks.index_throughput [--model efficientnet_lite0|vit_base_patch16_224]
        [--weights FILE] [--images DIR] [--count 300] [--batch-size N] [--bf16] [--quick]

* model-only: every image decoded and preprocessed beforehand, then only the forward passes
  are timed (same model, precision and batch size as indexing uses);
* end-to-end: ``index_folders`` on a new library: scanning, reading, hashing, decoding,
  preprocessing, inference and the SQLite/FAISS writes;
* re-index of the unchanged folder (nothing should be extracted);
* JPEG decode time with and without draft mode;
* with ``--bf16``: bf16 autocast vs fp32 features (mean cosine, top-10 overlap) and speed.

For ViT-B/16 without a weights file, random weights are used (speed does not depend on them).
Prints a table and writes ``benchmarks/results/index_throughput[-MODEL].json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import photos as photo_set

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).parent / ".data"


def publish(result: dict, filename: str) -> None:
    """Print ``result`` as a two-column table and write it to benchmarks/results/FILENAME."""
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / filename
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def random_vit_weights() -> str:
    import timm
    import torch

    path = DATA / "vit_base_patch16_224-random.pth"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(timm.create_model("vit_base_patch16_224").state_dict(), path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--images", type=Path, help="folder of photos (default: a built set)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--bf16", action="store_true", help="also compare bf16 with fp32")
    parser.add_argument("--quick", action="store_true", help="40 images")
    args = parser.parse_args()
    if args.quick:
        args.count = min(args.count, 40)

    import torch

    from image_finder.core.extractor import Extractor
    from image_finder.core.images import load_image
    from image_finder.core.indexing import index_folders
    from image_finder.core.library import Library
    from image_finder.core.search import Query, Searcher, SearchOptions

    folder = args.images or DATA / f"photos-{args.count}"
    paths = sorted(folder.glob("*.jpg")) if args.images else photo_set.build(folder, args.count)
    weights = args.weights
    if args.model == "vit_base_patch16_224" and not weights:
        weights = random_vit_weights()
    extractor = Extractor.load(args.model, weights=weights, device="cpu", allow_fallback=False)
    batch = args.batch_size or extractor.batch_size
    n = len(paths)
    print(
        f"{n} images in {folder}; model {extractor.name} ({extractor.weights_source}), "
        f"{extractor.device}, {extractor.precision}, batch {batch}, "
        f"torch threads {torch.get_num_threads()}"
    )

    # model only
    tensors = [extractor.load_and_preprocess(p) for p in paths]
    extractor.embed_tensors(tensors[:batch])  # warm-up
    started = time.perf_counter()
    fp32 = np.concatenate(
        [extractor.embed_tensors(tensors[i : i + batch]) for i in range(0, n, batch)]
    )
    model_seconds = time.perf_counter() - started
    model_rate = n / model_seconds

    # end to end, then unchanged re-index
    with tempfile.TemporaryDirectory() as tmp, Library(tmp) as library:
        report = index_folders([folder], library, extractor, batch_size=batch)
        e2e_rate = report.embedded / report.seconds
        again = index_folders([folder], library, extractor, batch_size=batch)
        searcher = Searcher(library, extractor)
        self_hits = []
        for path in paths[:: max(1, n // 20)]:
            top = searcher.search(Query.of(path), SearchOptions(top_k=1)).results[0]
            self_hits.append((top.path == str(path.resolve()) or top.path == str(path), top.score))

    # decode with and without draft mode
    def decode_seconds(min_size: int | None) -> float:
        started = time.perf_counter()
        for p in paths:
            load_image(p, min_size=min_size)
        return (time.perf_counter() - started) / n

    full_decode = decode_seconds(None)
    draft_decode = decode_seconds(extractor.min_decode_size)

    result = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": torch.get_num_threads(),
        "images": n,
        "model": extractor.name,
        "weights": extractor.weights_source,
        "precision": extractor.precision,
        "batch_size": batch,
        "model_only_images_per_second": round(model_rate, 2),
        "end_to_end_images_per_second": round(e2e_rate, 2),
        "ratio": round(e2e_rate / model_rate, 3),
        "index_seconds": round(report.seconds, 2),
        "reindex_unchanged_seconds": round(again.seconds, 3),
        "reindex_unchanged_extracted": again.embedded,
        "reindex_seconds_per_1000_files": round(again.seconds / n * 1000, 3),
        "self_search_top1": sum(h for h, _ in self_hits) / len(self_hits),
        "self_search_min_score": round(min(s for _, s in self_hits), 4),
        "decode_ms_full": round(full_decode * 1000, 1),
        "decode_ms_draft": round(draft_decode * 1000, 1),
        "decode_speedup_draft": round(full_decode / draft_decode, 2),
    }

    if args.bf16:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = np.concatenate(
                [extractor.embed_tensors(tensors[i : i + batch]) for i in range(0, n, batch)]
            )
        bf16_seconds = time.perf_counter() - started
        bf16 /= np.linalg.norm(bf16, axis=1, keepdims=True)
        cosine = float(np.mean(np.sum(fp32 * bf16, axis=1)))
        k = min(10, n - 1)
        top_fp32 = np.argsort(-(fp32 @ fp32.T), axis=1)[:, 1 : k + 1]
        top_bf16 = np.argsort(-(bf16 @ bf16.T), axis=1)[:, 1 : k + 1]
        overlap = float(
            np.mean([len(set(a) & set(b)) / k for a, b in zip(top_fp32, top_bf16, strict=True)])
        )
        result.update(
            bf16_mean_cosine=round(cosine, 5),
            bf16_top10_overlap=round(overlap, 4),
            bf16_keeps_rankings=cosine >= 0.995 and overlap >= 0.95,
            bf16_images_per_second=round(n / bf16_seconds, 2),
            bf16_native=__import__(
                "image_finder.core.extractor", fromlist=["x"]
            ).cpu_has_native_bf16(),
        )

    publish(result, f"index_throughput-{extractor.name}.json")


if __name__ == "__main__":
    main()
