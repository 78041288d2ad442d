"""Precision: the fastest way to run the model on this computer that keeps the rankings.

fp32 is always right. Many CPUs run the model two to four times faster in bf16 (native on
AVX512-BF16/AMX) or with int8 weights on the linear layers (VNNI, AVX2, ARM dot-product), and
GPUs in bf16; but whether the rankings survive depends on the model and on the photos. So with
precision ``auto`` the first indexing run of a library embeds a few of the user's own photos in
fp32 and in each faster candidate, and keeps the fastest candidate whose vectors stay close
enough to fp32's (``MIN_MEAN_COSINE``, ``MIN_PHOTO_COSINE``), keep the photos' nearest
neighbours (``MIN_TOP10_OVERLAP``) and run fast enough (``MIN_SPEEDUP``). The bars and the
measurements behind them: docs/decisions/precision.md.

The library records the outcome (``precision_check`` in its meta table) with the machine it
was measured on: later runs on this computer use it without measuring again, and vectors of a
precision that failed the check are never written. An explicit precision (settings or
``--precision``) is used as asked.

torch is imported lazily.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.stores.library import Library

log = logging.getLogger(__name__)

FP32, BF16, INT8 = "fp32", "bf16", "int8"
MIN_MEAN_COSINE = 0.997
MIN_PHOTO_COSINE = 0.993
MIN_TOP10_OVERLAP = 0.9
MIN_SPEEDUP = 1.2
CHECK_IMAGES = 16  # photos embedded in every precision by the check (one batch)
MIN_CHECK_IMAGES = 12  # fewer new photos than this: index in fp32, check on a later run
META_KEY = "precision_check"

# oneDNN ISA limits (ONEDNN_MAX_CPU_ISA) that still allow its bf16 kernels
_ONEDNN_BF16_ISAS = {
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "ALL",
    "DEFAULT",
}


# --------------------------------------------------------------------------------------------
# What the machine has


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo`` on Linux; empty where it can't be read)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith(("flags", "Features")):
                        return frozenset(line.split(":", 1)[1].split())
        except OSError:
            pass
    return frozenset()


def native_bf16() -> bool:
    """True where the CPU computes in bf16 natively (AVX512-BF16 or AMX on x86, Apple M2 and
    later) and oneDNN is not told to leave those instructions alone (``ONEDNN_MAX_CPU_ISA``)."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and isa not in _ONEDNN_BF16_ISAS:
        return False
    flags = cpu_flags()
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return True
    return sys.platform == "darwin" and platform.machine() == "arm64" and "bf16" in flags


@functools.cache
def int8_engine() -> str | None:
    """torch's quantized engine for int8 linear layers on this CPU, if it has one."""
    import torch

    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in engines:
            return engine
    return None


def candidates(device: str) -> list[str]:
    """The faster precisions worth checking on ``device``, most promising first."""
    import torch

    if device == "cuda":
        return [BF16] if torch.cuda.is_bf16_supported() else []
    if device != "cpu":
        return []
    found = [BF16] if native_bf16() else []
    if int8_engine():
        found.append(INT8)
    return found


def machine_key(device: str) -> str:
    """What a recorded check depends on: the device and the candidates it offers."""
    return f"{device}:{'+'.join(candidates(device)) or 'fp32'}"


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose linear layers run with int8 weights and dynamically quantized
    activations (torch's dynamic quantization, the int8 path torch runs fastest in eager mode:
    12.4 images/s for ViT-B/16 on 2 cores, against 7.8 for torchao's int8 config without
    ``torch.compile``)."""
    import copy

    import torch

    engine = int8_engine()
    if engine:
        torch.backends.quantized.engine = engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized: torch.nn.Module = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8
        )
    return quantized


# --------------------------------------------------------------------------------------------
# The check


@dataclass
class Trial:
    precision: str
    images_per_second: float
    mean_cosine: float = 1.0
    top10_overlap: float = 1.0
    kept: bool = True
    why: str = ""
    min_cosine: float = 1.0  # the lowest of any one photo


@dataclass
class PrecisionCheck:
    """The outcome of a check: the precision chosen, why, and each precision's figures."""

    chosen: str
    reason: str
    images: int = 0
    machine: str = ""
    trials: list[Trial] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> PrecisionCheck | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            data["trials"] = [Trial(**t) for t in data.get("trials", [])]
            return cls(**data)
        except (TypeError, ValueError, KeyError):
            log.warning("ignoring an unreadable precision record: %r", text[:200])
            return None


