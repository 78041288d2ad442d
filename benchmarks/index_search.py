"""Index scale: build time, bytes per vector, single-query latency and recall, exact vs IVF,
and FAISS HNSW beside them on the same vectors.

    python -m benchmarks.index_search [--sizes 100000,1000000] [--kinds real,gaussian,clustered]
        [--hnsw-max 1000000] [--quick]

Vectors, all 768-d unit vectors (ViT-B/16's size):

* ``real``: vectors that follow real embeddings. The EfficientNet-Lite0 embeddings of the
  8,121 openclipart drawings (``benchmarks.clipart``) are projected on their 768 principal
  axes; each vector is one of them plus Gaussian noise with the drawings' own covariance
  (half its scale), so the clusters and the spread of real features are both kept;
* ``gaussian``: a Gaussian with the real features' mean and covariance (no clusters: the hard
  case for IVF);
* ``clustered``: the earlier synthetic set, 1,000 isotropic clusters (the easy case).

Each library is built through the product's own code (SQLite rows, then
``VectorIndex.optimize``, which picks the index type, trains IVF and calibrates nprobe).
Queries are 200 new points from the same distribution; recall@10 is measured against exact
search. The exact baseline (a flat inner-product index over the same vectors) and HNSW
(``IndexHNSWFlat``, M 32, efConstruction 80, efSearch 64 and 128) are timed in the same run.
Writes benchmarks/results/index_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DATA, RESULTS, machine

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


class RealLike:
    """Generators of vectors that follow the real clipart embeddings (see the docstring)."""

    def __init__(self, real: np.ndarray) -> None:
        # the 768 axes that hold most of the (uncentred) features, their mean direction first
        _, singular, axes = np.linalg.svd(real, full_matrices=False)
        self.projected = (real @ axes[:DIM].T).astype(np.float32)
        self.centre = self.projected.mean(axis=0)
        covariance = np.cov(self.projected, rowvar=False) + 1e-8 * np.eye(DIM)
        self.chol = np.linalg.cholesky(covariance).astype(np.float32)
        kept = float((singular[:DIM] ** 2).sum() / (singular**2).sum())
        print(f"real features: {real.shape}, {DIM} axes keep {kept:.1%} of their energy")

    def real(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._blocks(
            n, rng, lambda m: self.projected[rng.integers(0, len(self.projected), m)], 0.5
        )

    def gaussian(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._blocks(n, rng, lambda m: np.broadcast_to(self.centre, (m, DIM)), 1.0)

    def _blocks(self, n, rng, base, noise: float) -> np.ndarray:
        out = np.empty((n, DIM), np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            block = base(m) + noise * (rng.standard_normal((m, DIM), np.float32) @ self.chol.T)
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


def measure(name: str, vectors: np.ndarray, queries: np.ndarray, with_hnsw: bool) -> dict:
    import faiss

    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.stores.library import Library

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
                        "recall@10": round(recall(truth, found - 1), 4),
                    }
                )
            if with_hnsw:
                result["hnsw"] = hnsw(vectors, queries, truth)

    return result


def hnsw(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    started = time.perf_counter()
    index.add(vectors)
    built = time.perf_counter() - started
    out: dict = {"build_seconds": round(built, 1), "settings": []}
    for ef in (64, 128):
        index.hnsw.efSearch = ef
        times, found = timed_searches(lambda q: index.search(q, 10), queries)
        out["settings"].append(
            {
                "efSearch": ef,
                "p50_ms": p(times, 0.5),
                "p99_ms": p(times, 0.99),
                "recall@10": round(recall(truth, found), 4),
            }
        )
    # graph links: M*2 neighbours at level 0, 4-byte ids, plus the raw vectors
    out["bytes_per_vector"] = round(vectors.shape[1] * 4 + 32 * 2 * 4 * 1.1, 1)
    return out


def recall(truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kinds", default="real,gaussian,clustered")
    parser.add_argument("--hnsw-max", type=int, default=1_000_000, help="largest size for HNSW")
    parser.add_argument("--quick", action="store_true", help="20,000 clustered vectors only")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    kinds = ["clustered"] if args.quick else args.kinds.split(",")
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, DIM)).astype(np.float32)
    generators = {"clustered": lambda n, r: clustered(n, r, centres)}
    if {"real", "gaussian"} & set(kinds):
        from benchmarks import clipart

        folder = clipart.library_path("efficientnet_lite0")
        if not folder.exists():
            clipart.build("efficientnet_lite0")
        like = RealLike(clipart.labelled_vectors(folder)[1])
        generators.update(real=like.real, gaussian=like.gaussian)
    results = []
    for kind in kinds:
        queries = generators[kind](200 if not args.quick else 100, np.random.default_rng(99))
        for n in sizes:
            vectors = generators[kind](n, rng)
            results.append(measure(kind, vectors, queries, n <= args.hnsw_max))
            del vectors
            show(results[-1])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("index_search-quick.json" if args.quick else "index_search.json")
    data = {"cpu_count": os.cpu_count(), "results": results, "machine": machine()}
    out.write_text(json.dumps(data, indent=2))
    print(f"wrote {out}")


def show(r: dict) -> None:
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
    if "hnsw" in r:
        h = r["hnsw"]
        for s in h["settings"]:
            print(
                f"  HNSW ef {s['efSearch']:>4}: p50 {s['p50_ms']:7.3f} ms  "
                f"p99 {s['p99_ms']:7.3f} ms  recall@10 {s['recall@10']:.3f}  "
                f"(build {h['build_seconds']} s)"
            )


if __name__ == "__main__":
    main()
