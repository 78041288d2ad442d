"""Several examples, and examples to leave out: which way of combining them retrieves best.

    python -m benchmarks.examples [--set fashion|clipart] [--model efficientnet_lite0]
        [--trials 400] [--quick]

Two labelled sets: Debian's ``dataset-fashion-mnist`` (300 product photos of each of its 10
kinds, embedded once and kept in benchmarks/.data), and ``openclipart-png`` (indexed by
``benchmarks.clipart``; each drawing labelled by its subfolder, the 44 with at least 20
drawings: broad, mixed categories). Each trial takes a category and:

* 1 example: one drawing of it;
* 3 examples: three drawings of it;
* 3 examples + 2 negatives: the same three, and the two best-ranked drawings of *other*
  categories under the 3-example mean (what a person would mark *Not like this* first).

The rest of the library is ranked by each combination rule and scored by average precision of
the category (examples and negatives left out of the ranking); the table gives the mean (mAP).
Rules: ``mean`` (the examples' mean vector; negatives ignored), ``rocchio`` (mean(pos) −
β·mean(neg)), ``maxsim`` (max similarity to a positive − γ·max similarity to a negative) and
``svm`` (a linear SVM fitted on the fly: positives against the negatives and 64 random
drawings). Also: how often a negative's near-copy (a drawing at similarity ≥ 0.95 to a
negative) is in the top 10.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from benchmarks import clipart
from benchmarks.common import CPU_FLAGS, DATA, publish

Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def average_precision(relevant: np.ndarray) -> float:
    hits = np.cumsum(relevant)
    if hits[-1] == 0:
        return 0.0
    ranks = np.arange(1, len(relevant) + 1)
    return float((hits / ranks)[relevant].sum() / hits[-1])


def mean_rule(x: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    return x @ pos.mean(0)


def rocchio(beta: float) -> Rule:
    def rule(x: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        q = pos.mean(0) - (beta * neg.mean(0) if len(neg) else 0)
        return x @ q

    return rule


def maxsim(gamma: float) -> Rule:
    def rule(x: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        score = (x @ pos.T).max(1)
        return score - gamma * (x @ neg.T).max(1) if len(neg) else score

    return rule


def svm_rule(random_negatives: np.ndarray) -> Rule:
    from sklearn.svm import LinearSVC

    def rule(x: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        negatives = np.concatenate([neg, random_negatives]) if len(neg) else random_negatives
        data = np.concatenate([pos, negatives])
        labels = np.r_[np.ones(len(pos)), np.zeros(len(negatives))]
        model = LinearSVC(C=1.0, class_weight="balanced").fit(data, labels)
        return model.decision_function(x)

    return rule


def clipart_set(model: str) -> tuple[np.ndarray, np.ndarray]:
    folder = clipart.library_path(model)
    if not (folder / "library.sqlite3").exists():
        clipart.build(model)
    _, vectors, tops, subs = clipart.labelled_vectors(folder)
    return vectors, np.array([f"{t}/{s}" for t, s in zip(tops, subs, strict=True)])


def fashion(model: str, per_kind: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST product photos, embedded once with ``model`` (cached)."""
    from benchmarks.words import fashion_set
    from image_finder.core.embedding.extractor import Extractor

    cache = DATA / f"fashion-{per_kind}-{model}.npz"
    if not cache.exists():
        folder, kinds = fashion_set(per_kind)
        names = sorted(kinds)
        extractor = Extractor.load(model, device="cpu")
        vectors = np.concatenate([
            extractor.embed_images([folder / n for n in names[i : i + 64]])
            for i in range(0, len(names), 64)
        ])  # fmt: skip
        np.savez(cache, vectors=vectors, labels=np.array([str(kinds[n]) for n in names]))
    data = np.load(cache)
    return data["vectors"], data["labels"]


