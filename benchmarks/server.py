"""The HTTP API against the same search in-process, on a 100,000-image library.

    python -m benchmarks.server [--size 100000] [--queries 30] [--model vit_base_patch16_224]
        [--weights FILE] [--precision auto] [--seconds 20] [--quick]

The library holds ``--size`` items with synthetic vectors whose files are links to real photos
(as ``benchmarks.query_latency`` builds it); queries are real photos, uploaded as a client
would. The server is ``image-finder-server`` in a process of its own, on 127.0.0.1 only, with
the model and precision the in-process searcher uses. Measured in one run:

* latency: ``Searcher.search`` of the photo's bytes in this process (the baseline) against
  ``POST /api/v1/search`` with the photo as multipart upload, one at a time: p50 and p99, and
  the p50 overhead (goal: at most 30 ms);
* throughput with 1, 4 and 16 clients uploading back to back for ``--seconds`` each (goal: 16
  clients reach at least 1.8 times one client's queries/s, from micro-batching);
* memory: 64 uploads of ~5 MB photos at once; the server's peak resident memory before and
  after, and how each was answered (200, or 429 past the search queue's bound).

The load generator sends only to 127.0.0.1, a bounded number of requests, each with a timeout.
ViT-B/16 without a weights file uses random weights (timing does not depend on them).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import photos as photo_set
from benchmarks.common import CPU_FLAGS, DATA, publish, random_vit_weights
from benchmarks.query_latency import build_library

HOST = "127.0.0.1"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def big_photo(source: Path, target_bytes: int = 5 * 1024 * 1024) -> bytes:
    """A real photo enlarged (with a little grain, as a camera's) to about ``target_bytes``."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    side = 2000
    while True:
        scale = side / max(image.size)
        big = image.resize((round(image.width * scale), round(image.height * scale)))
        pixels = np.asarray(big).astype(np.int16)
        noise = np.random.default_rng(0).integers(-6, 7, pixels.shape)
        big = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
        buffer = io.BytesIO()
        big.save(buffer, "JPEG", quality=92)
        if buffer.tell() >= target_bytes or side > 8000:
            return buffer.getvalue()
        side = int(side * 1.25)


def start_server(root: Path, args: argparse.Namespace, weights: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "IMAGE_FINDER_CONFIG_DIR": str(root / "config"),
        "IMAGE_FINDER_LOG_DIR": str(root / "log"),
    }
    command = [
        sys.executable, "-m", "image_finder.server", "--host", HOST, "--port", str(port),
        "--data-dir", str(root / "library"), "--model", args.model, "--device", args.device,
        "--precision", args.precision,
    ]  # fmt: skip
    if weights:
        command += ["--weights", weights]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def wait_ready(client, base: str, headers: dict[str, str], server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode})")
        try:
            status = client.get(f"{base}/api/v1/status", headers=headers, timeout=5).json()
            if status["server"]["model_state"] == "ready":
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit("the server's model did not load in 5 minutes")


def upload(client, base: str, headers: dict[str, str], data: bytes, name: str) -> int:
    answer = client.post(
        f"{base}/api/v1/search",
        files={"image": (name, data, "image/jpeg")},
        data={"k": "24"},
        headers=headers,
        timeout=120,
    )
    return answer.status_code


def throughput(base: str, headers: dict[str, str], queries: list[tuple[str, bytes]],
               clients: int, seconds: float) -> dict[str, float]:  # fmt: skip
    """``clients`` threads uploading back to back until ``seconds`` have passed."""
    import httpx

    done: list[float] = []
    refused = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(n: int) -> None:
        nonlocal refused
        with httpx.Client() as client:
            i = n
            while time.monotonic() < stop_at:
                name, data = queries[i % len(queries)]
                started = time.perf_counter()
                status = upload(client, base, headers, data, name)
                with lock:
                    if status == 200:
                        done.append(time.perf_counter() - started)
                    else:
                        refused += 1
                i += clients

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "queries_per_s": round(len(done) / elapsed, 2),
        "latency_ms_p50": round(statistics.median(done) * 1000, 1) if done else float("nan"),
        "answered": len(done),
        "refused_429": refused,
    }


