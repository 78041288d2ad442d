"""Loading the models a face searches with, in one place and with one fallback policy.

The image model is the one :func:`~image_finder.core.embedding.models.choose_model` picks for
the store and the settings (a face's request overriding them); the bundled model stands in for
one whose weights cannot be had, and says so in a notice. The CLIP model for words is the one
the request, the settings or the store's text vectors name; when it cannot be loaded, words
search the image model's ImageNet classes and a notice says why (unless the face asked for that
CLIP model by name: then its failure is the error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.config.settings import Settings
from image_finder.core.embedding.clip import DEFAULT_CLIP
from image_finder.core.embedding.models import ModelLoadError

__all__ = ["DEFAULT_CLIP", "ModelRequest", "Models", "index_words", "load_clip", "load_models"]

if TYPE_CHECKING:
    from image_finder.core.embedding.clip import ClipExtractor, TextIndexReport
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.stores.library import Library
    from image_finder.core.stores.store import Store

log = logging.getLogger(__name__)


WORDS_ON_CLASSES = "Words search ImageNet's classes only: {reason}."


@dataclass(frozen=True)
class ModelRequest:
    """What a face asks for beyond its settings (a command's options, the server's flags);
    None keeps the settings' value."""

    model: str | None = None
    weights: str | None = None
    device: str | None = None
    precision: str | None = None
    text_model: str | None = None  # asked by name: a failure to load it is an error
    text_weights: str | None = None
    replace_library_model: bool = False  # the window's confirmed change of model


@dataclass
class Models:
    """The loaded models and what the user should hear about them."""

    extractor: Extractor
    clip: ClipExtractor | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def stand_in(self) -> bool:
        """The bundled model stands in for the one asked for."""
        return bool(self.extractor.fallback_reason)


def load_extractor(
    store: Store, settings: Settings, request: ModelRequest = ModelRequest()
) -> Extractor:
    """The image model for ``store``. Raises ModelLoadError (ImageFinderError) with words."""
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.embedding.models import choose_model

    try:
        choice = choose_model(
            store.model,
            settings.model,
            settings.weights,
            requested=request.model,
            weights=request.weights,
            replace_library_model=request.replace_library_model,
        )
        return Extractor.load(
            choice.name,
            weights=choice.weights,
            device=request.device or settings.device,
            precision=request.precision or settings.precision,
            allow_fallback=choice.allow_fallback,
        )
    except ImageFinderError:
        raise
    except Exception as exc:  # torch, timm and the file system raise their own
        log.exception("loading the model failed")
        raise ModelLoadError(f"The model could not be loaded: {exc}") from exc


def clip_name(store: Store, settings: Settings, request: ModelRequest = ModelRequest()) -> str:
    """The CLIP model words are searched with ("" for none)."""
    return request.text_model or settings.text_model or store.text_model or ""


def load_clip(
    store: Store, settings: Settings, request: ModelRequest = ModelRequest()
) -> tuple[ClipExtractor | None, str]:
    """The CLIP model for words and, when it could not be had, the notice saying why."""
    from image_finder.core.embedding.clip import ClipExtractor

    name = clip_name(store, settings, request)
    if not name:
        return None, ""
    try:
        clip = ClipExtractor.load_clip(
            name,
            weights=request.text_weights or settings.text_weights or None,
            device=request.device or settings.device,
        )
    except Exception as exc:
        if request.text_model:
            if isinstance(exc, ImageFinderError):
                raise
            raise ModelLoadError(f"{name} could not be loaded: {exc}") from exc
        log.warning("CLIP not loaded: %s", exc)
        return None, WORDS_ON_CLASSES.format(reason=exc)
    return clip, ""


def load_models(
    store: Store,
    settings: Settings,
    request: ModelRequest = ModelRequest(),
    *,
    with_clip: bool = True,
) -> Models:
    """The image model and (``with_clip``) the CLIP model, with their notices. Raises
    ModelLoadError when the image model cannot be loaded."""
    extractor = load_extractor(store, settings, request)
    models = Models(extractor)
    if extractor.notice:
        models.notices.append(extractor.notice)
    if with_clip:
        models.clip, notice = load_clip(store, settings, request)
        if notice:
            models.notices.append(notice)
    return models


def unavailable_devices() -> dict[str, str]:
    """Devices this computer does not have, with the reason in a user's words (a face's
    device menu greys them out)."""
    from image_finder.core.embedding.extractor import unavailable_devices as missing

    return missing()


def index_words(
    library: Library,
    clip: ClipExtractor,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> TextIndexReport:
    """Bring the library's CLIP vectors up to date: every picture without one is embedded, a
    batch per transaction (a cancel loses at most the batch in flight)."""
    from image_finder.core.embedding.clip import index_text_vectors

    return index_text_vectors(library, clip, progress, cancelled)
