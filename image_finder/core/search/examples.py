"""Several examples of what is wanted, and some of what is not, made into one query vector.

The rule is chosen by measurement (``python -m benchmarks.examples``, 400 trials on
Fashion-MNIST with EfficientNet-Lite0): one example retrieves its kind with a mean average
precision of 0.53; three examples averaged, 0.62; a linear SVM fitted on the fly (the examples
against the negatives given and a sample of the library), 0.66, and 0.67 with two negatives.
The SVM's direction added to the examples' mean direction ranks best (0.67, and 0.68 with two
negatives) and gives scores that read as similarities, so that is the rule here. Rocchio
(mean(pos) − β·mean(neg)) reaches 0.66 at best (β = 0.25) and falls fast with larger β;
scoring by the largest similarity to a positive minus that to a negative is worse than the
mean. One example and no negatives is the example itself.

Whatever the rule, a negative's near-copies (similarity 0.95 or more to a negative) are never
listed: :func:`near_copies` finds them among the results.
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
