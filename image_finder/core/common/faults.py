"""Crash points for testing that a library survives a process killed at any moment.

Inert unless ``IMAGE_FINDER_KILL_AT=POINT[:N]`` is set: then the N-th time (default 1) the code
passes ``checkpoint(POINT)``, the process kills itself with SIGKILL, as a power cut or the OOM
killer would. The crash-consistency tests use it to stop indexing mid-batch, mid-commit,
mid-index-write and mid-training.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_TARGET = os.environ.get("IMAGE_FINDER_KILL_AT", "")
_POINT, _, _COUNT = _TARGET.partition(":")
_WANTED = int(_COUNT or 1) if _POINT else 0
_hits: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    if not _POINT or point != _POINT:
        return
    _hits[point] += 1
    if _hits[point] == _WANTED:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
