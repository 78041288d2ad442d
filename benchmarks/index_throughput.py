"""Indexing throughput: model-only vs end-to-end ``index``, on the same images.

    python -m benchmarks.index_throughput [--model efficientnet_lite0|vit_base_patch16_224]
        [--weights FILE] [--images DIR] [--count 300] [--batch-size N] [--precision auto]
        [--quick]

* model-only: every image decoded and preprocessed beforehand, then only the forward passes
  are timed, in fp32 (the baseline) and in each faster precision this machine offers, with
  each one's mean cosine and top-10 overlap against fp32 over all the images;
* end-to-end: ``index_folders`` on a new library at ``--precision`` (default ``auto``, so the
  one-time precision check on the first photos is part of the time): scanning, reading,
  hashing, decoding, preprocessing, inference and the SQLite/FAISS writes; the ratio is
  against the fp32 model-only rate measured in the same run;
* re-index of the unchanged folder (nothing should be extracted);
* JPEG decode time with and without draft mode.

``ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`` hides native bf16 (oneDNN and ``auto`` both stop using
it), to see what ``auto`` picks on a CPU without it.

For ViT-B/16 without a weights file, random weights are used (speed does not depend on them).
Prints a table and writes ``benchmarks/results/index_throughput[-MODEL].json``.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks import photos as photo_set
from benchmarks.common import CPU_FLAGS, DATA, publish, random_vit_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--images", type=Path, help="folder of photos (default: a built set)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="auto", help="for the end-to-end run")
    parser.add_argument("--quick", action="store_true", help="40 images")
    args = parser.parse_args()
    if args.quick:
        args.count = min(args.count, 40)

    import torch

    from image_finder.core.embedding import precision
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.pictures.images import load_image
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    folder = args.images or DATA / f"photos-{args.count}"
    paths = photo_set.image_files(folder) if args.images else photo_set.build(folder, args.count)
    weights = args.weights
    if args.model == "vit_base_patch16_224" and not weights:
        weights = random_vit_weights()
    extractor = Extractor.load(
        args.model,
        weights=weights,
        device=args.device,
        precision=args.precision,
        allow_fallback=False,
    )
    batch = args.batch_size or extractor.batch_size
    n = len(paths)
    flags = sorted(precision.cpu_flags() & CPU_FLAGS)
    print(
        f"{n} images in {folder}; model {extractor.name} ({extractor.weights_source}), "
        f"{extractor.device}, batch {batch}, torch threads {torch.get_num_threads()}, "
        f"CPU flags {' '.join(flags) or 'none of ' + ' '.join(sorted(CPU_FLAGS))}"
    )

    # model only, per precision
    tensors = [extractor.load_and_preprocess(p) for p in paths]

    def model_only(kind: str) -> tuple[np.ndarray, float]:
        extractor.embed_tensors(tensors[:batch], precision=kind)  # warm-up
        started = time.perf_counter()
        vectors = np.concatenate(
            [
                extractor.embed_tensors(tensors[i : i + batch], precision=kind)
                for i in range(0, n, batch)
            ]
        )
        return vectors, n / (time.perf_counter() - started)

    fp32, model_rate = model_only("fp32")
    per_precision: dict[str, dict] = {"fp32": {"images_per_second": round(model_rate, 2)}}
    for kind in precision.candidates(extractor.device):
        vectors, rate = model_only(kind)
        cosine, overlap = precision.ranking_agreement(fp32, vectors)
        per_precision[kind] = {
            "images_per_second": round(rate, 2),
            "speedup": round(rate / model_rate, 2),
            "mean_cosine": round(cosine, 6),
            "top10_overlap": round(overlap, 4),
        }

    # end to end, then unchanged re-index
    with tempfile.TemporaryDirectory() as tmp, Library(tmp) as library:
        report = index_folders([folder], library, extractor, batch_size=batch)
        e2e_rate = report.embedded / report.seconds
        check = precision.recorded(library)
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
        "cpu_flags": " ".join(flags),
        "cpu_count": torch.get_num_threads(),
        "images": n,
        "model": extractor.name,
        "weights": extractor.weights_source,
        "batch_size": batch,
        "model_only_fp32_images_per_second": round(model_rate, 2),
        "model_only_by_precision": per_precision,
        "precision_requested": args.precision,
        "precision_used": extractor.precision,
        "precision_reason": extractor.precision_reason,
        "precision_check": [asdict(t) for t in check.trials] if check else None,
        "end_to_end_images_per_second": round(e2e_rate, 2),
        "ratio_to_fp32_model_only": round(e2e_rate / model_rate, 3),
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

    hidden = "-no-bf16" if not precision.native_bf16() and "avx512_bf16" in flags else ""
    quick = "-quick" if args.quick else ""
    publish(result, f"index_throughput-{extractor.name}-{args.precision}{hidden}{quick}.json")


if __name__ == "__main__":
    main()
