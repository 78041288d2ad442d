"""Open-vocabulary search by words with a CLIP-family model (open_clip), optional.

A library can hold a second vector set beside its main one: the CLIP image vectors of its
pictures (``SideData`` text vectors). Words are embedded by CLIP's text tower and compared with
them; an image and words combine ("this photo, at night"), and so do rclip-style terms:
``dog +beach -people`` adds the phrase after ``+`` and subtracts the one after ``-``.

The weights are timm/open_clip's own: read from a local file, from the Hugging Face cache, or
downloaded once behind the same short reachability probe as the main model (an offline user
gets a clear message in seconds, never a long wait). open_clip is imported lazily, and only
when a CLIP model is asked for; without the package, the message says how to add it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.embedding.extractor import Extractor, _hub_host, _network_reachable, _Runtime
from image_finder.core.embedding.models import ModelLoadError, ModelSpec

if TYPE_CHECKING:
    import torch

    from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)

# Cosine between a CLIP text and image vector of a matching pair is typically 0.25 to 0.35 for
# ViT-B/32, unrelated pairs 0.1 to 0.2; below this the best result is "the closest there is".
CLOSE_SCORE = 0.22


@dataclass(frozen=True)
class ClipSpec:
    name: str  # what a library records
    arch: str  # open_clip model name
    pretrained: str  # open_clip pretrained tag
    dim: int
    title: str


CLIP_MODELS: dict[str, ClipSpec] = {
    spec.name: spec
    for spec in (
        ClipSpec("clip_vit_b32", "ViT-B-32", "laion2b_s34b_b79k", 512, "CLIP ViT-B/32 (LAION-2B)"),
    )
}
DEFAULT_CLIP = "clip_vit_b32"


def _open_clip() -> Any:
    try:
        import open_clip
    except ImportError:
        raise ModelLoadError(
            "searching any words needs the optional CLIP support: pip install open_clip_torch"
        ) from None
    return open_clip


def _cached_weights(spec: ClipSpec) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    from_hub = _open_clip().pretrained.get_pretrained_cfg(spec.arch, spec.pretrained)
    repo = (from_hub or {}).get("hf_hub", "").rstrip("/")
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename) if repo else None
        if isinstance(found, str) and os.path.exists(found):
            return found
    return None


class _Visual:
    """CLIP's image tower as the callable an :class:`Extractor` runs."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.clip = model

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.clip.encode_image(x)  # type: ignore[operator]
        return out

    def eval(self) -> _Visual:
        self.clip.eval()
        return self

    def to(self, device: str) -> _Visual:
        self.clip.to(device)
        return self


