"""Ingest the same pictures three ways, in one run: ``index`` into a library, ``index --store
milvus-lite:… --ray`` (a local Ray), and the same against a ``milvus-lite server`` on
127.0.0.1; then the catalogue's answers against the library's, and 1M vectors in Milvus.

    python -m benchmarks.scale_out [--images DIR] [--count 2000] [--model efficientnet_lite0]
        [--queries 50] [--vectors 1000000] [--parts ingest,vectors]

Pictures: the first COUNT files under DIR by the product's own image rule (default: Debian's
openclipart-png, its files of 300 kB or less so that a few 170-megapixel drawings do not decide
the figure). Each way runs in a process of its own, timed from start to exit (model load and
Ray start included), and the images/s of each are reported with the ratio to ``index``. Goal:
the Ray path within 1.3x of plain ``index`` on one machine. Each job's own rate (from its
``--json`` report: its run, without the process's start, the imports or Ray's start) is
reported beside it. All three run the model in fp32
(the Ray job's default), so that they do the same work.

*Exactness*: QUERIES of the pictures (evenly spread) search the library and the catalogue the
Ray job filled, through the one ``Searcher``: the same top-10 paths (a catalogue's ids are
its paths' hashes, a library's its row numbers) with scores within 1e-4.

*1M vectors* (``benchmarks.index_search``'s real-like generator, 768-d): upserted into Milvus
Lite with an HNSW index (M 32, efConstruction 80, as that benchmark's FAISS HNSW), beside the
library's own FAISS IVF (trained and calibrated by ``VectorIndex.optimize``) on the same
vectors and 200 queries: recall@10 against exact search, p50/p99 of one query, and memory
(the process's resident growth for Milvus Lite, which runs in-process; the index file for
FAISS, which is what it holds in RAM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CPU_FLAGS, publish

CLIPART = Path("/usr/share/openclipart/png")


def pictures(folder: Path, count: int, max_bytes: int) -> list[Path]:
    from image_finder.core.pictures.images import is_image_name

    found = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name)
                   and p.stat().st_size <= max_bytes)  # fmt: skip
    return found[:count]


JOB_RATES: dict[str, float] = {}  # each job's own images/s (its --json report)


def timed(command: list[str], way: str) -> float:
    """Seconds from start to exit; the job's own rate (its run, without the process's start,
    the model's import or Ray's) goes to JOB_RATES."""
    started = time.perf_counter()
    done = subprocess.run([*command, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    JOB_RATES[way] = json.loads(done.stdout.strip().splitlines()[-1])["images_per_second"]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=CLIPART)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--max-bytes", type=int, default=300_000)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--parts", default="ingest,vectors")
    args = parser.parse_args()
    parts = args.parts.split(",")
    from image_finder.core.embedding import precision

    result: dict[str, object] = {
        "cpu_cores": os.cpu_count(),
        "cpu_flags": " ".join(sorted(precision.cpu_flags() & CPU_FLAGS)),
        "model": args.model,
    }
    if "ingest" in parts:
        result.update(ingest(args))
    if "vectors" in parts:
        result["million"] = million_vectors(args.vectors)
    print(json.dumps(result))
    publish(result, "scale-out.json" if parts == ["ingest", "vectors"] else
            f"scale-out-{'-'.join(parts)}.json")  # fmt: skip


def ingest(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="scale-out-"))
    source = work / "pictures"
    chosen = pictures(args.images, args.count, args.max_bytes)
    for n, path in enumerate(chosen):
        target = source / f"{n // 500:03d}" / f"{n:05d}{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    cli = [sys.executable, "-m", "image_finder.cli"]
    model = ["--model", args.model, "--precision", "fp32"]
    seconds = {
        "index": timed(
            [*cli, "--data-dir", str(work / "lib"), "index", *model, str(source)], "index"
        ),
        "ray_milvus_lite_file": timed(
            [*cli, "index", "--store", f"milvus-lite:{work}/c.db", "--ray", *model, str(source)],
            "ray_milvus_lite_file",
        ),
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "milvus-lite"), "server", "--data-dir",
         str(work / "milvus"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            time.sleep(0.2)
        seconds["ray_milvus_lite_server"] = timed(
            [*cli, "index", "--store", f"milvus://127.0.0.1:{port}/bench", "--ray", *model,
             str(source)], "ray_milvus_lite_server",
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    n = len(chosen)
    result: dict[str, object] = {"pictures": n}
    for way, s in seconds.items():
        result[f"{way}_seconds"] = round(s, 1)
        result[f"{way}_images_per_second"] = round(n / s, 2)
        result[f"{way}_job_images_per_second"] = JOB_RATES[way]
    for way in ("ray_milvus_lite_file", "ray_milvus_lite_server"):
        result[f"{way}_slowdown_vs_index"] = round(seconds[way] / seconds["index"], 2)
    result["goal_slowdown"] = 1.3
    copied = sorted(source.rglob("*.*"))
    queries = copied[:: max(1, n // args.queries)][: args.queries]
    result["exactness"] = exactness(work / "lib", f"milvus-lite:{work}/c.db", queries, args.model)
    shutil.rmtree(work, ignore_errors=True)
    return result


def exactness(library_dir: Path, store: str, queries: list[Path], model: str) -> dict[str, object]:
    """The library's and the catalogue's top 10 for each query, through the one Searcher: the
    scores rank by rank, and each result found by one with the same score by the other (equal
    scores, a drawing present twice, may come in either order, and a tie at the 10th place
    may let in either: each side's top 10 is looked up in the other's top 40)."""
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.catalogue import Catalogue
    from image_finder.core.stores.library import Library

    extractor = Extractor.load(model, device="cpu", precision="fp32")
    same_order = same_results = 0
    worst = 0.0
    with Library(library_dir) as library, Catalogue(store) as catalogue:
        searchers = Searcher(library, extractor), Searcher(catalogue, extractor)
        for path in queries:
            wide = [s.search(Query.file(str(path)), SearchOptions(top_k=40)).results
                    for s in searchers]  # fmt: skip
            top = [found[:10] for found in wide]
            worst = max(worst, *(abs(x.score - y.score) for x, y in zip(*top, strict=True)))
            same_order += [r.path for r in top[0]] == [r.path for r in top[1]]
            scored = [{r.path: r.score for r in found} for found in wide]
            same_results += all(
                abs(scored[1 - side].get(r.path, -9.0) - r.score) <= 1e-4
                for side in (0, 1) for r in top[side]
            )  # fmt: skip
    return {"queries": len(queries), "same_top10": same_results,
            "same_top10_in_the_same_order": same_order,
            "max_score_difference": float(f"{worst:.2e}"),
            "exact": same_results == len(queries) and worst <= 1e-4}  # fmt: skip


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def million_vectors(n: int) -> dict[str, object]:
    """HNSW in Milvus Lite beside the library's FAISS IVF on ``n`` real-like vectors."""
    import numpy as np
    from pymilvus import DataType, MilvusClient

    from benchmarks import clipart
    from benchmarks.index_search import RealLike, measure, p, recall, timed_searches

    folder = clipart.library_path("efficientnet_lite0")
    if not folder.exists():
        clipart.build("efficientnet_lite0")
    like = RealLike(clipart.labelled_vectors(folder)[1])
    vectors = like.real(n, np.random.default_rng(0))
    queries = like.real(200, np.random.default_rng(99))
    out: dict[str, object] = {"n": n, "dim": int(vectors.shape[1]), "queries": len(queries)}
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    del exact
    work = Path(tempfile.mkdtemp(prefix="million-"))
    before = _rss_mb()
    client = MilvusClient(str(work / "m.db"))
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                    params={"M": 32, "efConstruction": 80})  # fmt: skip
    # built in the background as segments fill (a long create_index call can outlive the
    # client's keep-alive and be retried)
    client.create_collection("million", schema=schema, index_params=index)
    started = time.perf_counter()
    for start in range(0, n, 5000):
        block = vectors[start : start + 5000]
        client.insert("million", [{"id": start + i, "vector": v} for i, v in
                                  enumerate(block.tolist())])  # fmt: skip
    client.flush("million")
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    while True:
        state = client.describe_index("million", "vector")
        if int(state.get("indexed_rows", 0)) >= n and not int(state.get("pending_index_rows", 0)):
            break
        time.sleep(2)
    client.load_collection("million")
    built = time.perf_counter() - started
    client.search("million", data=queries[:20].tolist(), limit=10)  # warm
    milvus: dict[str, object] = {
        "index": client.describe_index("million", "vector").get("index_type"),
        "insert_seconds": round(inserted, 1), "build_and_load_seconds": round(built, 1),
        "memory_mb": round(_rss_mb() - before), "settings": [],
    }  # fmt: skip
    for ef in (64, 128):

        def search(q: np.ndarray, ef: int = ef) -> tuple[None, np.ndarray]:
            hits = client.search(
                "million",
                data=q.tolist(),
                limit=10,
                search_params={"metric_type": "IP", "params": {"ef": ef}},
            )
            return None, np.asarray([[h["id"] for h in row] for row in hits])  # fmt: skip

        times, found = timed_searches(search, queries)
        milvus["settings"].append({"ef": ef, "p50_ms": p(times, 0.5), "p99_ms": p(times, 0.99),  # type: ignore[union-attr]
                                   "recall@10": round(recall(truth, found), 4)})  # fmt: skip
    out["milvus_lite_hnsw"] = milvus
    client.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out), flush=True)  # Milvus first: the longer part
    faiss_ivf = measure("real", vectors, queries, with_hnsw=False)  # the library's own index
    default = faiss_ivf["settings"][0]
    out["faiss_ivf"] = {
        "index_type": faiss_ivf["index_type"], "n_regions": faiss_ivf["n_regions"],
        "nprobe": faiss_ivf["default_nprobe"], "recall@10": default["recall@10"],
        "p50_ms": default["p50_ms"], "p99_ms": default["p99_ms"],
        "build_seconds": faiss_ivf["build_seconds"],
        "memory_mb": round(faiss_ivf["bytes_per_vector"] * n / 2**20),
        "exact_p50_ms": faiss_ivf["exact_p50_ms"],
    }  # fmt: skip
    return out


if __name__ == "__main__":
    main()
