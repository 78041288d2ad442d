"""Logging configured once per process: a rotating file in the user log dir."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
from typing import Any

from image_finder.core.common import paths

LOG_FILE_NAME = "image-finder.log"
_FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"


class _PrivateFileHandler(logging.handlers.RotatingFileHandler):
    """Log files readable by their owner alone (0600): they name the user's files and, on a
    server, its clients' requests."""

    def _open(self) -> Any:
        with contextlib.suppress(OSError):
            os.close(os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        with contextlib.suppress(OSError):
            os.chmod(self.baseFilename, 0o600)
        return super()._open()


def setup_logging(level: int = logging.INFO) -> logging.Handler | None:
    """Send log records to ``<log dir>/image-finder.log`` (1 MiB x 5 files).

    Returns the handler, or None when the log folder cannot be written (the app still runs).
    """
    root = logging.getLogger()
    folder = paths.log_dir()
    target = os.path.abspath(folder / LOG_FILE_NAME)
    for existing in list(root.handlers):
        if getattr(existing, "_image_finder", False):
            if getattr(existing, "baseFilename", None) == target:
                root.setLevel(level)
                return existing
            root.removeHandler(existing)  # the log folder changed (tests, --data-dir runs)
            existing.close()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = _PrivateFileHandler(
            folder / LOG_FILE_NAME,
            maxBytes=1 << 20,
            backupCount=5,
            encoding="utf-8",
            errors="backslashreplace",  # file names need not be valid UTF-8
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(logging.DEBUG)
    handler._image_finder = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def log_file() -> str:
    return str(paths.log_dir() / LOG_FILE_NAME)
