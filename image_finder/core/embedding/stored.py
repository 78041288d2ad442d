"""A stand-in for a library's model where a search reads stored vectors only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.embedding.extractor import Extractor, _Runtime
from image_finder.core.embedding.models import MODELS, ModelSpec


class StoredVectorsOnly(Extractor):
    """Stands in for a library's model where a search reads stored vectors only (a concept):
    it names the model and its size, and loads nothing (no torch)."""

    def __init__(self, name: str, dim: int) -> None:
        known = MODELS.get(name)
        self.spec = known or ModelSpec(name, "", dim, name)
        self.device = "cpu"
        self._runtime = _Runtime("fp32", "stored vectors only", "fp32")
        self.weights_source = "none"
        self.notice = None
        self.fallback_reason = ""
        self._head = None
        self.min_decode_size = 0
        self.batch_size = 1

    def for_thread(self) -> StoredVectorsOnly:
        return self

    def embed_tensors(self, batch: Sequence[Any], precision: str | None = None) -> np.ndarray:
        raise ImageFinderError("this search reads stored vectors only: no model is loaded")
