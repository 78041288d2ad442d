"""Indexing into a catalogue (core/stores/catalogue.py) with a Ray Data job: the same code on this
machine, a Ray cluster or KubeRay.

Pipeline: list the files (a local folder or any ``pyarrow.fs`` URI: ``s3://``, ``gs://``) →
skip those unchanged (path, size and mtime against the catalogue) → read and decode in CPU
tasks, with the core's safe decoder and its skip reasons, resized and cropped as the model's
spec says into 8-bit pixels (no torch in them, nor in the driver) → embed in an
``ActorPoolStrategy`` of model actors (one GPU each where there are GPUs) → upsert
into Milvus from the driver, in calls of at most 40 MB. The key is the path, so a batch Ray
retries writes the same rows, and a cancelled or killed job leaves what it upserted: running
it again continues.

The model's weights reach the actors from a local file shipped through Ray's object store,
never from a hub at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from image_finder.core.common import heap
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.faults import checkpoint
from image_finder.core.common.paths import inside
from image_finder.core.embedding.models import ModelSpec, model_spec
from image_finder.core.indexing.progress import IndexPhase, IndexProgress
from image_finder.core.indexing.scale_videos import SEGMENT_SECONDS, Gatherer, work_items
from image_finder.core.pictures.scanning import OUTSIDE, Skipped, is_indexed_name
from image_finder.core.pictures.steps import PictureSteps
from image_finder.core.stores.catalogue import Catalogue, CatalogueRow

log = logging.getLogger(__name__)

DECODE_BATCH = 16


@dataclass
class ScaleOutReport:
    found: int = 0
    unchanged: int = 0
    embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    matches: list[dict[str, Any]] = field(default_factory=list)  # in watched banks, recorded

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "unchanged": self.unchanged,
            "embedded": self.embedded,
            "skipped": [s.to_json() for s in self.skipped],
            "seconds": round(self.seconds, 2),
            "images_per_second": round(self.images_per_second, 2),
            "cancelled": self.cancelled,
            **({"matches": self.matches} if self.matches else {}),
        }


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address``, or start one on this machine, on 127.0.0.1."""
    # Ray would otherwise report usage statistics to its makers: nothing leaves this machine
    # but what the job sends to the cluster it names
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # a busy two-core machine can take longer than Ray's default to start its raylet
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    import ray

    if ray.is_initialized():
        return
    for attempt in (1, 2):
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                with _heap_for_workers():
                    ray.init(address="local", _node_ip_address="127.0.0.1",
                             include_dashboard=False, num_cpus=num_cpus or os.cpu_count(),
                             log_to_driver=False)  # fmt: skip
            return
        except Exception as exc:  # Ray raises plain Exception when its node times out
            ray.shutdown()
            if attempt == 2:
                where = address or "this machine"
                raise ImageFinderError(f"Ray could not start on {where}: {exc}") from exc
            log.warning("Ray did not start (%s); trying once more", exc)


def stop_ray() -> None:
    """Leave the Ray cluster (a local one stops)."""
    global _local_workers_have_heap
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _local_workers_have_heap = False


_local_workers_have_heap = False


@contextmanager
def _heap_for_workers() -> Iterator[None]:
    """A local Ray's raylet, and so each worker it starts (the ones it starts ahead included),
    inherits this environment: their C heap keeps the model's freed blocks (common/heap.py)."""
    global _local_workers_have_heap
    saved = {name: os.environ.get(name) for name in heap.ENVIRONMENT}
    os.environ.update(heap.ENVIRONMENT)
    try:
        yield
        _local_workers_have_heap = True
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def list_sources(sources: Sequence[str]) -> tuple[list[tuple[str, int, int]], list[str]]:
    """(path, size, mtime_ns) of every picture and video under ``sources`` (folders or
    pyarrow.fs URIs), and the folders they name."""
    import pyarrow.fs as pafs

    files: list[tuple[str, int, int]] = []
    roots: list[str] = []
    for source in sources:
        if "://" in source:
            fs, base = pafs.FileSystem.from_uri(source)
            root = source.rstrip("/")
        else:
            fs, base = pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(source))
            root = base
            if not os.path.isdir(base):
                raise ImageFinderError(f"not a folder: {source}")
        roots.append(root)
        selector = pafs.FileSelector(base, recursive=True)
        real_base = os.path.realpath(base) if "://" not in source else ""
        for info in fs.get_file_info(selector):
            if info.type == pafs.FileType.File and is_indexed_name(info.base_name):
                if real_base and not inside(os.path.realpath(info.path), real_base):
                    log.warning("%s: %s", info.path, OUTSIDE)  # a link out of the folder
                    continue
                path = info.path if "://" not in source else _uri(source, base, info.path)
                files.append((path, int(info.size or 0), int(info.mtime_ns or 0)))
    return sorted(files), roots


