"""Index scale: build time, bytes per vector, single-query latency and recall, exact vs IVF.

    python -m benchmarks.index_search [--sizes 20000,100000,1000000] [--quick]

Vectors: synthetic clustered 768-d unit vectors (1,000 clusters), and the real EfficientNet
embeddings cached by the quality benchmark when they are there. Each library is built through
the product's own code (SQLite rows, then ``VectorIndex.optimize``, which picks the index type,
trains IVF and calibrates nprobe). Queries are 200 new points from the same distribution;
recall@10 is measured against exact search. The exact baseline (a flat inner-product index over
the same vectors) is timed in the same run. Writes benchmarks/results/index_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.index_throughput import DATA, RESULTS

DIM = 768


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    out = np.empty((n, centres.shape[1]), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        block = centres[rng.integers(0, len(centres), m)] + 0.8 * rng.normal(
            size=(m, centres.shape[1])
        ).astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed_searches(search, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    times, found = [], []
    for q in queries:
        started = time.perf_counter()
        _, ids = search(q[None, :])
        times.append((time.perf_counter() - started) * 1000)
        found.append(ids[0])
    return times, np.array(found)


def p(values: list[float], q: float) -> float:
    return round(sorted(values)[int(q * (len(values) - 1))], 3)


def measure(name: str, vectors: np.ndarray, queries: np.ndarray) -> dict:
    import faiss

    from image_finder.core.library import Library
    from image_finder.core.records import FileFacts, NewImage

    n, dim = vectors.shape
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        started = time.perf_counter()
        with Library(Path(tmp) / "lib") as lib, lib.writing():
            info = lib.add_folder(folder)
            for start in range(0, n, 20_000):
                chunk = vectors[start : start + 20_000]
                rows = [
                    NewImage(info.id, f"{folder}/{start + i}.jpg", FileFacts(1, 1, "h"))
                    for i in range(len(chunk))
                ]
                lib.apply_changes(model="bench", added=rows, added_vectors=chunk)
            inserted = time.perf_counter() - started
            started = time.perf_counter()
            lib.vector_index.optimize()
            built = time.perf_counter() - started
            index_file = next(Path(tmp, "lib").glob("index-*.faiss"))
            bytes_per_vector = index_file.stat().st_size / n
            info = lib.vector_index.info()
            default_nprobe = info["nprobe"]

            exact = faiss.IndexFlatIP(dim)
            exact.add(vectors)
            exact_times, truth = timed_searches(lambda q: exact.search(q, 10), queries)

            def recall(found: np.ndarray) -> float:
                return float(
                    np.mean(
                        [len(set(t) & set(f)) / 10 for t, f in zip(truth, found - 1, strict=True)]
                    )
                )

            result = {
                "vectors": name,
                "n": n,
                "dim": dim,
                "index_type": info["index_type"],
                "n_regions": info["n_regions"],
                "default_nprobe": default_nprobe,
                "insert_seconds": round(inserted, 1),
                "build_seconds": round(built, 1),
                "bytes_per_vector": round(bytes_per_vector, 1),
                "memory_vs_raw_vectors": round(bytes_per_vector / (dim * 4), 3),
                "exact_p50_ms": p(exact_times, 0.5),
                "exact_p99_ms": p(exact_times, 0.99),
                "settings": [],
            }
            probes = [None] if not info["n_regions"] else [None, 1, 4, 16, 64]
            for nprobe in probes:
                times, found = timed_searches(
                    lambda q, nprobe=nprobe: lib.vector_index.search(q, 10, nprobe=nprobe), queries
                )
                result["settings"].append(
                    {
                        "nprobe": "default" if nprobe is None else nprobe,
                        "p50_ms": p(times, 0.5),
                        "p99_ms": p(times, 0.99),
                        "recall@10": round(recall(found), 4),
                    }
                )

    return result


def real_vectors() -> np.ndarray | None:
    from image_finder.core.library import Library

    for folder in sorted(DATA.glob("quality-efficientnet_lite0/copies-*")):
        with Library(folder) as lib:
            return np.concatenate([v for _, v in lib._iter_vectors()])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="20000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="20,000 vectors only")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, DIM)).astype(np.float32)
    queries = clustered(200 if not args.quick else 100, np.random.default_rng(99), centres)
    results = []
    real = real_vectors()
    if real is not None and not args.quick:
        held = np.random.default_rng(5).choice(len(real), 200, replace=False)
        mask = np.ones(len(real), bool)
        mask[held] = False
        results.append(measure("real EfficientNet-Lite0 embeddings", real[mask], real[held]))
    for n in sizes:
        results.append(measure("synthetic clustered", clustered(n, rng, centres), queries))

    for r in results:
        print(
            f"\n{r['vectors']}: {r['n']:,} x {r['dim']}  {r['index_type']}"
            + (f", {r['n_regions']} regions" if r["n_regions"] else "")
            + f"  insert {r['insert_seconds']} s, build {r['build_seconds']} s, "
            f"{r['bytes_per_vector']} B/vector ({r['memory_vs_raw_vectors']}x raw)"
        )
        print(f"  exact: p50 {r['exact_p50_ms']} ms, p99 {r['exact_p99_ms']} ms")
        for s in r["settings"]:
            print(
                f"  nprobe {s['nprobe']!s:>7}: p50 {s['p50_ms']:7.3f} ms  p99 {s['p99_ms']:7.3f} ms"
                f"  recall@10 {s['recall@10']:.3f}"
            )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("index_search-quick.json" if args.quick else "index_search.json")
    out.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
