"""Watched folders: how soon a photo copied in is searchable, how many jobs a large copy takes,
and that renaming a folder re-embeds nothing, in a library of 10,000 images.

    python -m benchmarks.watch_latency [--library 10000] [--copies 10] [--bulk 1000]
        [--model efficientnet_lite0] [--quick]

The pipeline is the product's: a FolderWatcher, each batch applied by ``index_folders`` as
``image-finder-cli watch`` applies it (the window runs the same on its index thread). The
library's other 10,000 images are real files (hard links of the photo set, spread over 100
folders) registered with vectors near the real ones, so that indexing sees them unchanged.
Latency: from the copy starting to the copy being among the results of a search of it. Baseline, in
the same run: embedding the same photo alone. Streams: photos written at 1 and 5 a second (a
tethered camera, a sync client) for ``--stream`` seconds; from each file's last byte to its
entry in the library, p50 and max, while the stream goes on.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import photos as photo_set
from benchmarks.common import DATA, publish, random_vit_weights


def build_library(library, root: Path, photos: list[Path], n: int, extractor) -> None:
    from image_finder.core.common.records import FileFacts, NewImage
    from image_finder.core.indexing.indexer import index_folders

    seeds = root / "seeds"
    seeds.mkdir()
    for p in photos:
        photo_set.place(p, seeds / p.name)
    index_folders([seeds], library, extractor)
    real = library.vectors([r.id for f in library.folders() for r in library.folder_rows(f.id)])
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.layout import signature

    layouts = [signature(load_image(p, min_size=extractor.min_decode_size)) for p in photos]
    rng = np.random.default_rng(0)
    archive = root / "archive"
    with library.writing():
        info = library.add_folder(archive)
        for start in range(0, n, 100):
            folder = archive / f"{start // 100:03d}"
            folder.mkdir(parents=True)
            records = []
            for i in range(start, min(n, start + 100)):
                path = folder / f"IMG_{i:05d}.jpg"
                os.link(photos[i % len(photos)], path)
                st = os.stat(path)
                layout = layouts[i % len(photos)]  # as indexing would have stored it
                facts = FileFacts(st.st_size, st.st_mtime_ns, f"a{i}", layout=layout)
                records.append(NewImage(info.id, str(path), facts))
            vectors = real[rng.integers(0, len(real), len(records))] + 0.03 * rng.normal(
                size=(len(records), real.shape[1])
            ).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            library.apply_changes(model=extractor.name, added=records, added_vectors=vectors)
        library.vector_index.optimize()


class Pipeline:
    """A watcher and a thread that applies its batches, as ``image-finder-cli watch`` does."""

    def __init__(self, library, extractor, folders: list[str]) -> None:
        from image_finder.core.indexing.watch import FolderWatcher

        self.library, self.extractor = library, extractor
        self.batches: queue.Queue = queue.Queue()
        self.reports: list = []
        self.roots: list = []  # the roots of each report's batch
        self.applying = False  # a batch is being indexed (its report comes when it ends)
        self.stop = threading.Event()
        self.watcher = FolderWatcher(folders, self.batches.put)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from image_finder.core.indexing.indexer import index_folders
        from image_finder.core.indexing.watch import merge_batches

        while not self.stop.is_set():
            try:
                taken = [self.batches.get(timeout=0.05)]
            except queue.Empty:
                continue
            while not self.batches.empty():  # what came meanwhile: one run, as the CLI does
                taken.append(self.batches.get_nowait())
            batch = merge_batches(taken)
            self.applying = True
            self.roots.append(batch.roots)
            self.reports.append(
                index_folders(
                    list(batch.roots),
                    self.library,
                    self.extractor,
                    unsettled=batch.unsettled,
                    settle=batch.settle,
                    backup=False,
                )
            )
            self.applying = False

    def __enter__(self) -> Pipeline:
        self.watcher.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.watcher.stop()


def stream(library, photos: list[Path], folder: Path, rate: float, count: int) -> dict:
    """``count`` photos written into ``folder`` at ``rate`` a second, each as a camera or a
    sync client writes it (in parts, over 0.2 s); the seconds from each file's last byte to its
    entry in the library (searchable), while the stream goes on."""
    folder.mkdir()
    done: dict[int, float] = {}
    written: dict[int, float] = {}
    stop = threading.Event()

    def watch_library() -> None:
        while not stop.is_set() or len(done) < len(written):
            for n, when in list(written.items()):
                if n not in done and library.item_by_path(folder / f"shot-{n:04d}.jpg"):
                    done[n] = time.perf_counter() - when
            time.sleep(0.02)

    monitor = threading.Thread(target=watch_library, daemon=True)
    monitor.start()
    started = time.perf_counter()
    for n in range(count):
        data = photos[(n * 11) % len(photos)].read_bytes()
        with open(folder / f"shot-{n:04d}.jpg", "wb") as f:
            for part in range(4):
                f.write(data[part * len(data) // 4 : (part + 1) * len(data) // 4])
                f.flush()
                time.sleep(0.05)
        written[n] = time.perf_counter()
        time.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
    stream_seconds = time.perf_counter() - started
    during = sum(1 for n in done if written[n] + done[n] <= started + stream_seconds)
    stop.set()
    monitor.join(timeout=60)
    latencies = sorted(done.values())
    return {
        "files_per_second": rate,
        "files": count,
        "stream_seconds": round(stream_seconds, 1),
        "searchable_while_the_stream_went_on": during,
        "p50_s": round(statistics.median(latencies), 2),
        "max_s": round(max(latencies), 2),
        "missing": count - len(latencies),
    }


def _indexed_at(library) -> dict[str, float]:
    ids = [r.id for f in library.folders() for r in library.folder_rows(f.id)]
    return {item.path: item.indexed_at for item in library.items(ids).values()}


def wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for the watcher ({condition})")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", type=int, default=10_000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--stream", type=float, default=40.0, help="seconds of each stream")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.library, args.copies, args.bulk, args.stream = 500, 3, 60, 8.0

    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library

    photos = photo_set.build(DATA / "photos-300", 300)
    weights = random_vit_weights() if args.model == "vit_base_patch16_224" else None
    extractor = Extractor.load(args.model, weights=weights, device="cpu", allow_fallback=False)
    result: dict = {"model": extractor.name}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        library = Library(root / "library")
        build_library(library, root, photos, args.library, extractor)
        incoming = root / "archive" / "incoming"
        incoming.mkdir()
        result["library_images"] = library.count()
        searcher = Searcher(library, extractor)
        baseline, latencies = [], []
        last: list = []
        with Pipeline(library, extractor, [str(root / "archive")]) as pipeline:
            for n in range(args.copies):
                source = photos[(n * 7) % len(photos)]
                t = time.perf_counter()
                extractor.embed_images([source])
                baseline.append(time.perf_counter() - t)
                target = incoming / f"copy-{n:03d}{source.suffix}"
                started = time.perf_counter()
                shutil.copy(source, target)

                def searchable(target=target) -> bool:
                    if library.item_by_path(target) is None:
                        return False
                    hits = searcher.search(Query.file(target), SearchOptions(top_k=5)).results
                    last[:] = [(h.path, h.score) for h in hits]
                    return any(h.path == str(target) for h in hits)

                try:
                    wait_for(searchable, 30)
                except SystemExit:
                    raise SystemExit(f"{target} not found first: {last}") from None
                latencies.append(time.perf_counter() - started)

            bulk = root / "card"
            bulk.mkdir()
            for i in range(args.bulk):
                shutil.copy(photos[i % len(photos)], bulk / f"DSC_{i:05d}.jpg")
            jobs_before = len(pipeline.reports)
            added_before = library.count()
            started = time.perf_counter()
            shutil.copytree(bulk, root / "archive" / "card")
            wait_for(
                lambda: library.count() == added_before + args.bulk and pipeline.batches.empty()
            )
            time.sleep(2)  # anything still to come would show as another job
            bulk_jobs = len(pipeline.reports) - jobs_before
            bulk_seconds = time.perf_counter() - started

            streams = [
                stream(library, photos, root / "archive" / f"tether-{rate:g}", rate,
                       int(rate * args.stream))
                for rate in (1.0, 5.0)
            ]  # fmt: skip

            # the streams' last batch reports when it ends: the rename's jobs come after it
            wait_for(lambda: pipeline.batches.empty() and not pipeline.applying)
            time.sleep(2)
            reports_before = len(pipeline.reports)
            before = _indexed_at(library)
            rename_started = time.time()
            os.rename(root / "archive" / "card", root / "archive" / "card 2026")
            wait_for(lambda: library.item_by_path(root / "archive" / "card 2026" / "DSC_00000.jpg"))
            time.sleep(2)
            renamed = list(
                zip(
                    pipeline.reports[reports_before:], pipeline.roots[reports_before:], strict=False
                )  # one in flight has no report yet
            )
            after = _indexed_at(library)
            again = sorted(
                os.path.relpath(p, root) for p, t in after.items() if before.get(p, t) != t
            )
            again += sorted(  # re-embedded where it went: a move not seen as one
                os.path.relpath(p, root)
                for p, t in after.items()
                if p not in before and "card 2026" in p and t > rename_started
            )
        library.close()

    result.update(
        {
            "copy_to_searchable_p50_s": round(statistics.median(latencies), 2),
            "copy_to_searchable_max_s": round(max(latencies), 2),
            "baseline_embed_one_photo_s": round(statistics.median(baseline), 3),
            "bulk_files": args.bulk,
            "bulk_jobs": bulk_jobs,
            "bulk_seconds": round(bulk_seconds, 1),
            "rename_jobs": len(renamed),
            "rename_embedded": sum(r.embedded for r, _ in renamed),
            "rename_moved": sum(r.moved for r, _ in renamed),
            "rename_embedded_files": again[:10],
            "rename_reports": [
                {
                    "roots": [os.path.basename(r) for r in roots],
                    "added": r.added,
                    "updated": r.updated,
                    "moved": r.moved,
                    "removed": r.removed,
                }
                for r, roots in renamed
            ],
            "streams": streams,
            "meets_targets": bool(
                statistics.median(latencies) <= 2
                and max(latencies) <= 5
                and bulk_jobs <= 5
                and sum(r.embedded for r, _ in renamed) == 0
                and all(s["p50_s"] <= 2.5 and not s["missing"] for s in streams)
            ),
        }
    )
    publish(result, f"watch_latency-{extractor.name}{'-quick' if args.quick else ''}.json")


if __name__ == "__main__":
    main()