def _uri(source: str, base: str, path: str) -> str:
    scheme = source.split("://", 1)[0]
    return f"{scheme}://{path}" if not path.startswith(f"{scheme}://") else path


def _read(path: str) -> tuple[bytes, int, int]:
    if "://" not in path:
        from image_finder.core.pictures.images import read_file

        return read_file(path)
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(path)
    with fs.open_input_file(inner) as f:
        data = f.read()
    info = fs.get_file_info(inner)
    return data, len(data), int(info.mtime_ns or 0)


def split_transform(transform: Any) -> tuple[Any, Any]:
    """(the picture steps, the tensor steps) of the model's transform: the decode tasks resize
    and crop into 8-bit pixels, a quarter of the float tensor's bytes through Ray's object
    store, and the actors make the tensor as ``index`` does. A resize of the shorter side and
    a centre crop become :class:`PictureSteps` (Pillow only). (transform, None) when it is not
    picture steps then to-tensor/normalize."""
    steps = list(getattr(transform, "transforms", []))
    names = [type(step).__name__ for step in steps[-2:]]
    if len(steps) < 3 or names[0] not in ("ToTensor", "MaybeToTensor") or names[1] != "Normalize":
        return transform, None
    tensor_steps = type(transform)(steps[-2:])
    picture = steps[:-2]
    if [type(step).__name__ for step in picture] == ["Resize", "CenterCrop"]:
        resize, crop = picture
        size = resize.size if isinstance(resize.size, int) else list(resize.size)
        short = size if isinstance(size, int) else size[0] if len(size) == 1 else None
        if short is not None and resize.max_size is None and min(crop.size) <= short:
            from torchvision.transforms.functional import pil_modes_mapping

            resample = pil_modes_mapping[resize.interpolation]
            crop_size = (int(crop.size[0]), int(crop.size[-1]))
            return PictureSteps(int(short), crop_size, int(resample)), tensor_steps
    return type(transform)(picture), tensor_steps


def decode_batch(
    batch: dict[str, Any], steps: PictureSteps, min_size: int, read: bool = False
) -> dict[str, Any]:
    """CPU task: each file read and decoded as ``index`` does, then resized and cropped by the
    model's picture steps into 8-bit pixels (empty, with a reason, for a file that cannot be);
    a segment of a file with parts makes a row per part (core/indexing/scale_videos.py).
    ``read``: the text written in each picture read too (core/indexing/texts.py)."""
    from image_finder.core.common.errors import ImageLoadError
    from image_finder.core.indexing.scale_videos import decode_segment
    from image_finder.core.indexing.texts import item_text
    from image_finder.core.pictures.images import image_size, is_raw_name, load_image
    from image_finder.core.pictures.layout import signature
    from image_finder.core.pictures.pdq import hash_of

    keys = ("path", "size", "mtime_ns", "hash", "width", "height", "layout", "tensor", "error",
            "part", "segment", "segments", "in_segment", "text", "text_source",
            "pdq")  # fmt: skip
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for n, path in enumerate(batch["path"]):
        path = str(path)
        if bool(batch["parts"][n]):
            item = {k: batch[k][n] for k in ("path", "start", "end", "segment", "segments")}
            for row in decode_segment(item, steps, read):
                for key in keys:
                    out[key].append(row[key])
            continue
        for key, whole in (("part", ""), ("segment", 0), ("segments", 1), ("in_segment", 1)):
            out[key].append(whole)
        said, pdq = ("", ""), b""
        try:
            data, size, mtime = _read(path)
            raw = is_raw_name(path)
            image = load_image(data, min_size=min_size, raw=raw)
            width, height = (None, None) if raw else image_size(data) or (None, None)
            tensor = np.asarray(steps(image))  # uint8 HxWx3
            facts = (size, mtime, hashlib.blake2b(data, digest_size=16).hexdigest(), width,
                     height, signature(image), tensor, "")  # fmt: skip
            pdq = hash_of(image)
            if read:  # the picture at its own size: text needs more pixels than the model
                said = item_text(path, None, load_image(data, raw=raw), data)
        except ImageLoadError as exc:
            facts = (0, 0, "", None, None, b"", np.zeros(0, np.uint8), exc.reason)
        except Exception as exc:  # one bad file never stops the job
            reason = f"cannot be read ({exc})"
            facts = (0, 0, "", None, None, b"", np.zeros(0, np.uint8), reason)
        out["path"].append(path)
        out["text_source"].append(said[0])
        out["text"].append(said[1])
        out["pdq"].append(pdq)
        for key, value in zip(("size", "mtime_ns", "hash", "width", "height", "layout", "tensor",
                               "error"), facts, strict=True):  # fmt: skip
            out[key].append(value)
    out["width"] = [w or 0 for w in out["width"]]
    out["height"] = [h or 0 for h in out["height"]]
    out["shape"] = [np.asarray(t.shape if t.size else (0, 0, 0), np.int64) for t in out["tensor"]]
    out["tensor"] = [t.ravel() for t in out["tensor"]]
    return out


