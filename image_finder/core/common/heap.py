"""The C heap of a process that runs a model on the CPU.

glibc's malloc gives each allocation above a threshold its own ``mmap`` and unmaps it on
free, trims the heap's top back to the kernel, and gives each thread an arena of its own
whose blocks of tens of MB are mapped and unmapped the same way. A network's activations are
tens of MB each, made and freed on every batch, so by default every batch faults its memory in
again, page by page, and the kernel zeroes it. One arena that keeps freed blocks lets each
batch reuse the last one's memory: ``index`` with EfficientNet-Lite0 on a 2-core machine ran
1.49x as fast, its system CPU time down from 22.5 to 1.7 s (``benchmarks/heap.py``). The
cost: up to ``LIMIT`` of freed memory stays with the process, and threads share one arena's
lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

LIMIT = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8

# the same, for a process about to start (glibc reads them at its start): Ray's workers
ENVIRONMENT = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_THRESHOLD_": str(LIMIT),
    "MALLOC_TRIM_THRESHOLD_": str(LIMIT),
}

_done = False


def keep_freed_blocks() -> bool:
    """Make glibc's malloc keep freed blocks for reuse, in one arena (once per process: call it
    before the threads that embed start, as an arena is chosen at a thread's first malloc).
    False where the C library is not glibc."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, LIMIT), (_M_TRIM_THRESHOLD, LIMIT))
    _done = all([bool(mallopt(option, value)) for option, value in settings])
    log.debug("malloc keeps freed blocks up to %d MB, in one arena: %s", LIMIT >> 20, _done)
    return _done