def svm_blend(random_negatives: np.ndarray) -> Rule:
    """The SVM's direction and the positives' mean direction, added: a query vector whose
    cosine reads like a similarity."""
    from sklearn.svm import LinearSVC

    def rule(x: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        negatives = np.concatenate([neg, random_negatives]) if len(neg) else random_negatives
        data = np.concatenate([pos, negatives])
        labels = np.r_[np.ones(len(pos)), np.zeros(len(negatives))]
        w = LinearSVC(C=1.0, class_weight="balanced").fit(data, labels).coef_[0]
        mean = pos.mean(0)
        q = w / np.linalg.norm(w) + mean / np.linalg.norm(mean)
        return x @ (q / np.linalg.norm(q))

    return rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=("fashion", "clipart"), default="fashion")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.trials = 60
    from image_finder.core.embedding import precision

    vectors, labels = (fashion if args.set == "fashion" else clipart_set)(args.model)
    sizes = Counter(labels)
    categories = sorted(c for c, n in sizes.items() if n >= 20 and not c.endswith("/"))
    rng = np.random.default_rng(0)
    random_negatives = vectors[rng.choice(len(vectors), 64, replace=False)]
    rules: dict[str, Rule] = {
        "mean": mean_rule,
        "rocchio β=0.25": rocchio(0.25),
        "rocchio β=0.5": rocchio(0.5),
        "rocchio β=0.75": rocchio(0.75),
        "maxsim γ=0.5": maxsim(0.5),
        "maxsim γ=1": maxsim(1.0),
        "svm": svm_rule(random_negatives),
        "svm+mean": svm_blend(random_negatives),
    }
    scores: dict[tuple[str, str], list[float]] = {}
    near_copies: Counter[str] = Counter()
    started = time.perf_counter()
    for trial in range(args.trials):
        category = categories[trial % len(categories)]
        members = np.flatnonzero(labels == category)
        chosen = rng.choice(members, 3, replace=False)
        mean_scores = vectors @ vectors[chosen].mean(0)
        order = np.argsort(-mean_scores)
        negatives = np.array([i for i in order if labels[i] != category][:2])
        for setting, pos_ids, neg_ids in (
            ("1 example", chosen[:1], np.array([], np.int64)),
            ("3 examples", chosen, np.array([], np.int64)),
            ("3 examples + 2 negatives", chosen, negatives),
        ):
            keep = np.ones(len(vectors), bool)
            keep[pos_ids] = False
            keep[neg_ids] = False
            x, relevant_all = vectors[keep], labels[keep] == category
            for name, rule in rules.items():
                plain = name in ("mean", "svm", "svm+mean")
                if setting != "3 examples + 2 negatives" and not plain:
                    continue  # without negatives the rules are the mean (maxsim: its own)
                ranked = np.argsort(-rule(x, vectors[pos_ids], vectors[neg_ids]))
                scores.setdefault((setting, name), []).append(
                    average_precision(relevant_all[ranked])
                )
                if len(neg_ids):
                    near = (x[ranked[:10]] @ vectors[neg_ids].T).max(1) >= 0.95
                    near_copies[name] += int(near.any())
            if setting == "3 examples":
                ranked = np.argsort(-maxsim(0)(x, vectors[pos_ids], vectors[neg_ids]))
                scores.setdefault((setting, "maxsim"), []).append(
                    average_precision(relevant_all[ranked])
                )
    seconds = time.perf_counter() - started
    table = {
        f"{setting} · {rule}": round(float(np.mean(v)), 4) for (setting, rule), v in scores.items()
    }
    one = table["1 example · mean"]
    default = "svm+mean"
    result = {
        "cpu_cores": os.cpu_count(),
        "cpu_flags": " ".join(sorted(precision.cpu_flags() & CPU_FLAGS)),
        "set": args.set,
        "model": args.model,
        "images": len(vectors),
        "categories": len(categories),
        "trials": args.trials,
        **table,
        **{f"negative near-copies in top 10 · {k}": v for k, v in near_copies.items()},
        "default": default,
        "default_gain_3_examples_over_1": round(table[f"3 examples · {default}"] - one, 4),
        "default_gain_3_plus_2_negatives_over_1": round(
            table[f"3 examples + 2 negatives · {default}"] - one, 4
        ),
        "seconds": round(seconds, 1),
    }
    publish(result, f"examples-{args.set}" + ("-quick" if args.quick else "") + ".json")


if __name__ == "__main__":
    main()