def ranking_agreement(reference: np.ndarray, other: np.ndarray, k: int = 10) -> tuple[float, float]:
    """(mean cosine between matching rows, mean overlap of each row's top-k neighbours among the
    other rows) of two sets of unit vectors of the same images."""
    cosine = float(np.mean(np.sum(reference * other, axis=1)))
    n = len(reference)
    k = min(k, n - 1)
    if k < 1:
        return cosine, 1.0

    def neighbours(vectors: np.ndarray) -> np.ndarray:
        scores = vectors @ vectors.T
        np.fill_diagonal(scores, -np.inf)
        top: np.ndarray = np.argsort(-scores, axis=1)[:, :k]
        return top

    ref, oth = neighbours(reference), neighbours(other)
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, oth, strict=True)])
    return cosine, float(overlap)


def judge(
    precision: str, reference: np.ndarray, vectors: np.ndarray, rate: float, base_rate: float
) -> Trial:
    """Whether ``precision``'s ``vectors`` keep fp32's rankings (``reference``), at what speed."""
    cosine, overlap = ranking_agreement(reference, vectors)
    lowest = float(np.min(np.sum(reference * vectors, axis=1)))
    speedup = rate / base_rate if base_rate > 0 else 0.0
    trial = Trial(precision, round(rate, 2), round(cosine, 6), round(overlap, 4))
    trial.min_cosine = round(lowest, 6)
    if cosine < MIN_MEAN_COSINE:
        trial.kept, trial.why = False, f"cosine to fp32 {cosine:.4f} < {MIN_MEAN_COSINE}"
    elif lowest < MIN_PHOTO_COSINE:
        trial.kept, trial.why = False, f"one photo's cosine {lowest:.4f} < {MIN_PHOTO_COSINE}"
    elif overlap < MIN_TOP10_OVERLAP:
        trial.kept, trial.why = False, f"top-10 overlap {overlap:.2f} < {MIN_TOP10_OVERLAP}"
    elif speedup < MIN_SPEEDUP:
        trial.kept, trial.why = False, f"only {speedup:.2f}x as fast as fp32"
    else:
        trial.why = f"{speedup:.1f}x as fast as fp32"
    return trial


def decide(trials: Sequence[Trial], images: int, machine: str) -> PrecisionCheck:
    """The fastest kept precision among ``trials`` (the first being fp32's), else fp32."""
    kept = [t for t in trials[1:] if t.kept]
    if not kept:
        reason = "; ".join(f"{t.precision}: {t.why}" for t in trials[1:])
        return PrecisionCheck(FP32, f"kept fp32 ({reason})", images, machine, list(trials))
    best = max(kept, key=lambda t: t.images_per_second)
    reason = (
        f"{best.why}, cosine to fp32 {best.mean_cosine:.4f}, top-10 overlap "
        f"{best.top10_overlap:.2f} on {images} of your photos"
    )
    return PrecisionCheck(best.precision, reason, images, machine, list(trials))


