"""Hash banks, in one run: copies of known photos found by PDQ, by the model's vectors and by
both; lookups among millions of hashes; and what PDQ costs at indexing.

    python -m benchmarks.banks [--quick] [--sizes 1000000,10000000] [--unrelated N]

1. **Copy detection.** The bank holds the distinct real photos of benchmarks/photos.py
   (skimage's and Debian's wallpapers: their PDQ hashes imported as a list, the pictures
   added for the vector signal, as ``bank import`` and ``bank add`` do). Unrelated pictures
   (Debian's openclipart drawings, then Fashion-MNIST's pictures: at least 10,000) set the
   thresholds: for each signal the loosest one at which at most 1 in 10,000 of them matches
   (PDQ: never looser than the reference's 31 bits). Each photo is then edited in each way
   (JPEG q30, resized to 25%, cropped by 4% and 20%, turned 90 degrees, mirrored, greyscale,
   a text banner, a logo, brightness +30% and -30%) and matched through ``Matcher``: the
   share found, by PDQ alone, by the vectors alone (EfficientNet-Lite0), and by either.
2. **Lookups.** Banks of 1 and 10 million random hashes, with 1,000 planted ones: the import
   time of a CSV list (``bank import``), the time to make the lookup index
   (``Matcher``), the memory it takes, and single lookups' p50/p99: 1,000 planted hashes
   with up to 31 bits flipped (each must be found) and 1,000 random ones.
3. **Videos.** Known videos (slideshows of real photos, 8 s, 640x360) added to a bank with
   ``bank add`` (vPDQ, and each moment's PDQ and vector); copies re-encoded (VP9), resized to
   50%, with a logo and in greyscale matched with ``match``: the share found by vPDQ, by the
   moments' PDQ, by their vectors and by any; and unrelated videos matched by each.
4. **Cost at indexing.** 300 photos indexed with PDQ hashing and without it (twice: the
   spread of the measure), EfficientNet-Lite0 and ViT-B/16 on 2 cores; and the time of
   ``hash_of`` alone, on the pictures as indexing decodes them.

Writes benchmarks/results/banks[-quick].json with the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from benchmarks import photos as photo_set
from benchmarks.common import DATA, publish, random_vit_weights
from benchmarks.quality import banner, centre_crop, distinct, jpeg

CLIPART = Path("/usr/share/openclipart/png")
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
PER_TEN_THOUSAND = 1


def logo(image: Image.Image) -> Image.Image:
    """A broadcaster's logo in the upper right corner (a sixth of the width)."""
    out = image.copy()
    side = max(8, out.width // 6)
    mark = Image.new("RGBA", (side, side // 2), (255, 255, 255, 0))
    draw = ImageDraw.Draw(mark)
    draw.rounded_rectangle((0, 0, side - 1, side // 2 - 1), radius=side // 10,
                           fill=(220, 30, 40, 210))  # fmt: skip
    draw.text((side // 8, side // 8), "NEWS 24", fill=(255, 255, 255, 255))
    out.paste(mark, (out.width - side - out.width // 40, out.height // 40), mark)
    return out


TRANSFORMS = {
    "JPEG q30": lambda im: jpeg(im, 30),
    "resize 25%": lambda im: im.resize((max(1, im.width // 4), max(1, im.height // 4))),
    "crop 4%": lambda im: centre_crop(im, 0.96),
    "crop 20%": lambda im: centre_crop(im, 0.8),
    "rotate 90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "mirror": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "greyscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "text banner": banner,
    "logo": logo,
    "brightness +30%": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "brightness -30%": lambda im: ImageEnhance.Brightness(im).enhance(0.7),
}


def unrelated_pictures(count: int) -> list[Image.Image]:
    """Openclipart's drawings (on white), then Fashion-MNIST's pictures (upscaled 4x)."""
    from image_finder.core.pictures.images import load_image

    out: list[Image.Image] = []
    for path in sorted(CLIPART.rglob("*.png")) if CLIPART.is_dir() else []:
        if len(out) >= count:
            return out
        try:
            picture = load_image(path)
        except Exception:
            continue
        picture.thumbnail((512, 512))
        out.append(picture)
    if FASHION.exists():
        with gzip.open(FASHION) as f:
            pixels = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
        for grid in pixels[: max(0, count - len(out))]:
            out.append(Image.fromarray(grid).convert("RGB").resize((112, 112)))
    return out


def signals(pictures: list[Image.Image], extractor) -> tuple[list, np.ndarray]:
    from image_finder.core.pictures.pdq import pdq_of

    hashes = [pdq_of(p) for p in pictures]
    vectors = [extractor.embed_images(pictures[i : i + 32]) for i in range(0, len(pictures), 32)]
    return hashes, np.concatenate(vectors)


def bits(a: bytes, b: np.ndarray) -> np.ndarray:
    """Hamming distances of one hash to each row of ``b`` (n, 32)."""
    return np.unpackbits(np.bitwise_xor(b, np.frombuffer(a, np.uint8)), axis=1).sum(axis=1)


def copy_detection(quick: bool, unrelated_count: int, result: dict) -> None:
    from image_finder.core.banks.matching import Matcher, Signals
    from image_finder.core.banks.store import BankStore
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.pdq import MATCH_DISTANCE

    originals = distinct(photo_set.build(DATA / "photos-sources", None))[: 12 if quick else None]
    pictures = [load_image(p) for p in originals]
    extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="fp32")
    hashes, vectors = signals(pictures, extractor)
    codes = np.frombuffer(b"".join(h.hash for h in hashes), np.uint8).reshape(-1, 32)
    started = time.perf_counter()
    others = unrelated_pictures(unrelated_count)
    other_hashes, other_vectors = signals(others, extractor)
    seconds = time.perf_counter() - started
    nearest = np.array([bits(h.hash, codes).min() if h.matchable else 999 for h in other_hashes])
    best = (other_vectors @ vectors.T).max(axis=1)
    allowed = max(0, len(others) * PER_TEN_THOUSAND // 10_000)
    pdq_at = MATCH_DISTANCE
    while pdq_at >= 0 and int((nearest <= pdq_at).sum()) > allowed:
        pdq_at -= 1
    vector_at = float(np.sort(best)[::-1][allowed]) + 1e-4  # the (allowed+1)-th refused
    result["copies"] = {
        "bank_photos": len(originals),
        "unrelated": len(others),
        "unrelated_note": "openclipart drawings, then Fashion-MNIST pictures",
        "signals_seconds_per_unrelated": round(seconds / len(others), 4),
        "pdq_threshold": pdq_at,
        "pdq_false_matches_at_31": int((nearest <= MATCH_DISTANCE).sum()),
        "pdq_unmatchable_unrelated": int(sum(not h.matchable for h in other_hashes)),
        "vector_threshold": round(vector_at, 4),
        "vector_unrelated_best_p99": round(float(np.percentile(best, 99)), 4),
        "either_false_matches": int(((nearest <= pdq_at) | (best >= vector_at)).sum()),
        "transforms": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        banks = BankStore(tmp)
        banks.create("known", pdq_distance=max(0, pdq_at), vector_score=vector_at)
        banks.import_hashes(
            "known", ((h.hash, p.name) for h, p in zip(hashes, originals, strict=True))
        )
        banks.add_pictures("known", [(p.name, "", extractor.name, v, None)
                                     for p, v in zip(originals, vectors, strict=True)])  # fmt: skip
        matcher = Matcher(banks, ["known"], extractor.name)
        for name, transform in TRANSFORMS.items():
            edited = [transform(p) for p in pictures]
            edited_hashes, edited_vectors = signals(edited, extractor)
            by = {"pdq": 0, "vector": 0, "either": 0}
            for original, h, v in zip(originals, edited_hashes, edited_vectors, strict=True):
                found = matcher.match(original.name, None, Signals(h, v))
                kinds = {m.signal for m in found if original.name in (m.label, m.entry)}
                by["pdq"] += "pdq" in kinds
                by["vector"] += "vector" in kinds
                by["either"] += bool(kinds)
            result["copies"]["transforms"][name] = {
                k: round(n / len(originals), 3) for k, n in by.items()
            }
        banks.close()


VIDEO_EDITS = {  # (codec, scale, picture edit) of each copy
    "re-encoded (VP9)": ("libvpx-vp9", 1.0, None),
    "resized 50%": ("libx264", 0.5, None),
    "logo": ("libx264", 1.0, logo),
    "greyscale": ("libx264", 1.0, lambda im: ImageOps.grayscale(im).convert("RGB")),
}
VIDEO_SIZE = (640, 360)
VIDEO_FPS = 10


def encode(path: Path, frames, size: tuple[int, int], codec: str = "libx264") -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=VIDEO_FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libvpx-vp9":
            stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0"}
        for picture in frames:
            for packet in stream.encode(av.VideoFrame.from_image(picture.resize(size))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def slideshow(photos: list[Image.Image], seconds: float = 2.0):
    """Each photo ``seconds`` with a slow zoom, cut to the next."""
    count = round(seconds * VIDEO_FPS)
    for photo in photos:
        fitted = ImageOps.fit(photo, VIDEO_SIZE)
        for n in range(count):
            zoom = 1 + 0.08 * n / count
            w, h = fitted.size
            yield fitted.crop((0, 0, int(w / zoom), int(h / zoom)))


def decoded(path: Path):
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_image()


def video_copies(quick: bool, result: dict) -> None:
    """Known videos (slideshows of real photos) in a bank by ``bank add`` (vPDQ, and each
    moment's PDQ and vector); their copies matched by ``match``: each signal's recall, and
    its false matches among as many unrelated videos."""
    from image_finder.core.app.banks import Unreadable, add_folder, match_files
    from image_finder.core.banks.store import BankStore
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.pictures.images import load_image

    count = 3 if quick else 12
    photos = [load_image(p) for p in distinct(photo_set.build(DATA / "photos-sources", None))]
    photos = photos[: 8 * count]
    extractor = Extractor.load("efficientnet_lite0", device="cpu", precision="fp32")
    with tempfile.TemporaryDirectory() as tmp:
        known, inbox = Path(tmp) / "known", Path(tmp) / "inbox"
        known.mkdir()
        inbox.mkdir()
        started = time.perf_counter()
        for n in range(count):
            encode(known / f"v{n:02d}.mp4", slideshow(photos[4 * n : 4 * n + 4]), VIDEO_SIZE)
            other = photos[4 * (count + n) : 4 * (count + n) + 4]
            encode(inbox / f"unrelated--u{n:02d}.mp4", slideshow(other), VIDEO_SIZE)
            for edit, (codec, scale, change) in VIDEO_EDITS.items():
                frames = decoded(known / f"v{n:02d}.mp4")
                size = (int(VIDEO_SIZE[0] * scale) // 2 * 2, int(VIDEO_SIZE[1] * scale) // 2 * 2)
                suffix = ".webm" if codec == "libvpx-vp9" else ".mp4"
                encode(inbox / f"{edit}--v{n:02d}{suffix}",
                       (change(f) if change else f for f in frames), size, codec)  # fmt: skip
        made = time.perf_counter() - started
        banks = BankStore(Path(tmp) / "lib")
        banks.create("known")
        started = time.perf_counter()
        add_folder(banks, "known", str(known), extractor)
        added = time.perf_counter() - started
        started = time.perf_counter()
        found: dict[str, set[str]] = {}
        for match in match_files(banks, [str(inbox)], extractor=extractor):
            if isinstance(match, Unreadable):
                continue
            edit, original = Path(match.path).stem.split("--")
            target = match.entry if match.signal != "pdq" else match.label
            if edit == "unrelated" or target.startswith(original):
                signal = "vpdq" if match.signal == "vpdq" else f"moments by {match.signal}"
                found.setdefault(Path(match.path).name, set()).add(signal)
        matched = time.perf_counter() - started
        banks.close()
        signals = ("vpdq", "moments by pdq", "moments by vector")
        recall: dict = {}
        for edit in [*VIDEO_EDITS, "unrelated"]:
            files = [f for f in inbox.iterdir() if f.name.startswith(f"{edit}--")]
            by = {s: sum(s in found.get(f.name, set()) for f in files) for s in signals}
            by["any"] = sum(bool(found.get(f.name)) for f in files)
            recall[edit] = by if edit == "unrelated" else {
                k: round(v / len(files), 3) for k, v in by.items()}  # fmt: skip
    result["videos"] = {
        "known_videos": count,
        "seconds_each": 8,
        "size": list(VIDEO_SIZE),
        "fps": VIDEO_FPS,
        "making_seconds": round(made, 1),
        "bank_add_seconds_per_video": round(added / count, 2),
        "match_seconds_per_video": round(matched / (count * (len(VIDEO_EDITS) + 1)), 2),
        "recall": {k: v for k, v in recall.items() if k != "unrelated"},
        "unrelated_videos_matched": recall["unrelated"],
    }


def index_memory(banks) -> tuple[int, int]:
    """The bytes the lookup index of the bank's hashes holds (its tables and the hashes) and
    the most it held while being made, by tracemalloc (numpy's arrays are traced; the
    process's resident size would not say: its heap keeps what earlier parts freed)."""
    import tracemalloc

    from image_finder.core.banks.index import HashIndex

    codes, _ = banks.all_hashes([banks.get("big").id])
    tracemalloc.start()
    index = HashIndex(codes, 31)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return held + codes.nbytes, peak + codes.nbytes


def lookups(sizes: list[int], result: dict) -> None:
    from image_finder.core.app.banks import import_list
    from image_finder.core.banks.matching import Matcher, Signals
    from image_finder.core.banks.store import BankStore
    from image_finder.core.pictures.pdq import Pdq

    rng = np.random.default_rng(7)
    out = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            planted = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
            listing = Path(tmp) / "list.csv"
            started = time.perf_counter()
            with open(listing, "w") as f:
                f.write("hash,label\n")
                for start in range(0, size, 100_000):
                    chunk = rng.integers(0, 256, (min(100_000, size - start), 32), dtype=np.uint8)
                    if start == 0:
                        chunk[: len(planted)] = planted
                    f.write("".join(f"{row.tobytes().hex()},random\n" for row in chunk))
            written = time.perf_counter() - started
            banks = BankStore(tmp)
            banks.create("big")
            started = time.perf_counter()
            counted = import_list(banks, "big", str(listing))
            imported = time.perf_counter() - started
            started = time.perf_counter()
            matcher = Matcher(banks, ["big"])
            built = time.perf_counter() - started
            queries = []
            for n, row in enumerate(planted):  # up to 31 bits flipped
                flipped = np.unpackbits(row.copy())
                where = rng.choice(256, size=n % 32, replace=False)
                flipped[where] ^= 1
                queries.append((np.packbits(flipped).tobytes(), True))
            queries += [(rng.integers(0, 256, 32, dtype=np.uint8).tobytes(), False)
                        for _ in range(1000)]  # fmt: skip
            times, missed, spurious = [], 0, 0
            for digest, planted_one in queries:
                started = time.perf_counter()
                found = matcher.match("query", None, Signals(Pdq(digest, 100)))
                times.append(time.perf_counter() - started)
                missed += planted_one and not found
                spurious += (not planted_one) and bool(found)
            del matcher
            held, peak = index_memory(banks)
            banks.close()
            out[f"{size:,}"] = {
                "import_seconds": round(imported, 1),
                "list_write_seconds": round(written, 1),
                "imported": counted.added,
                "index_seconds": round(built, 1),
                "index_memory_mb": round(held / 2**20),
                "index_build_peak_mb": round(peak / 2**20),
                "lookup_ms_p50": round(float(np.percentile(times, 50)) * 1000, 3),
                "lookup_ms_p99": round(float(np.percentile(times, 99)) * 1000, 3),
                "planted_missed": int(missed),
                "random_matched": int(spurious),
            }
    result["lookups"] = out


def indexing_cost(quick: bool, result: dict) -> None:
    """Indexing the same photos with PDQ hashing and without it (``hash_of`` replaced by
    one that hashes nothing: a measurement only), and ``hash_of`` alone on the pictures as
    indexing decodes them."""
    from unittest import mock

    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.pdq import hash_of
    from image_finder.core.stores.library import Library

    count = 40 if quick else 300
    files = photo_set.build(DATA / f"photos-{count}", count)
    out: dict = {"photos": len(files)}
    for name, weights in [("efficientnet_lite0", None)] + (
        [] if quick else [("vit_base_patch16_224", random_vit_weights())]
    ):
        extractor = Extractor.load(name, device="cpu", precision="fp32", weights=weights)
        decoded = [load_image(p, min_size=extractor.min_decode_size) for p in files]
        started = time.perf_counter()
        for picture in decoded:
            hash_of(picture)
        hashing = (time.perf_counter() - started) / len(files)
        seconds = {}
        for label in ("off", "on", "off again"):  # off twice: the spread of the measure
            with contextlib.ExitStack() as stack:
                if label != "on":
                    stack.enter_context(
                        mock.patch("image_finder.core.indexing.indexer.hash_of", lambda _: b"")
                    )
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                library = stack.enter_context(Library(Path(tmp) / "lib"))
                started = time.perf_counter()
                index_folders([files[0].parent], library, extractor)
                seconds[label] = time.perf_counter() - started
        off = (seconds["off"] + seconds["off again"]) / 2
        out[name] = {
            "pdq_ms_per_photo": round(hashing * 1000, 2),
            "index_ms_per_photo_off": round(off / len(files) * 1000, 1),
            "index_ms_per_photo_on": round(seconds["on"] / len(files) * 1000, 1),
            "on_over_off": round(seconds["on"] / off, 4),
            "off_runs_differ_by": round(abs(seconds["off"] - seconds["off again"]) / off, 4),
            "pdq_alone_share_of_indexing": round(hashing * len(files) / seconds["on"], 4),
        }
    result["indexing"] = out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="")
    parser.add_argument("--unrelated", type=int, default=0)
    parser.add_argument("--only", choices=["lookups", "videos"],
                        help="that part alone (its own file)")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] or (
        [20_000] if args.quick else [1_000_000, 10_000_000]
    )
    result: dict = {"cpus": os.cpu_count()}
    if args.only:
        (lookups(sizes, result) if args.only == "lookups" else video_copies(args.quick, result))
        publish(result, f"banks-{args.only}{'-quick' if args.quick else ''}.json")
        return
    indexing_cost(args.quick, result)
    copy_detection(args.quick, args.unrelated or (400 if args.quick else 10_500), result)
    video_copies(args.quick, result)
    lookups(sizes, result)
    publish(result, f"banks{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
