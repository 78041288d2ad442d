"""Search by words with the library's own ImageNet head: quality and speed.

    python -m benchmarks.words [--model efficientnet_lite0] [--size 100000] [--quick]

1. Concept words over real photos: Debian's ``dataset-fashion-mnist`` (Zalando's product
   photos, 10 labelled kinds of clothing), 100 test images of each kind, enlarged to 112 px and
   indexed through the product. Each kind is searched by its everyday word; P@10 is the share
   of the top 10 that are of that kind (random: 0.10). A word the model does not know is
   reported as such, not scored.
2. openclipart categories (``benchmarks.clipart``: 8,121 drawings, a set the ImageNet model
   never trained on) searched by the name of their top folder. For each known word: average
   precision over the whole library (every image ranked by the same score the search uses) and
   P@10, against the random baseline (the category's share of the library).
3. Query latency at ``--size`` images: the clipart vectors plus noise, in a library built
   through the product's own code; ``Searcher.search`` with words, p50 and p99.

Writes benchmarks/results/words[-quick].json.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import clipart
from benchmarks.common import CPU_FLAGS, DATA, publish

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_WORDS = [  # Fashion-MNIST's labels 0-9, as a user would type them
    "t-shirt",
    "trousers",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
]
CLIPART_WORDS = {  # top folder -> the word typed for it
    "animals": "animal",
    "buildings": "building",
    "computer": "computer",
    "containers": "container",
    "decorations": "decoration",
    "education": "book",
    "electronics": "electronic equipment",
    "food": "food",
    "geography": "map",
    "household": "furniture",
    "music": "musical instrument",
    "office": "office supplies",
    "people": "person",
    "plants": "plant",
    "science": "laboratory",
    "signs_and_symbols": "sign",
    "sports": "ball",
    "tools": "tool",
    "transportation": "vehicle",
}
# "-word" on labelled photos: (words for, word against, the Fashion-MNIST kind it names)
LEAVE_OUT_CASES = [
    ("footwear", "sandal", 5),
    ("footwear", "boot", 9),
    ("footwear", "running shoe", 7),
    ("clothing", "dress", 3),
]
# the rules compared: name -> (bound, ratio) pairs; a picture is left out where, for one pair,
# the word gets the bound or more and at least ratio times what the other words get
LEAVE_OUT_RULES = {
    "0.05 alone (before)": ((0.05, 0.0),),
    "0.05 and ≥ ¼ the rest": ((0.05, 0.25),),
    "0.05 and ≥ ⅒ the rest": ((0.05, 0.1),),
    "0.05 and ≥ ¼ the rest, or 0.02 and > the rest": ((0.05, 0.25), (0.02, 1.0)),
    "0.05 and ≥ ¼ the rest, or 0.02 and ≥ 2× the rest": ((0.05, 0.25), (0.02, 2.0)),
    "0.05 and ≥ ⅒ the rest, or 0.02 and ≥ 2× the rest": ((0.05, 0.1), (0.02, 2.0)),
    "0.05 and ≥ ⅒ the rest, or 0.02 and ≥ 4× the rest": ((0.05, 0.1), (0.02, 4.0)),
    "0.05 and ≥ ¼ the rest, or 0.01 and ≥ 4× the rest": ((0.05, 0.25), (0.01, 4.0)),
}
LATENCY_WORDS = ["dog", "car", "flower", "bird -parrot", "sports car", "food", "boat", "cat"]


def fashion_set(per_kind: int) -> tuple[Path, dict[str, int]]:
    """PNG files of Fashion-MNIST test images, and each file's label."""
    from PIL import Image

    target = DATA / f"fashion-{per_kind}"
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    chosen: dict[str, int] = {}
    target.mkdir(parents=True, exist_ok=True)
    for kind in range(10):
        for i in np.flatnonzero(labels == kind)[:per_kind]:
            name = f"{kind}-{i:05d}.png"
            chosen[name] = kind
            path = target / name
            if not path.exists():
                # product photos on white, as in a shop: Fashion-MNIST stores them inverted
                picture = Image.fromarray(255 - images[i]).resize((112, 112), Image.BICUBIC)
                picture.convert("RGB").save(path)
    return target, chosen


def precision_at_10(ranked_labels: list[bool]) -> float:
    return float(np.mean(ranked_labels[:10])) if ranked_labels else 0.0