class EmbedActor:
    """A model in a Ray actor: loaded once (its weights from the object store, or bundled),
    then each batch of decoded tensors embedded on the actor's device."""

    def __init__(
        self,
        model: str,
        weights: Any,
        device: str | None,
        precision: str,
        threads: int,
        steps: PictureSteps,
    ) -> None:
        import ray
        import torch

        from image_finder.core.embedding.extractor import Extractor

        torch.set_num_threads(threads)  # Ray gives a worker one thread unless told otherwise

        path = None
        if weights is not None:
            data = ray.get(weights) if isinstance(weights, ray.ObjectRef) else weights
            with tempfile.NamedTemporaryFile(suffix=".weights", delete=False) as handle:
                handle.write(data)
            path = handle.name
        self.extractor = Extractor.load(model, weights=path, device=device or "auto",
                                        precision=precision, allow_fallback=False)  # fmt: skip
        picture, self.finish = split_transform(self.extractor.transform)
        if picture != steps:  # the decode tasks prepared the pictures for another transform
            raise ImageFinderError(f"{model}: its transform is not {steps} but {picture}")

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:

        checkpoint("ray_actor_embedding")  # a worker lost mid-job (tests)
        ok = [i for i, e in enumerate(batch["error"]) if not e and len(batch["tensor"][i])]
        vectors = np.zeros((len(batch["path"]), self.extractor.dim), np.float32)
        if ok:
            tensors = [self.tensor_of(batch["tensor"][i], batch["shape"][i]) for i in ok]
            vectors[ok] = self.extractor.embed_tensors(tensors)
        batch = {k: v for k, v in batch.items() if k not in ("tensor", "shape")}
        batch["vector"] = list(vectors)
        return batch

    def tensor_of(self, flat: np.ndarray, shape: np.ndarray) -> Any:
        """The model's input from the 8-bit pixels a decode task shipped, as ``index`` makes it."""
        from PIL import Image

        array = np.asarray(flat, np.uint8).reshape(tuple(int(d) for d in shape))
        return self.finish(Image.fromarray(array, "RGB"))


def job_model(model: str, weights: str | None) -> ModelSpec:
    """The spec of the model a job embeds with; an error, before anything starts, where the
    actors would need weights from a hub."""
    spec = model_spec(model)
    if weights is None and not spec.bundled_weights:
        raise ImageFinderError(
            f"the Ray job's actors load {spec.title} from a local file, never from a hub: "
            "name it with --weights FILE"
        )
    if weights is not None and not os.path.isfile(weights):
        raise ImageFinderError(f"weights file not found: {weights}")
    return spec


