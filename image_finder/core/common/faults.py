"""Crash points for testing that a library survives a process killed at any moment.

Inert unless ``IMAGE_FINDER_KILL_AT=POINT[:N]`` is set: then the N-th time (default 1) the code
passes ``checkpoint(POINT)``, the process kills itself with SIGKILL, as a power cut or the OOM
killer would. The crash-consistency tests use it to stop indexing mid-batch, mid-commit,
mid-index-write and mid-training.

With ``IMAGE_FINDER_KILL_ONCE=FILE`` as well, the kill happens only while FILE does not exist
(it is made first): a worker that its scheduler restarts goes on, as after a lost machine.
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
    if _hits[point] != _WANTED:
        return
    once = os.environ.get("IMAGE_FINDER_KILL_ONCE", "")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # killed once already
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