def average_precision(relevant: np.ndarray) -> float:
    hits = np.cumsum(relevant)
    if not hits[-1]:
        return 0.0
    return float((hits / np.arange(1, len(relevant) + 1) * relevant).sum() / relevant.sum())


def fashion_quality(extractor, per_kind: int) -> dict:
    from image_finder.core.common.errors import ImageFinderError
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    folder, labels = fashion_set(per_kind)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp)) as library:
        index_folders([folder], library, extractor)
        searcher = Searcher(library, extractor)
        for kind, word in enumerate(FASHION_WORDS):
            try:
                outcome = searcher.search(Query.words(word), SearchOptions(top_k=10))
            except ImageFinderError as exc:
                rows[word] = {"known": False, "message": str(exc)}
                continue
            hits = [labels[Path(r.path).name] == kind for r in outcome.results]
            rows[word] = {"known": True, "P@10": precision_at_10(hits)}
        leaving = leaving_out(
            library,
            [
                (pos, neg, lambda path, kind=kind: labels[Path(path).name] == kind)
                for pos, neg, kind in LEAVE_OUT_CASES
            ],
        )
    known = [r["P@10"] for r in rows.values() if r["known"]]
    return {
        "images": len(labels),
        "random_P@10": 0.1,
        "mean_P@10_known_words": round(float(np.mean(known)), 3) if known else None,
        "words": rows,
        "leaving_out": leaving,
    }


def leaving_out(library, cases) -> dict:
    """What ``-word`` leaves out, per rule (LEAVE_OUT_RULES). Of the named kind: the share of
    those the words alone list that are no longer listed (it should be 1). Of the other kinds:
    the share of those the other words still list (the word's classes taken out of them, no
    picture left out) that the rule drops (it should be 0); and how much their scores move."""
    from image_finder.core.embedding import words

    head = words.Head.load(library.folder, library.model or "")
    vocabulary = words.Vocabulary.imagenet()
    kept = words.LEAVE_OUT
    table = {}
    everything = library.count()
    for positive, negative, is_named in cases:
        alone = words.rank(library, head, vocabulary.require(positive), everything)
        listed = {i: s for i, s in zip(alone.ids, alone.scores, strict=True)}
        query = vocabulary.require(f"{positive} -{negative}")
        words.LEAVE_OUT = ()  # nothing left out: what the other words list
        rest = words.rank(library, head, query, everything)
        by_the_rest = dict(zip(rest.ids, rest.scores, strict=True))
        items = library.items(set(listed) | set(by_the_rest))
        named = {i for i in listed if is_named(items[i].path)}
        others = {i for i in by_the_rest if not is_named(items[i].path)}
        rows = {}
        for rule, pairs in LEAVE_OUT_RULES.items():
            words.LEAVE_OUT = pairs
            found = words.rank(library, head, query, everything)
            after = dict(zip(found.ids, found.scores, strict=True))
            moved = [abs(after[i] - listed[i]) for i in others if i in after and i in listed]
            rows[rule] = {
                "named_left_out": round(len(named - set(after)) / max(1, len(named)), 3),
                "others_lost": round(len(others - set(after)) / max(1, len(others)), 3),
                "others_median_score_change": round(float(np.median(moved)), 4) if moved else 0,
            }
        words.LEAVE_OUT = kept
        table[f"{positive} -{negative}"] = {
            "listed_by_the_words_alone": len(listed),
            "of_the_named_kind": len(named),
            "others_listed_by_the_other_words": len(others),
            "rules": rows,
        }
    return table


def clipart_quality(folder: Path) -> dict:
    from image_finder.core.embedding import words
    from image_finder.core.stores.library import Library

    with Library(folder) as library:
        head = words.Head.load(folder, library.model or "")
    if head is None:
        raise SystemExit(f"{folder} has no head (index it with this version first)")
    _, vectors, tops, _ = clipart.labelled_vectors(folder)
    vocabulary = words.Vocabulary.imagenet()
    tops_array = np.array(tops)
    rows = {}
    for top, word in CLIPART_WORDS.items():
        relevant_all = tops_array == top
        if not relevant_all.any():
            continue
        parsed = vocabulary.parse(word)
        concepts = [c for c in parsed.concepts if c.sign > 0]
        share = float(relevant_all.mean())
        if not concepts:
            rows[top] = {"word": word, "known": False, "random_AP": round(share, 4)}
            continue
        score = sum(head.log_probs(vectors, c.classes) for c in concepts)
        relevant = relevant_all[np.argsort(-score)]
        rows[top] = {
            "word": word,
            "known": True,
            "images": int(relevant_all.sum()),
            "AP": round(average_precision(relevant.astype(float)), 4),
            "P@10": precision_at_10(list(relevant)),
            "random_AP": round(share, 4),
        }
    known = [r for r in rows.values() if r["known"]]
    return {
        "images": len(vectors),
        "mAP": round(float(np.mean([r["AP"] for r in known])), 4),
        "random_mAP": round(float(np.mean([r["random_AP"] for r in known])), 4),
        "mean_P@10": round(float(np.mean([r["P@10"] for r in known])), 3),
        "categories": rows,
    }