def model_cost(extractor, photos: list[Path]) -> dict[int, float]:
    """The model's time per image (ms) in batches of 1 and of the queue's largest batch: what
    no server can go below, whatever it batches."""
    from image_finder.core.search.batching import MAX_BATCH_CPU, MAX_BATCH_GPU

    largest = MAX_BATCH_CPU if extractor.device == "cpu" else MAX_BATCH_GPU
    inputs = [extractor.load_and_preprocess(p) for p in photos[:largest]]
    cost = {}
    for size in (1, largest):
        extractor.embed_tensors(inputs[:size])
        rounds = max(3, 16 // size)
        started = time.perf_counter()
        for _ in range(rounds):
            extractor.embed_tensors(inputs[:size])
        cost[size] = (time.perf_counter() - started) / rounds / size * 1000
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument(
        "--model", help="default: vit_base_patch16_224 (--quick: efficientnet_lite0)"
    )
    parser.add_argument("--weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seconds", type=float, default=20.0, help="per throughput step")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.size, args.queries, args.seconds = min(args.size, 2000), 8, 5.0
    args.model = args.model or ("efficientnet_lite0" if args.quick else "vit_base_patch16_224")

    import httpx

    from image_finder.core.embedding import precision
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.embedding.models import MODELS
    from image_finder.core.search.searcher import Query, Searcher, SearchOptions
    from image_finder.core.stores.library import Library
    from image_finder.server.tokens import TokenStore

    flags = sorted(precision.cpu_flags() & CPU_FLAGS)
    print(
        f"CPU: {os.cpu_count()} cores, flags {' '.join(flags) or 'none of ' + ' '.join(CPU_FLAGS)}"
    )
    photos = photo_set.build(DATA / "photos-300", 300)
    weights = args.weights or (random_vit_weights() if args.model == "vit_base_patch16_224" else "")
    queries = [(p.name, p.read_bytes()) for p in photos[-args.queries :]]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        build_library(root, args.size, photos, args.model, MODELS[args.model].dim)
        print(f"library of {args.size:,} items built in {time.perf_counter() - started:.1f} s")
        extractor = Extractor.load(args.model, weights=weights or None, device=args.device,
                                   precision=args.precision)  # fmt: skip
        with Library(root / "library") as library:
            if args.precision == "auto":  # what the first indexing run would do
                tensors = [
                    extractor.load_and_preprocess(p) for p in photos[: precision.CHECK_IMAGES]
                ]
                with library.writing():
                    precision.check_and_record(extractor, library, tensors)
            searcher = Searcher(library, extractor)
            options = SearchOptions(top_k=24)
            for name, data in queries[:3]:  # warm
                searcher.search(Query.image(data, name), options)
            in_process = []
            for name, data in queries:
                t = time.perf_counter()
                searcher.search(Query.image(data, name + "-again"), options)
                in_process.append(time.perf_counter() - t)
            used_precision = extractor.precision
            model_ms = model_cost(extractor, photos)
        del searcher, extractor
        print(f"in-process p50 {statistics.median(in_process) * 1000:.1f} ms ({used_precision})")

        port = free_port()
        base = f"http://{HOST}:{port}"
        os.environ["IMAGE_FINDER_CONFIG_DIR"] = str(root / "config")
        headers = {"Authorization": f"Bearer {TokenStore().main_token()}"}
        server = start_server(root, args, weights, port)
        try:
            with httpx.Client() as client:
                wait_ready(client, base, headers, server)
                server_precision = client.get(f"{base}/api/v1/status", headers=headers).json()[
                    "precision"
                ]
                for name, data in queries[:3]:
                    upload(client, base, headers, data, name)
                over_http = []
                for name, data in queries:
                    t = time.perf_counter()
                    assert upload(client, base, headers, data, name) == 200
                    over_http.append(time.perf_counter() - t)
            print(f"HTTP p50 {statistics.median(over_http) * 1000:.1f} ms")
            steps = {n: throughput(base, headers, queries, n, args.seconds) for n in (1, 4, 16)}
            for n, step in steps.items():
                print(f"{n:2d} clients: {step}")

            rss_before = peak_rss_mb(server.pid)
            big = big_photo(photos[0])
            statuses: list[int] = []

            def one(_: int) -> int:
                with httpx.Client() as client:
                    try:
                        return upload(client, base, headers, big, "big.jpg")
                    except httpx.HTTPError:
                        return -1

            with concurrent.futures.ThreadPoolExecutor(64) as pool:
                statuses = list(pool.map(one, range(64)))
            rss_after = peak_rss_mb(server.pid)
            with httpx.Client() as client:  # still answering
                alive = client.get(f"{base}/api/v1/status", headers=headers).status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=30)

    p50_in, p50_http = statistics.median(in_process), statistics.median(over_http)
    ratio = steps[16]["queries_per_s"] / steps[1]["queries_per_s"]
    result = {
        "cpu_cores": os.cpu_count(),
        "cpu_flags": " ".join(flags),
        "model": args.model,
        "precision_in_process": used_precision,
        "precision_server": server_precision,
        "library_size": args.size,
        "queries": len(queries),
        "in_process_ms_p50": round(p50_in * 1000, 1),
        "in_process_ms_p99": round(percentile(in_process, 99) * 1000, 1),
        "http_ms_p50": round(p50_http * 1000, 1),
        "http_ms_p99": round(percentile(over_http, 99) * 1000, 1),
        "http_overhead_ms_p50": round((p50_http - p50_in) * 1000, 1),
        "overhead_goal_ms": 30,
        "clients_1_qps": steps[1]["queries_per_s"],
        "clients_4_qps": steps[4]["queries_per_s"],
        "clients_16_qps": steps[16]["queries_per_s"],
        "clients_16_latency_ms_p50": steps[16]["latency_ms_p50"],
        "clients_16_refused_429": steps[16]["refused_429"],
        "ratio_16_to_1": round(ratio, 2),
        "ratio_goal": 1.8,
        "model_ms_per_image_batch_1": round(model_ms[1], 1),
        f"model_ms_per_image_batch_{max(model_ms)}": round(model_ms[max(model_ms)], 1),
        # the most queries/s the model allows, as a ratio to one client's: a bound on any
        # batching, as the model is the one part that cannot run two at a time
        "model_bound_ratio_16_to_1": round(
            1000 / min(model_ms.values()) / steps[1]["queries_per_s"], 2
        ),
        "upload_mb": round(len(big) / 1024 / 1024, 2),
        "uploads_at_once": 64,
        "answered_200": statuses.count(200),
        "answered_429": statuses.count(429),
        "answered_other": len(statuses) - statuses.count(200) - statuses.count(429),
        "server_peak_rss_mb_before": round(rss_before, 0),
        "server_peak_rss_mb_after_64_uploads": round(rss_after, 0),
        "server_answers_after": alive,
        "meets_overhead_goal": (p50_http - p50_in) <= 0.030,
        "meets_throughput_goal": ratio >= 1.8,
    }
    suffix = "-quick" if args.quick else ""
    publish(result, f"server-{args.model}{suffix}.json")


if __name__ == "__main__":
    main()
