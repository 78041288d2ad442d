"""Adapting a library to its domain: a linear projection of the stored vectors, trained with a
metric-learning loss on pictures the user has labelled (sub-folders, or saved concepts).

Nothing is embedded again. The projection (``dim x dim``, started at the identity) is trained
on the frozen stored vectors with pytorch-metric-learning's multi-similarity loss and miner,
on batches of a few pictures per label; an inner split of the training pictures picks the
round to keep. 20% of each label is held out from all of it, and the mean average precision at
R (pytorch-metric-learning's ``AccuracyCalculator``) of those held-out pictures among
themselves is measured before and after. The adapter is applied only when it raises that
figure by ``MIN_GAIN``: then every stored vector is projected (core/stores/adapted_vectors.py), the
index is rebuilt on the adapted vectors, queries go through the same projection, new pictures
are projected as they are indexed, and the original vectors stay for switching back.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import display_name

if TYPE_CHECKING:
    from image_finder.core.stores.library import Library

HOLD_OUT = 0.2  # of each label, measured on and never trained on
MIN_PER_LABEL = 5  # pictures a label needs (one of them held out)
MIN_LABELS = 2
MIN_GAIN = 0.01  # held-out mAP@R the adapter must add to be applied
STEPS_PER_ROUND = 25  # optimiser steps between two measures on the inner validation split
MAX_ROUNDS = 40
PATIENCE = 5  # rounds without a better inner-validation score before training stops
PER_LABEL_IN_BATCH = 4
BATCH = 128
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-4
TIME_LIMIT = 60.0  # seconds of training at most


@dataclass(frozen=True)
class Adapter:
    """A projection ``normalize(vector @ weights.T + bias)`` and what it was measured to do."""

    model: str
    weights: np.ndarray  # [dim, dim]
    bias: np.ndarray  # [dim]
    labels: tuple[str, ...]
    created: float
    map_before: float
    map_after: float
    held_out: int
    trained_on: int
    seconds: float
    active: bool = True

    @property
    def tag(self) -> str:
        return f"adapted@{int(self.created)}"

    def project(self, vectors: np.ndarray) -> np.ndarray:
        out = np.asarray(vectors, np.float32) @ self.weights.T + self.bias
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        projected: np.ndarray = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return projected

    def to_json(self) -> dict[str, Any]:
        from image_finder.core.common.records import iso_time

        return {
            "active": self.active,
            "labels": list(self.labels),
            "created": iso_time(self.created),
            "map_at_r_before": round(self.map_before, 4),
            "map_at_r_after": round(self.map_after, 4),
            "held_out": self.held_out,
            "trained_on": self.trained_on,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class TuneReport:
    """What ``tune`` measured and did."""

    labels: list[str]
    trained_on: int
    held_out: int
    map_before: float
    map_after: float
    seconds: float
    applied: bool = False
    reason: str = ""  # why it was not applied
    skipped: list[str] = field(default_factory=list)  # labels with too few pictures
    cancelled: bool = False

    @property
    def gain(self) -> float:
        return self.map_after - self.map_before

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "trained_on": self.trained_on,
            "held_out": self.held_out,
            "map_at_r_before": round(self.map_before, 4),
            "map_at_r_after": round(self.map_after, 4),
            "gain": round(self.gain, 4),
            "seconds": round(self.seconds, 2),
            "applied": self.applied,
            "reason": self.reason,
            "skipped_labels": self.skipped,
            "cancelled": self.cancelled,
        }


# -- labels -----------------------------------------------------------------------------------


def labels_from_folders(library: Library, root: str) -> dict[str, list[int]]:
    """Each sub-folder of ``root`` as a label: the ids of the library's pictures under it."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise ImageFinderError(f"{display_name(root)} is not a folder")
    ids = library.ids_under(root).tolist()
    labels: dict[str, list[int]] = {}
    for start in range(0, len(ids), 500):
        for item in library.items(ids[start : start + 500]).values():
            parts = os.path.relpath(item.path, root).split(os.sep)
            if len(parts) > 1:  # pictures right in root have no label
                labels.setdefault(display_name(parts[0]), []).append(item.id)
    if not labels:
        raise ImageFinderError(
            f"no indexed pictures in sub-folders of {display_name(root)}: each sub-folder is a "
            "label (index the folder first)"
        )
    return labels


