"""User settings: a typed dataclass saved as TOML in the user config dir."""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from image_finder.core.common import paths
from image_finder.core.embedding.models import DEFAULT_MODEL, DEVICES, MODELS, PRECISIONS

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.toml"
MIN_MOMENT_SECONDS = 2.0  # a video's moments are never more than one a second anyway


@dataclass
class Settings:
    model: str = DEFAULT_MODEL
    weights: str = ""  # a local weights file for the model; empty: timm's pretrained weights
    device: str = "auto"
    precision: str = "auto"
    nprobe: int = 0  # 0: the library's calibrated default
    top_k: int = 24
    min_score: float = 0.0
    thumbnail_size: int = 160
    rotations: bool = False  # also find rotated and mirrored copies (slower queries)
    crops: bool = False  # also find the pictures a query was cropped from (slower queries)
    resume_interrupted: bool = True  # folders whose indexing was interrupted continue on start
    watch_folders: bool = True  # indexed folders are watched while the window is open
    text_model: str = ""  # a CLIP model for searching any words ("": ImageNet's words only)
    text_weights: str = ""  # a local weights file for it; empty: downloaded once
    moment_seconds: float = 10.0  # a video keeps a moment at least this often (and at changes)
    every_moment: bool = False  # results list each matching moment, not a video once
    # read the text written in pictures after indexing (core/indexing/texts.py); off until its
    # cost on a photo library is measured (a dense page takes seconds on two cores)
    read_text: bool = False

    def validated(self) -> Settings:
        """A copy with every out-of-range value replaced by its default."""
        default = Settings()
        fixed = dataclasses.replace(self)
        if fixed.model not in MODELS:
            fixed.model = default.model
        if fixed.device not in DEVICES:
            fixed.device = default.device
        if fixed.precision not in PRECISIONS:
            fixed.precision = default.precision
        fixed.nprobe = max(0, min(int(fixed.nprobe), 65536))
        fixed.top_k = max(1, min(int(fixed.top_k), 1000))
        fixed.min_score = max(0.0, min(float(fixed.min_score), 1.0))
        fixed.thumbnail_size = max(64, min(int(fixed.thumbnail_size), 512))
        fixed.moment_seconds = max(MIN_MOMENT_SECONDS, min(float(fixed.moment_seconds), 600.0))
        return fixed

    @classmethod
    def path(cls) -> Path:
        return paths.config_dir() / SETTINGS_FILE

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read settings; a missing file gives defaults, a broken one is logged and ignored."""
        source = path or cls.path()
        try:
            with open(source, "rb") as f:
                data: dict[str, Any] = tomllib.load(f)
        except FileNotFoundError:
            return cls()
        except (OSError, tomllib.TOMLDecodeError) as exc:
            log.warning("ignoring unreadable settings file %s: %s", source, exc)
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known:
                log.info("ignoring unknown setting %r", key)
                continue
            expected = type(getattr(cls(), key))
            try:
                values[key] = expected(value)
            except (TypeError, ValueError):
                log.warning("ignoring setting %s=%r", key, value)
        return cls(**values).validated()

    def save(self, path: Path | None = None) -> None:
        """Write atomically (temp file + rename)."""
        target = path or self.path()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as f:
            tomli_w.dump(dataclasses.asdict(self.validated()), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