class ClipExtractor(Extractor):
    """A loaded CLIP model: images through :class:`Extractor`'s pipeline, words by
    :meth:`embed_text`."""

    def __init__(
        self, model: torch.nn.Module, preprocess: Any, tokenizer: Any, spec: ClipSpec, **kw: Any
    ) -> None:
        device = kw.get("device", "cpu")
        self.spec = ModelSpec(spec.name, spec.arch, spec.dim, spec.title)
        self.clip_spec = spec
        self._clip: Any = model
        self.model = _Visual(model).eval().to(device)  # type: ignore[assignment]
        self.tokenizer = tokenizer
        self.device = device
        self._runtime = _Runtime("fp32", "CLIP runs in fp32", "fp32")
        self.weights_source = kw.get("source", "")
        self.notice = None
        self.fallback_reason = ""
        self._head = None
        self.transform = preprocess
        self.data_config = {}
        side = getattr(model.visual, "image_size", 224)
        self.min_decode_size = int(side[0] if isinstance(side, tuple) else side) + 1
        self.batch_size = 64 if device == "cuda" else 16
        self._text_lock = threading.Lock()

    @classmethod
    def load_clip(
        cls, name: str = DEFAULT_CLIP, *, weights: str | None = None, device: str = "auto"
    ) -> ClipExtractor:
        """Load ``name`` from a local ``weights`` file, the cache, or the hub (checked first:
        unreachable means a ModelLoadError at once)."""
        from image_finder.core.embedding.extractor import resolve_device

        spec = CLIP_MODELS.get(name)
        if spec is None:
            known = ", ".join(CLIP_MODELS)
            raise ModelLoadError(f"unknown text model {name!r} (available: {known})")
        open_clip = _open_clip()
        started = time.perf_counter()
        resolved, _ = resolve_device(device)
        pretrained: str | None
        if weights:
            if not os.path.isfile(weights):
                raise ModelLoadError(f"weights file not found: {weights}")
            pretrained, source = weights, weights
        else:
            cached = _cached_weights(spec)
            host, port = _hub_host()
            offline = os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0")
            if not cached and (offline or not _network_reachable(host, port)):
                raise ModelLoadError(
                    f"the {spec.title} weights are not downloaded and {host} is unreachable; "
                    "connect once (they are kept), or give a local weights file"
                )
            pretrained, source = (cached, cached) if cached else (spec.pretrained, "downloaded")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.arch, pretrained=pretrained, device=resolved
            )
        except Exception as exc:
            raise ModelLoadError(f"cannot load {spec.title}: {exc}") from exc
        tokenizer = open_clip.get_tokenizer(spec.arch)
        log.info(
            "loaded %s (%s) on %s in %.1f s",
            spec.name,
            source,
            resolved,
            time.perf_counter() - started,
        )
        return cls(model, preprocess, tokenizer, spec, device=resolved, source=source)

    def for_thread(self) -> ClipExtractor:
        import copy

        return copy.copy(self)  # the transform is stateless; the text lock is shared

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` in the images' space."""
        import torch

        with self._text_lock, torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            features = self._clip.encode_text(tokens).float()
            features = torch.nn.functional.normalize(features, dim=-1)
        out: np.ndarray = features.cpu().numpy().astype(np.float32, copy=False)
        return out


# --------------------------------------------------------------------------------------------
# Queries


@dataclass
class Terms:
    """A phrase split rclip-style: the first part and ``+`` parts count for, ``-`` parts
    against."""

    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


def split_terms(text: str) -> Terms:
    terms = Terms()
    # a sign counts at the start or after a space ("t-shirt" stays one word)
    pieces = re.split(r"(?:^|\s)([+-])(?=\S)", " " + text.strip())
    signs = ["+", *pieces[1::2]]
    for sign, part in zip(signs, pieces[0::2], strict=True):
        part = part.strip()
        if part:
            (terms.negative if sign == "-" else terms.positive).append(part)
    return terms


def query_vector(
    extractor: ClipExtractor, text: str, image: np.ndarray | None = None
) -> np.ndarray:
    """One unit vector for words (and an image's CLIP vector, when given)."""
    terms = split_terms(text)
    if not terms.positive and image is None:
        raise ImageFinderError("Type what the pictures should show, such as “a dog on a beach”.")
    parts = terms.positive + terms.negative
    vectors = extractor.embed_text(parts) if parts else np.zeros((0, extractor.dim), np.float32)
    signs = np.array([1.0] * len(terms.positive) + [-1.0] * len(terms.negative), np.float32)
    total = (vectors * signs[:, None]).sum(axis=0)
    if image is not None:
        total = total + image
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise ImageFinderError("The words cancel each other out: nothing is left to search for.")
    out: np.ndarray = (total / norm).astype(np.float32)
    return out


class TextVectors:
    """The library's CLIP vectors in memory, read again when they change."""

    def __init__(self) -> None:
        self._version: tuple[str, str] | None = None
        self._ids = np.zeros(0, np.int64)
        self._vectors = np.zeros((0, 0), np.float32)

    def rank(
        self,
        library: Library,
        query: np.ndarray,
        top_k: int,
        restrict_to: np.ndarray | None = None,
    ) -> tuple[list[int], list[float]]:
        if library.side_data.text_version() != self._version:
            self._version, self._ids, self._vectors = library.side_data.text_vectors()
        if not len(self._ids):
            return [], []
        scores = self._vectors @ query
        if restrict_to is not None:
            scores = np.where(np.isin(self._ids, restrict_to), scores, -np.inf)
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        top = top[np.isfinite(scores[top])]
        return [int(self._ids[i]) for i in top], [float(scores[i]) for i in top]


# --------------------------------------------------------------------------------------------
# Indexing


@dataclass
class TextIndexReport:
    embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False
    remaining: int = 0
    seconds: float = 0.0


def index_text_vectors(
    library: Library,
    extractor: ClipExtractor,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> TextIndexReport:
    """Embed every library image that has no CLIP vector yet, a batch per transaction: a
    cancel or crash loses at most the batch in flight, and the next run resumes."""
    from image_finder.core.pictures.images import is_raw_name, load_image, read_file

    started = time.perf_counter()
    report = TextIndexReport()
    is_cancelled = cancelled or (lambda: False)
    notify = progress or (lambda d, t: None)

    def gaps() -> Any:
        after = 0
        while True:
            rows = library.side_data.text_gaps(512, after)
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def prepare(row: tuple[int, str]) -> tuple[Any, None]:
        data, _, _ = read_file(row[1])
        image = load_image(data, min_size=extractor.min_decode_size, raw=is_raw_name(row[1]))
        return extractor.preprocess(image), None

    with library.writing():
        current = library.text_model
        if current is not None and current != extractor.name:
            # another text model: its vectors cannot be compared
            library.side_data.drop_text_vectors()
        done, total = library.text_counts()
        notify(done, total)
        for batch in extractor.iter_embeddings(gaps(), prepare, cancelled=is_cancelled):
            if batch.items:
                library.side_data.set_text_vectors(
                    extractor.name, [i for i, _ in batch.items], batch.vectors
                )
            report.embedded += len(batch.items)
            report.skipped += [(f.item[1], f.reason) for f in batch.failures]
            done += len(batch.items) + len(batch.failures)
            notify(done, total)
    report.cancelled = is_cancelled()
    report.remaining = max(0, total - done) if report.cancelled else 0
    report.seconds = time.perf_counter() - started
    return report