def labels_from_concepts(library: Library, names: Sequence[str]) -> dict[str, list[int]]:
    """Saved concepts as labels: the pictures each was learnt from."""
    from image_finder.core.learning import concepts

    chosen = (
        [concepts.require(library, n) for n in names] if names else library.side_data.concepts()
    )
    labels = {c.name: list(c.positive_ids) for c in chosen if c.positive_ids}
    if not labels:
        raise ImageFinderError(
            "no saved concept keeps its example pictures (learn them again with "
            "image-finder-cli concept add)"
        )
    return labels


def usable_labels(labelled: dict[str, list[int]]) -> tuple[dict[str, list[int]], list[str]]:
    """The labels with enough pictures (their ids, sorted) and those without; ImageFinderError
    when fewer than two labels remain."""
    skipped = sorted(k for k, v in labelled.items() if len(set(v)) < MIN_PER_LABEL)
    kept = {k: sorted(set(v)) for k, v in labelled.items() if k not in skipped}
    if len(kept) < MIN_LABELS:
        raise ImageFinderError(
            f"an adapter needs at least {MIN_LABELS} labels of {MIN_PER_LABEL} pictures or more"
            f" ({len(kept)} given" + (f"; too few pictures in: {', '.join(skipped)}" if skipped
                                        else "") + ")"
        )  # fmt: skip
    return kept, skipped


# -- training ---------------------------------------------------------------------------------


