"""Searches narrowed by conditions, and re-ranking with examples to leave out, at 100,000 images.

    python -m benchmarks.conditions [--size 100000] [--queries 50] [--quick]

The library holds ``--size`` synthetic 768-d vectors in 200 clusters (an IVF index, as a real
library of that size gets) with facts spread evenly: a time taken, pixel sizes, formats and
cameras. Each query is a library item searched through ``Searcher.search`` (its stored vector:
no image decoded), k = 10:

* unfiltered, the baseline of the same run;
* with a condition matching 1%, 10% and 50% of the library: recall@10 against an exact search
  over the matching images, and p50 latency as a ratio to the baseline (goals: recall ≥ 0.95,
  1.0 at 1%; latency ≤ 1.5×);
* a new condition for every query (the matching ids found anew each time; repeated
  conditions, as Back/Forward and re-ranking ask, reuse them);
* *Not like this*: the item with one of its results to leave out (goals: p50 ≤ 100 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import CPU_FLAGS, publish

DIM = 768


def build(folder: Path, size: int) -> np.ndarray:
    """A library of ``size`` items; returns their taken_at times (seconds)."""
    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.stores.library import Library

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, DIM)).astype(np.float32)
    taken = rng.uniform(1.5e9, 1.8e9, size)
    formats = np.array(["jpeg", "png", "heic", "raw"])[rng.integers(0, 4, size)]
    with Library(folder) as library, library.writing():
        info = library.add_folder(folder.parent / "files")
        for start in range(0, size, 5000):
            n = min(size, start + 5000) - start
            rows = [
                NewImage(info.id, f"{folder.parent}/files/{i:06d}.jpg",
                         FileFacts(100_000 + i, 10**18, f"h{i}", 4000, 3000))
                for i in range(start, start + n)
            ]  # fmt: skip
            vectors = centres[rng.integers(0, 200, n)] + 0.6 * rng.normal(size=(n, DIM))
            vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
            ids = library.apply_changes(model="bench", added=rows, added_vectors=vectors)
            library.side_data.set_facts([
                (i, str(formats[start + j]), float(taken[start + j]), "Bench Camera")
                for j, i in enumerate(ids)
            ])  # fmt: skip
        library.vector_index.optimize()
    return taken


class StoredVectors:
    """A stand-in extractor: the benchmark searches by library items only."""

    name = "bench"
    dim = DIM
    device = "cpu"
    precision = "fp32"
    precision_reason = ""
    requested_precision = "fp32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.size, args.queries = 30_000, 20

    from image_finder.core.embedding import precision
    from image_finder.core.search.conditions import Conditions
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    flags = sorted(precision.cpu_flags() & CPU_FLAGS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "library"
        started = time.perf_counter()
        taken = build(folder, args.size)
        print(f"library of {args.size:,} built in {time.perf_counter() - started:.0f} s")
        with Library(folder) as library:
            info = library.vector_index.info()
            searcher = Searcher(library, StoredVectors())  # type: ignore[arg-type]
            searcher.check = lambda: None  # type: ignore[method-assign]
            rng = np.random.default_rng(1)
            query_ids = [int(i) for i in rng.integers(1, args.size + 1, args.queries)]
            items = library.items(query_ids)
            options = SearchOptions(top_k=10)
            all_ids = np.arange(1, args.size + 1)
            vectors = library.vectors(list(all_ids))

            def timed(make_query) -> tuple[float, list]:
                times, outcomes = [], []
                for i in query_ids:
                    query = make_query(items[i])
                    t = time.perf_counter()
                    outcomes.append(searcher.search(query, options))
                    times.append(time.perf_counter() - t)
                return statistics.median(times), outcomes

            for i in query_ids[:5]:  # warm: index, fact table, sample
                searcher.search(Query.item(items[i]).where(Conditions(taken_after=1.6e9)), options)
            base, _ = timed(Query.item)
            result = {
                "cpu_cores": os.cpu_count(),
                "cpu_flags": " ".join(flags),
                "library_size": args.size,
                "index": f"{info['index_type']}, {info['n_regions']} regions",
                "nprobe": info["nprobe"],
                "queries": args.queries,
                "unfiltered_ms_p50": round(base * 1000, 2),
            }
            for share in (0.01, 0.10, 0.50):
                after = float(np.quantile(taken, 1 - share))
                conditions = Conditions(taken_after=after)
                p50, outcomes = timed(lambda item, c=conditions: Query.item(item).where(c))
                matching = all_ids[taken >= after]
                recalls = []
                for i, outcome in zip(query_ids, outcomes, strict=True):
                    scores = vectors[matching - 1] @ vectors[i - 1]
                    truth = set(matching[np.argsort(-scores)[:10]].tolist())
                    recalls.append(len(truth & {r.item.id for r in outcome.results}) / 10)
                label = f"{round(share * 100)}%"
                result[f"filter_{label}_recall_at_10"] = round(float(np.mean(recalls)), 4)
                result[f"filter_{label}_ms_p50"] = round(p50 * 1000, 2)
                result[f"filter_{label}_latency_ratio"] = round(p50 / base, 2)
            # a new condition for every query: the ids are found again each time (the facts
            # table itself is read once per change of the library)
            fresh = []
            for n, i in enumerate(query_ids):
                c = Conditions(
                    taken_after=float(np.quantile(taken, 0.5 + n / (4 * len(query_ids))))
                )
                t = time.perf_counter()
                searcher.search(Query.item(items[i]).where(c), options)
                fresh.append(time.perf_counter() - t)
            result["new_condition_each_time_ms_p50"] = round(statistics.median(fresh) * 1000, 2)
            _, plain = timed(Query.item)
            second = {i: o.results[1].item for i, o in zip(query_ids, plain, strict=True)}
            rerank = []
            for i in query_ids:
                query = Query.item(items[i]).but_not(Query.item(second[i]))
                t = time.perf_counter()
                outcome = searcher.search(query, options)
                rerank.append(time.perf_counter() - t)
                assert second[i].id not in {r.item.id for r in outcome.results}
            result["not_like_this_ms_p50"] = round(statistics.median(rerank) * 1000, 2)
            result["not_like_this_goal_ms"] = 100
    publish(result, "conditions" + ("-quick" if args.quick else "") + ".json")


if __name__ == "__main__":
    main()
