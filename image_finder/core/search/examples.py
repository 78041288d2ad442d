"""Several examples of what is wanted, and some of what is not, made into one query vector.

The rule, chosen by measurement (docs/decisions/examples-rule.md): a linear SVM fitted on the
fly (the examples against the negatives given and a sample of the library), its direction
added to the examples' mean direction. One example and no negatives is the example itself.

Whatever the rule, a negative's near-copies are never listed: :func:`near_copies` finds them
among the results.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_SAMPLE = 64  # library vectors that stand for "anything else" in the SVM
NEAR_COPY_SCORE = 0.95
SVM_C = 1.0


def warm_up() -> None:
    """Import the SVM ahead of the first search with several examples (about a second); for
    a process that keeps running (the window, a server)."""
    import sklearn.svm  # noqa: F401


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    out: np.ndarray = (v / norm if norm > 0 else v).astype(np.float32)
    return out


def combine(positives: np.ndarray, negatives: np.ndarray, background: np.ndarray) -> np.ndarray:
    """One unit query vector for ``positives`` [p, d] (at least one), ``negatives`` [n, d] and
    ``background`` [b, d] (a sample of the library; may be empty)."""
    mean = _unit(positives.mean(0))
    others = np.concatenate([negatives, background]) if len(background) else negatives
    if (len(positives) == 1 and not len(negatives)) or not len(others):
        return mean
    from sklearn.svm import LinearSVC

    data = np.concatenate([positives, others]).astype(np.float64)
    labels = np.r_[np.ones(len(positives)), np.zeros(len(others))]
    model = LinearSVC(C=SVM_C, class_weight="balanced", dual="auto").fit(data, labels)
    return _unit(_unit(model.coef_[0]) + mean)


def near_copies(candidates: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Which of ``candidates`` [m, d] are near-copies of a negative [n, d]."""
    if not len(negatives) or not len(candidates):
        return np.zeros(len(candidates), bool)
    found: np.ndarray = (candidates @ negatives.T).max(1) >= NEAR_COPY_SCORE
    return found