def split(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A mask of ``share`` of each label's members (at least one), picked at random."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = max(1, math.ceil(share * len(members)))
        held[rng.choice(members, n, replace=False)] = True
    return held


def _metric_learning() -> Any:
    """pytorch-metric-learning, imported without ``faiss.contrib.torch_utils``: that module
    replaces FAISS's search methods process-wide with ones that drop their ``params`` (the
    library's filtered searches). Its neighbours are found with torch instead."""
    import sys
    import types

    key = "faiss.contrib.torch_utils"
    if key not in sys.modules:
        sys.modules[key] = types.ModuleType(key)
    import pytorch_metric_learning
    import pytorch_metric_learning.utils.accuracy_calculator

    return pytorch_metric_learning


def map_at_r(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean average precision at R of each picture among the others (R: its label's size)."""
    pml = _metric_learning()
    import torch
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.inference import CustomKNN

    calculator = pml.utils.accuracy_calculator.AccuracyCalculator(
        include=("mean_average_precision_at_r",),
        k="max_bin_count",
        device=_cpu(),
        knn_func=CustomKNN(CosineSimilarity()),
    )

    found = calculator.get_accuracy(
        torch.as_tensor(np.asarray(vectors, np.float32)), torch.as_tensor(labels)
    )
    return float(found["mean_average_precision_at_r"])


def _cpu() -> Any:
    import torch

    return torch.device("cpu")


def _device(device: str | None) -> Any:
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Fit:
    weights: np.ndarray
    bias: np.ndarray
    rounds: int  # of STEPS_PER_ROUND steps, up to the one kept
    seconds: float


def fit(
    vectors: np.ndarray,
    labels: np.ndarray,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    device: str | None = None,
    seed: int = 0,
) -> Fit | None:
    """Train the projection on ``vectors`` (None: cancelled). A fifth of each label picks the
    round to keep (the best inner-validation mAP@R)."""
    import torch

    pml = _metric_learning()
    from pytorch_metric_learning import losses, miners, samplers

    started = time.perf_counter()
    torch.manual_seed(seed)
    # the sampler draws from the library's module-wide numpy generator: the same labels give
    # the same adapter
    pml.utils.common_functions.NUMPY_RANDOM = np.random.RandomState(seed)
    where = _device(device)
    inner = split(labels, HOLD_OUT, seed + 1)
    x = torch.as_tensor(np.asarray(vectors, np.float32))
    y = torch.as_tensor(labels)
    train_x, train_y = x[~inner].to(where), y[~inner]
    dim = x.shape[1]
    layer = torch.nn.Linear(dim, dim).to(where)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(dim))
        layer.bias.zero_()
    loss_fn = losses.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5)
    miner = miners.MultiSimilarityMiner(epsilon=0.1)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    n_labels = len(np.unique(labels))
    batch = min(BATCH, PER_LABEL_IN_BATCH * n_labels)
    batch -= batch % PER_LABEL_IN_BATCH
    sampler = samplers.MPerClassSampler(
        train_y, PER_LABEL_IN_BATCH, batch_size=batch,
        length_before_new_iter=batch * STEPS_PER_ROUND,
    )  # fmt: skip

    def score() -> float:
        with torch.no_grad():
            out = torch.nn.functional.normalize(layer(x[inner].to(where)), dim=1).cpu().numpy()
        return map_at_r(out, labels[inner])

    best = (score(), layer.weight.detach().clone(), layer.bias.detach().clone(), 0)
    stale = 0
    for round_ in range(1, MAX_ROUNDS + 1):
        order = torch.as_tensor(list(iter(sampler)))
        for start in range(0, len(order), batch):
            if cancelled is not None and cancelled():
                return None
            rows = order[start : start + batch]
            out = torch.nn.functional.normalize(layer(train_x[rows]), dim=1)
            target = train_y[rows].to(where)
            loss = loss_fn(out, target, miner(out, target))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        found = score()
        if found > best[0]:
            best, stale = (found, layer.weight.detach().clone(), layer.bias.detach().clone(),
                           round_), 0  # fmt: skip
        else:
            stale += 1
        if progress is not None:
            progress(round_, MAX_ROUNDS)
        if stale >= PATIENCE or time.perf_counter() - started > TIME_LIMIT:
            break
    if progress is not None:
        progress(MAX_ROUNDS, MAX_ROUNDS)
    return Fit(best[1].cpu().numpy(), best[2].cpu().numpy(), best[3],
               time.perf_counter() - started)  # fmt: skip


# -- the whole step ---------------------------------------------------------------------------


def tune(
    library: Library,
    labelled: dict[str, list[int]],
    *,
    apply: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    device: str | None = None,
    seed: int = 0,
) -> TuneReport:
    """Train an adapter on ``labelled`` pictures (label -> ids), measure it on held-out ones
    and, if it helps and ``apply``, apply it to the library (the caller holds the writer lock
    when applying). ``progress(phase, done, total)``: "training" in rounds of steps, then
    "projecting" in pictures."""
    model = library.model
    if model is None:
        raise ImageFinderError("The library is empty: index some pictures first.")
    kept, skipped = usable_labels(labelled)
    names = sorted(kept)
    ids = [i for n in names for i in kept[n]]
    labels = np.asarray([k for k, n in enumerate(names) for _ in kept[n]], np.int64)
    vectors = library.vectors(ids, original=True)
    held = split(labels, HOLD_OUT, seed)
    before = map_at_r(vectors[held], labels[held])

    def trained(done: int, total: int) -> None:
        if progress is not None:
            progress("training", done, total)

    result = fit(vectors[~held], labels[~held], progress=trained, cancelled=cancelled,
                 device=device, seed=seed)  # fmt: skip
    report = TuneReport(names, int((~held).sum()), int(held.sum()), before, before, 0.0,
                        skipped=skipped)  # fmt: skip
    if result is None:
        report.cancelled, report.reason = True, "cancelled; nothing changed"
        return report
    adapter = Adapter(model, result.weights, result.bias, tuple(names), time.time(), before, 0.0,
                      report.held_out, report.trained_on, result.seconds)  # fmt: skip
    after = map_at_r(adapter.project(vectors[held]), labels[held])
    adapter = Adapter(**{**adapter.__dict__, "map_after": after})
    report.map_after, report.seconds = after, result.seconds
    if after < before + MIN_GAIN:
        report.reason = (
            f"it does not help these labels (held-out mAP@R {before:.3f} → {after:.3f}); "
            "nothing changed"
        )
        return report
    if not apply:
        report.reason = "measured only (--dry-run); nothing changed"
        return report

    def projecting(done: int, total: int) -> None:
        if progress is not None:
            progress("projecting", done, total)

    if not library.spaces.install_adapter(adapter, projecting, cancelled):
        report.cancelled, report.reason = True, "cancelled; nothing changed"
        return report
    report.applied = True
    after_switch(library)
    return report


def use(library: Library, adapted: bool) -> bool:
    """Search through the adapter (True) or the original features; False: already so. The
    caller holds the writer lock."""
    changed = library.spaces.set_adapter_active(adapted)
    if changed:
        after_switch(library)
    return changed


def after_switch(library: Library) -> None:
    """Once the searched space changed: concepts are learnt again in it from their examples,
    and the index is rebuilt from the vectors now searched (its regions trained anew)."""
    from image_finder.core.learning import concepts

    concepts.relearn_all(library)
    library.vector_index.reset(retrain=True)
    library.vector_index.ensure()
    library.vector_index.save()