CLIPART_LEAVE_OUT = [("animal", "bird", "birds"), ("animal", "fish", "fish"),
                     ("food", "fruit", "fruit"), ("vehicle", "boat", "boating")]  # fmt: skip


# fine-grained: kinds of one family, where the model's classes overlap (a tiger is partly "cat"
# to it, a sunflower partly "daisy")
FINE_GRAINED_LEAVE_OUT = [("feline", "big cat", "big_cats"),
                          ("feline", "domestic cat", "housecats"),
                          ("mammal", "dog", "dogs"), ("mammal", "horse", "horses"),
                          ("mammal", "bear", "bears")]  # fmt: skip


def clipart_leaving_out(folder: Path, cases: list[tuple[str, str, str]]) -> dict:
    """``-word`` on openclipart: the subfolder named by the word is what should go."""
    from image_finder.core.stores.library import Library

    with Library(folder) as library:
        root = library.folders()[0].path
        named = [
            (pos, neg, lambda path, sub=sub: f"/{sub}/" in path[len(root) :])
            for pos, neg, sub in cases
        ]
        return leaving_out(library, named)


def latency(extractor, folder: Path, size: int) -> dict:
    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    _, real, _, _ = clipart.labelled_vectors(folder)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        files = Path(tmp) / "files"
        files.mkdir()
        started = time.perf_counter()
        with Library(Path(tmp) / "lib") as library:
            with library.writing():
                info = library.add_folder(files)
                for start in range(0, size, 20_000):
                    m = min(20_000, size - start)
                    block = real[rng.integers(0, len(real), m)]
                    block = block + 0.02 * rng.standard_normal(block.shape, np.float32)
                    block /= np.linalg.norm(block, axis=1, keepdims=True)
                    rows = [
                        NewImage(info.id, f"{files}/{start + i}.png", FileFacts(1, 1, "h"))
                        for i in range(m)
                    ]
                    library.apply_changes(model=extractor.name, added=rows, added_vectors=block)
                library.vector_index.optimize()
            built = time.perf_counter() - started
            (Path(tmp) / "lib" / "head.npz").write_bytes((folder / "head.npz").read_bytes())
            searcher = Searcher(library, extractor)
            times = []
            for _ in range(3):
                for word in LATENCY_WORDS:
                    t = time.perf_counter()
                    searcher.search(Query.words(word), SearchOptions(top_k=24))
                    times.append((time.perf_counter() - t) * 1000)
            index_type = library.vector_index.info()["index_type"]
    times.sort()
    return {
        "images": size,
        "index_type": index_type,
        "build_seconds": round(built, 1),
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from image_finder.core.embedding import precision
    from image_finder.core.embedding.extractor import Extractor

    extractor = Extractor.load(args.model, device="cpu", allow_fallback=False)
    result: dict = {
        "model": args.model,
        "cpu_flags": " ".join(sorted(precision.cpu_flags() & CPU_FLAGS)),
    }
    if FASHION.is_dir():
        result["fashion_mnist"] = fashion_quality(extractor, 10 if args.quick else 100)
    else:
        result["fashion_mnist"] = "not installed: apt-get install dataset-fashion-mnist"
    folder = clipart.build(args.model, args.quick, extractor)
    result["openclipart"] = clipart_quality(folder)
    result["openclipart_leaving_out"] = clipart_leaving_out(folder, CLIPART_LEAVE_OUT)
    result["fine_grained_leaving_out"] = clipart_leaving_out(folder, FINE_GRAINED_LEAVE_OUT)
    result["latency"] = latency(extractor, folder, 5_000 if args.quick else args.size)
    publish(result, "words-quick.json" if args.quick else "words.json")


if __name__ == "__main__":
    main()
