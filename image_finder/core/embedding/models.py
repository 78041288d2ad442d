"""The models a library can be built with, and the one rule that picks which to load."""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.pictures.steps import PictureSteps


class ModelLoadError(ImageFinderError):
    """The requested model could not be loaded."""


@dataclass(frozen=True)
class DataConfig:
    """How the model's pictures are prepared (timm's data config of the architecture, which a
    test checks against timm): known here without importing torch or timm."""

    side: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @property
    def min_decode_size(self) -> int:
        """The shorter side the transform resizes to, plus one: JPEGs decode in draft mode
        down to this."""
        return int(self.side / self.crop_pct) + 1

    def picture_steps(self) -> PictureSteps:
        """The transform's resize and centre crop, in Pillow alone."""
        from PIL import Image

        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
        return PictureSteps(
            math.floor(self.side / self.crop_pct),
            (self.side, self.side),
            int(resample[self.interpolation]),
        )


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the name a library records
    arch: str  # timm architecture
    dim: int
    title: str
    bundled_weights: bool = False
    data: DataConfig = DataConfig()


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "vit_base_patch16_224",
            "vit_base_patch16_224",
            768,
            "ViT-B/16 (ImageNet)",
            data=DataConfig(crop_pct=0.9),
        ),
        ModelSpec(
            "efficientnet_lite0",
            "tf_efficientnet_lite0",
            1280,
            "EfficientNet-Lite0 (ImageNet, bundled)",
            bundled_weights=True,
        ),
    )
}
DEFAULT_MODEL = "vit_base_patch16_224"
FALLBACK_MODEL = "efficientnet_lite0"

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ModelLoadError(f"unknown model {name!r} (available: {known})") from None


@dataclass(frozen=True)
class ModelChoice:
    """Which model to load, with which weights, and whether the bundled one may stand in."""

    name: str
    weights: str | None
    allow_fallback: bool


def choose_model(
    library_model: str | None,
    settings_model: str,
    settings_weights: str = "",
    *,
    requested: str | None = None,
    weights: str | None = None,
    replace_library_model: bool = False,
) -> ModelChoice:
    """The model to load for a library.

    A library keeps the model it was built with (vectors of two models cannot be compared),
    unless the user asked to re-index it with another (``replace_library_model``). Otherwise
    an explicit ``requested`` model wins, then the settings. The settings' weights file goes
    with the settings' model only. The bundled model may stand in only where nothing is fixed
    yet: a library without vectors and no model asked for by name.
    """
    library = None if replace_library_model else library_model
    name = requested or library or settings_model
    chosen_weights = weights or (settings_weights if name == settings_model else "") or None
    allow_fallback = library is None and requested is None and not replace_library_model
    return ModelChoice(name, chosen_weights, allow_fallback)


def device_hint(requested: str = "auto") -> str:
    """The device a model loaded now would most likely use, told without importing torch
    (``status`` stays fast): torch's own answer if it is loaded already, else whether the
    system has an NVIDIA driver or an Apple GPU."""
    import sys

    requested = (requested or "auto").lower()
    if "torch" in sys.modules:
        from image_finder.core.embedding.extractor import resolve_device

        return resolve_device(requested)[0]
    import platform

    cuda = os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")
    mps = sys.platform == "darwin" and platform.machine() == "arm64"
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (requested == "cuda" and not cuda) or (requested == "mps" and not mps):
        return "cpu"
    return requested


class ModelState(enum.Enum):
    """Where a face's model is: loading (searches wait), ready, or failed (searching is off,
    with the reason). One for every face."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
