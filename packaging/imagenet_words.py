"""Build image_finder/resources/imagenet_words.json: the words for the 1,000 ImageNet classes and
for every WordNet concept above them, so that a word like "dog" or "vehicle" reaches all
of its classes.

    python packaging/imagenet_words.py [--wordnet /usr/share/wordnet]

Source: WordNet 3.0 as Debian's ``wordnet-base`` package ships it (``apt-get install
wordnet-base``), the version ImageNet's class ids (``n02084071`` = noun 02084071) refer to; the
class order is timm's (``timm.data.ImageNetInfo``). The output is small (a few hundred KB) and
ships with Image Finder, so searching by words needs neither WordNet nor a network at run time.
WordNet licence: https://wordnet.princeton.edu/license-and-commercial-use (free, with notice).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).parents[1] / "image_finder" / "resources" / "imagenet_words.json"


def read_nouns(wordnet: Path) -> dict[str, tuple[list[str], list[str], str]]:
    """offset -> (lemmas, hypernym offsets, gloss) for every noun synset."""
    synsets = {}
    with open(wordnet / "data.noun", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):
                continue  # licence header
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, n_words = fields[0], int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            at = 4 + 2 * n_words
            n_pointers = int(fields[at])
            parents = []
            for i in range(n_pointers):
                symbol, target, pos = fields[at + 1 + 4 * i : at + 4 + 4 * i]
                if symbol in ("@", "@i") and pos == "n":
                    parents.append(target)
            synsets[offset] = (lemmas, parents, gloss.strip())
    return synsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    args = parser.parse_args()
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    synsets = read_nouns(args.wordnet)
    concepts: dict[str, dict] = {}
    for index in range(info.num_classes()):
        offset = info.index_to_label_name(index)[1:]
        stack, seen = [offset], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            lemmas, parents, gloss = synsets[current]
            entry = concepts.setdefault(
                current, {"lemmas": lemmas, "gloss": gloss.split(";")[0], "classes": []}
            )
            entry["classes"].append(index)
            stack.extend(parents)
    data = {
        "source": "WordNet 3.0 (Debian wordnet-base), ImageNet-1k classes in timm's order",
        "classes": [
            [lemma.strip() for lemma in info.index_to_description(i).split(",")]
            for i in range(info.num_classes())
        ],
        "concepts": dict(sorted(concepts.items())),
    }
    OUT.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    print(f"wrote {OUT}: {len(concepts)} concepts, {OUT.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
