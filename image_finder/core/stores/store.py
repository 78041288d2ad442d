"""Either store, as search, duplicates and the server read it: a library (SQLite + FAISS, the
embedded default) or a catalogue (Milvus, beyond one machine)."""

from __future__ import annotations

from typing import TypeAlias

from image_finder.core.stores.catalogue import Catalogue
from image_finder.core.stores.library import Library

Store: TypeAlias = Library | Catalogue
