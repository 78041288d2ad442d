"""Where Image Finder keeps its files.

Every location can be redirected by an environment variable so that tests and benchmarks never
touch a user's real library, settings, cache or logs.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_DIR_NAME = "image-finder"

DATA_DIR_ENV = "IMAGE_FINDER_DATA_DIR"
CONFIG_DIR_ENV = "IMAGE_FINDER_CONFIG_DIR"
CACHE_DIR_ENV = "IMAGE_FINDER_CACHE_DIR"
LOG_DIR_ENV = "IMAGE_FINDER_LOG_DIR"


def _from_env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The library folder: ``override`` > ``$IMAGE_FINDER_DATA_DIR`` > the platform's data dir."""
    if override:
        return Path(override).expanduser()
    return _from_env(DATA_DIR_ENV) or Path(
        platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False)
    )


def config_dir() -> Path:
    return _from_env(CONFIG_DIR_ENV) or Path(
        platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False)
    )


def cache_dir() -> Path:
    return _from_env(CACHE_DIR_ENV) or Path(
        platformdirs.user_cache_dir(APP_DIR_NAME, appauthor=False)
    )


def log_dir() -> Path:
    return _from_env(LOG_DIR_ENV) or Path(platformdirs.user_log_dir(APP_DIR_NAME, appauthor=False))


def inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both absolute and alike: both real,
    or both as given)."""
    return path == folder or path.startswith(os.path.join(folder, ""))