def run_check(
    extractor: Extractor, tensors: Sequence[torch.Tensor]
) -> tuple[PrecisionCheck, np.ndarray]:
    """Embed ``tensors`` in fp32 and in each candidate precision; choose the fastest that keeps
    the rankings. Returns the outcome and the vectors in the chosen precision."""
    machine = machine_key(extractor.device)
    found = candidates(extractor.device)
    if not found:
        vectors = extractor.embed_tensors(tensors, precision=FP32)
        return PrecisionCheck(FP32, "this computer has no faster precision", 0, machine), vectors

    # Each precision runs on the two halves of the photos in turn (fp32, the candidates, then
    # again), so that a load that comes or goes during the check weighs on all of them alike.
    kinds = [FP32, *found]
    halves = [tensors[: len(tensors) // 2], tensors[len(tensors) // 2 :]]
    parts: dict[str, list[np.ndarray]] = {kind: [] for kind in kinds}
    seconds = dict.fromkeys(kinds, 0.0)
    failed: dict[str, str] = {}
    for half in [None, *halves]:  # None: warm up each precision's kernels on two photos
        for kind in kinds:
            if kind in failed:
                continue
            try:
                started = time.perf_counter()
                vectors = extractor.embed_tensors(half or tensors[:2], precision=kind)
            except Exception as exc:  # a kernel missing on this machine: keep fp32
                if kind == FP32:
                    raise
                log.exception("running the model in %s failed", kind)
                failed[kind] = f"failed: {exc}"
                continue
            if half is not None:
                seconds[kind] += time.perf_counter() - started
                parts[kind].append(vectors)
    embedded = {kind: np.concatenate(parts[kind]) for kind in kinds if kind not in failed}
    rates = {kind: len(tensors) / max(seconds[kind], 1e-9) for kind in embedded}
    reference, base_rate = embedded[FP32], rates[FP32]
    trials = [Trial(FP32, round(base_rate, 2))]
    for kind in found:
        if kind in failed:
            trials.append(Trial(kind, 0.0, 0.0, 0.0, False, failed[kind]))
        else:
            trials.append(judge(kind, reference, embedded[kind], rates[kind], base_rate))
    outcome = decide(trials, len(tensors), machine)
    return outcome, embedded[outcome.chosen]


# --------------------------------------------------------------------------------------------
# Libraries and extractors

_check_lock = threading.Lock()


def recorded(library: Library) -> PrecisionCheck | None:
    return PrecisionCheck.from_json(library.meta_value(META_KEY))


def follow_library(extractor: Extractor, library: Library) -> bool:
    """With precision ``auto``, use what the library's check chose on this machine. Returns
    False when the library still needs a check here."""
    if extractor.requested_precision != "auto":
        return True
    record = recorded(library)
    if record is None or record.machine != machine_key(extractor.device):
        return not candidates(extractor.device)
    extractor.set_precision(record.chosen, f"auto: {record.reason}")
    return True


def check_and_record(
    extractor: Extractor, library: Library, tensors: Sequence[torch.Tensor]
) -> np.ndarray:
    """Run the check on ``tensors`` (the user's photos), record it, and use its choice.
    Returns their vectors in the precision chosen."""
    with _check_lock:
        outcome, vectors = run_check(extractor, tensors)
        library.set_meta_values({META_KEY: outcome.to_json()})
        extractor.set_precision(outcome.chosen, f"auto: {outcome.reason}")
    log.info("precision check: %s (%s)", outcome.chosen, outcome.reason)
    for trial in outcome.trials:
        log.info("  %s", trial)
    return vectors


def recorded_plan(library: Library, requested: str, device: str) -> tuple[str, str]:
    """The precision the library runs in, and why, read from the settings and the library's
    recorded check only (``status``: no torch is imported; :func:`planned` says which
    precision a model loaded now would choose)."""
    requested = (requested or "auto").lower()
    if requested != "auto":
        return requested, "chosen in the settings"
    record = recorded(library)
    if record is None:
        return FP32, "auto: fp32 until the first indexing run checks faster precisions"
    where = record.machine.split(":", 1)[0] or device
    return record.chosen, f"auto: {record.reason} (checked on the {where})"


def planned(library: Library, requested: str, device: str) -> tuple[str, str]:
    """The precision a model loaded now would run in for ``library``, and why (for ``status``
    and the Settings dialog, without loading the model)."""
    from image_finder.core.embedding.extractor import resolve_precision

    chosen, reason = resolve_precision(requested, device)
    if requested != "auto":
        return chosen, reason
    record = recorded(library)
    if record is not None and record.machine == machine_key(device):
        return record.chosen, f"auto: {record.reason}"
    return chosen, reason