def index_with_ray(
    catalogue: Catalogue,
    sources: Sequence[str],
    *,
    model: str,
    weights: str | None = None,
    device: str | None = None,
    precision: str = "fp32",
    actors: int | None = None,
    progress: Callable[[IndexProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    segment_seconds: float = SEGMENT_SECONDS,
    read_text: bool = False,
    written: Callable[[Sequence[CatalogueRow]], None] = lambda rows: None,
) -> ScaleOutReport:
    """Index ``sources`` into ``catalogue`` with Ray Data (Ray already started: start_ray);
    ``read_text``: the text written in the pictures read too, for the catalogue to search (a
    catalogue made before it could keep text takes none). ``written`` is given each batch of
    rows once the catalogue holds them (the watched banks' check)."""
    import ray

    started = time.perf_counter()
    report = ScaleOutReport()
    files, roots = list_sources(sources)
    report.found = len(files)
    stamps = catalogue.stamps([p for p, _, _ in files])
    todo = [(p, s, m) for p, s, m in files if stamps.get(p) != (s, m)]
    report.unchanged = len(files) - len(todo)
    catalogue.add_folders(roots)
    if not todo:
        report.seconds = time.perf_counter() - started
        return report
    # the driver needs no model: what the catalogue records and how the decode tasks prepare
    # the pictures are the model's spec, torch-free; each actor checks its transform against it
    spec = job_model(model, weights)
    catalogue.check_model(spec.name, spec.dim)
    steps, min_size = spec.data.picture_steps(), spec.data.min_decode_size
    shipped = None
    if weights:
        with open(weights, "rb") as f:
            shipped = ray.put(f.read())
    resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
    gpus = int(resources.get("GPU", 0))
    pool = actors or max(1, gpus or 1)
    # Without GPUs the model shares the CPUs with the decoding, as index does: each actor
    # reserves half of its share of the CPUs (so that Ray runs the decode tasks beside it) but
    # runs torch on all of its share, which the decoding leaves to it once the files are read.
    # On GPUs, one CPU each.
    cpus = int(resources.get("CPU", 1))
    reserved = 1 if gpus else max(1, cpus // (2 * pool))
    threads = 1 if gpus else max(1, cpus // pool)
    # the workers' C heap keeps the model's freed blocks, as this process's does (common/heap.py):
    # a local Ray's workers have it from its start; on a cluster, through the runtime environment
    # (which starts workers of its own)
    workers = None if _local_workers_have_heap else {"env_vars": dict(heap.ENVIRONMENT)}
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the job reports its own progress
    context.print_on_execution_start = False
    batch = 64 if gpus else 16  # the model's batch, as index's (Extractor.batch_size)
    data = ray.data.from_items(work_items([p for p, _, _ in todo], segment_seconds))
    decoded = data.map_batches(
        decode_batch,  # type: ignore[arg-type]
        batch_size=DECODE_BATCH,
        fn_kwargs={"steps": steps, "min_size": min_size,
                   "read": read_text and catalogue.keeps_texts},
        num_cpus=0.5, runtime_env=workers,
    )  # fmt: skip
    embedded = decoded.map_batches(
        EmbedActor, batch_size=batch, compute=ray.data.ActorPoolStrategy(size=pool),
        fn_constructor_kwargs={"model": model, "weights": shipped, "device": device,
                               "precision": precision, "threads": threads, "steps": steps},
        num_gpus=1 if gpus else 0, num_cpus=reserved, runtime_env=workers,
    )  # fmt: skip
    gatherer = Gatherer()  # a video's moments come whole, from all its segments' tasks
    done = 0
    for rows_of_batch in embedded.iter_batches(batch_size=batch, batch_format="numpy"):
        rows, skipped, finished = gatherer.add(rows_of_batch)
        report.skipped += skipped
        report.embedded += catalogue.upsert(rows, spec.name, roots, precision=precision)
        written(rows)
        done += finished
        checkpoint("catalogue_upserted")
        if progress is not None:
            elapsed = time.perf_counter() - started
            rate = report.embedded / elapsed if elapsed else 0.0
            eta = (len(todo) - done) * elapsed / done if done else None
            progress(IndexProgress(IndexPhase.EMBEDDING, done, len(todo), rate, eta))
        if cancelled is not None and cancelled():
            report.cancelled = True
            break
    report.seconds = time.perf_counter() - started
    return report
