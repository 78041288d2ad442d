"""Concepts learnt from examples against the searches they replace.

    python -m benchmarks.learn [--set fashion|clipart] [--model efficientnet_lite0]
        [--trials 60] [--quick]

On a labelled set (``benchmarks.examples``' two: Fashion-MNIST's 10 kinds, openclipart's 44
subfolders), each trial takes a category, gives 5, 10 or 30 of its pictures as examples, and
ranks the rest of the set (examples left out) by:

* the best single example: of the examples, the one whose similarity ranking scores best
  (an upper bound on picking one example);
* the several-examples query (core/search/examples.py: the SVM direction plus the mean);
* the concept (core/learning/concepts.py: a calibrated logistic regression against 2,000 pictures
  sampled from the set).

Average precision of the category over the held-out pictures, averaged over trials (mAP), and
the time to learn a concept from 10,000 vectors. Goal: a 10-example concept beats the
several-examples query.

The adapter (core/learning/adapter.py), on a fine-grained split: openclipart's subfolders
of 40 pictures or more, 60 of each at most (28 labels), or Fashion-MNIST's 10 kinds. 20% of
each label is held out exactly as ``image-finder-cli tune`` does; the held-out mAP@R before
and after, and the time to train on the rest and on 10,000 labelled vectors (drawn again from
the set when it has fewer). Goal: +0.15 on the fine-grained split, training in 60 s or less.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.common import CPU_FLAGS, publish
from benchmarks.examples import average_precision, clipart_set, fashion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=("fashion", "clipart"), default="fashion")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.trials = 10

    from image_finder.core.embedding import precision
    from image_finder.core.learning import concepts
    from image_finder.core.search import examples

    vectors, labels = (fashion if args.set == "fashion" else clipart_set)(args.model)
    names, counts = np.unique(labels, return_counts=True)
    categories = [n for n, c in zip(names, counts, strict=True) if c >= 40 and not n.endswith("/")]
    rng = np.random.default_rng(0)
    scores: dict[tuple[int, str], list[float]] = {}
    for trial in range(args.trials):
        category = categories[trial % len(categories)]
        members = np.flatnonzero(labels == category)
        for n in (5, 10, 30):
            if len(members) < n + 10:
                continue
            chosen = rng.choice(members, n, replace=False)
            keep = np.ones(len(vectors), bool)
            keep[chosen] = False
            x, relevant = vectors[keep], labels[keep] == category
            background_ids = rng.choice(
                np.flatnonzero(keep), min(2000, int(keep.sum())), replace=False
            )
            pos = vectors[chosen]
            best = max(average_precision(relevant[np.argsort(-(x @ p))]) for p in pos)
            query = examples.combine(
                pos, pos[:0], vectors[background_ids[: examples.BACKGROUND_SAMPLE]]
            )
            weights, bias = concepts.train(pos, vectors[background_ids])
            for name, ranking in (
                ("best single example", None),
                ("several-examples query", x @ query),
                ("concept", x @ weights + bias),
            ):
                ap = best if ranking is None else average_precision(relevant[np.argsort(-ranking)])
                scores.setdefault((n, name), []).append(ap)

    big = vectors[rng.choice(len(vectors), 10_000, replace=len(vectors) < 10_000)]
    concepts.train(big[:20], big[20:200])  # imported and warm, as in a running app
    started = time.perf_counter()
    concepts.train(big[:1000], big[1000:])
    train_seconds = time.perf_counter() - started
    result = {
        "cpu_cores": os.cpu_count(),
        "cpu_flags": " ".join(sorted(precision.cpu_flags() & CPU_FLAGS)),
        "set": args.set,
        "model": args.model,
        "images": len(vectors),
        "categories": len(categories),
        "trials": args.trials,
        **{
            f"{n} examples · {name}": round(float(np.mean(v)), 4)
            for (n, name), v in sorted(scores.items())
        },
        "concept_train_seconds_10000_vectors": round(train_seconds, 2),
        "concept_train_goal_seconds": 2,
    }
    ten = (result.get("10 examples · concept"), result.get("10 examples · several-examples query"))
    result["goal_10_example_concept_beats_the_query"] = bool(ten[0] and ten[1] and ten[0] > ten[1])
    result.update(adapter_part(vectors, labels, args.set, args.quick))
    publish(result, f"learn-{args.set}" + ("-quick" if args.quick else "") + ".json")


def adapter_part(vectors: np.ndarray, labels: np.ndarray, which: str, quick: bool) -> dict:
    from image_finder.core.learning import adapter

    if quick:  # a few rounds: the benchmark's plumbing, not its figures
        adapter.MAX_ROUNDS = 2
    rng = np.random.default_rng(1)
    names, counts = np.unique(labels, return_counts=True)
    chosen: list[int] = []
    for name, count in zip(names, counts, strict=True):
        if count >= 40 and not name.endswith("/"):
            members = np.flatnonzero(labels == name)
            chosen.extend(rng.choice(members, min(60 if which == "clipart" else 300, count),
                                     replace=False))  # fmt: skip
    x = vectors[chosen]
    y = np.unique(labels[chosen], return_inverse=True)[1]
    held = adapter.split(y, adapter.HOLD_OUT, 0)
    before = adapter.map_at_r(x[held], y[held])
    fitted = adapter.fit(x[~held], y[~held])
    assert fitted is not None
    projection = adapter.Adapter("", fitted.weights, fitted.bias, (), 0, 0, 0, 0, 0, 0)
    after = adapter.map_at_r(projection.project(x[held]), y[held])
    out = {
        "adapter_labels": int(y.max() + 1),
        "adapter_pictures": len(y),
        "adapter_held_out": int(held.sum()),
        "adapter_map_at_r_before": round(before, 4),
        "adapter_map_at_r_after": round(after, 4),
        "adapter_gain": round(after - before, 4),
        "adapter_train_seconds": round(fitted.seconds, 1),
        "adapter_goal_gain": 0.15,
    }
    if not quick:
        big = rng.choice(len(y), 10_000, replace=len(y) < 10_000)
        started = time.perf_counter()
        adapter.fit(x[big], y[big])
        out["adapter_train_seconds_10000_vectors"] = round(time.perf_counter() - started, 1)
        out["adapter_train_goal_seconds"] = 60
    return out


if __name__ == "__main__":
    main()
