"""The store protocol: what search, duplicates, the server and the faces read from a store,
and the capabilities they ask of it instead of testing its type.

Two stores implement it: a :class:`~image_finder.core.stores.library.Library` (SQLite + FAISS
in a folder, the embedded default) and a
:class:`~image_finder.core.stores.catalogue.Catalogue` (a Milvus collection filled by the Ray
job, beyond one machine). A caller asks ``store.capabilities`` whether something can be done
(words, concepts, conditions, writing) and ``store.as_library()`` for what only a library folder
keeps (concepts, the adapter, CLIP vectors, EXIF facts, files to trash or move): None says the
store has none of it, and the caller says so in words (:func:`library_only`).

An item is a file today; its identity is the store's integer id, which a part of a file (a
video's moment, a page) will have as well: an id names one picture, whatever holds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.records import FolderInfo, Item, Scan

if TYPE_CHECKING:
    from image_finder.core.stores.library import Library

LIBRARY_ONLY = (
    "{what} needs a library: a catalogue is searched by image, by its items, several examples "
    "and a folder."
)


def library_only(what: str) -> ImageFinderError:
    """The error for what a store without a library's features cannot do."""
    return ImageFinderError(LIBRARY_ONLY.format(what=what))


@dataclass(frozen=True)
class Capabilities:
    """What a store can do, asked by callers (the server's status, the faces' menus, search)
    before they try."""

    writable: bool  # folders added and indexed here, concepts saved, adapters tuned
    words: bool  # searching by words (the model's ImageNet classes or CLIP vectors)
    concepts: bool  # concepts learnt from examples, searched and used as conditions
    adapter: bool  # a tuned adapter over the model's vectors
    conditions: bool  # conditions other than a folder (EXIF facts: dates, cameras, places)
    files: bool  # its pictures are files on this machine: opened, trashed, moved
    texts: bool = False  # keeps the text read in its pictures, searched by its words

    def to_json(self) -> dict[str, bool]:
        return dict(self.__dict__)


class VectorSource(Protocol):
    """A store's vectors at one moment (``Store.snapshot``). Declared here, not taken from
    ``vector_index``: the catalogue reaches this module, and it never reaches the library's
    index (the "two stores are independent" contract)."""

    def sample(
        self, n: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


class SearchedIndex(Protocol):
    """A store's nearest-neighbour search (the library's FAISS index, Milvus for a
    catalogue)."""

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        restrict_to: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def info(self) -> dict[str, Any]: ...

    @property
    def notices(self) -> list[str]: ...


class Store(Protocol):
    """What every store answers (see the module's docstring)."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def location(self) -> str:
        """Where the store is, for people: a folder, or a catalogue's address."""
        ...

    def describe(self) -> dict[str, str]:
        """What the store is, in the fields of its status (``library``, or ``store`` and
        ``collection``)."""
        ...

    def as_library(self) -> Library | None:
        """The store's library features (None: it has none; see ``capabilities``)."""
        ...

    @property
    def read_only(self) -> bool: ...

    @property
    def model(self) -> str | None: ...

    @property
    def dim(self) -> int | None: ...

    @property
    def generation(self) -> int: ...

    @property
    def space(self) -> str: ...

    @property
    def text_model(self) -> str | None: ...

    @property
    def notices(self) -> list[str]: ...

    @property
    def vector_index(self) -> SearchedIndex: ...

    @property
    def active_adapter(self) -> Any: ...

    def close(self) -> None: ...

    def check_model(self, name: str, dim: int) -> None: ...

    def meta_value(self, key: str) -> str | None: ...

    def count(self) -> int: ...

    def folders(self) -> list[FolderInfo]: ...

    def items(self, ids: Iterable[int]) -> dict[int, Item]: ...

    def item_by_path(self, path: str) -> Item | None: ...

    def vectors(self, ids: Sequence[int], *, original: bool = False) -> np.ndarray: ...

    def layouts(self, ids: Sequence[int]) -> dict[int, bytes]: ...

    def ids_under(self, folder: str) -> np.ndarray: ...

    def same_content_groups(self) -> list[list[int]]: ...

    def part_ids(self) -> np.ndarray:
        """The ids of the items that are parts of files (a video's moments)."""
        ...

    def page_prints(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The prints of those items that are pages (core/pictures/page_print.py); a store
        that keeps none gives none."""
        ...

    def page_ids(self) -> np.ndarray:
        """The ids of the pages with a print (none: the store keeps no prints)."""
        ...

    def scans(self, ids: Sequence[int]) -> dict[int, Scan]:
        """What is shown of those items that are medical images (modality, body part, study
        date, series; their series group in results); a store that keeps none gives none."""
        ...

    def searched(self, vectors: np.ndarray) -> np.ndarray: ...

    def text_counts(self) -> tuple[int, int]: ...

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """(source, text, lines as JSON) of those items whose text was read."""
        ...

    def snapshot(
        self, *, original: bool = False
    ) -> contextlib.AbstractContextManager[VectorSource]: ...


def require_library(store: Store, what: str) -> Library:
    """The store's library features, or the clear error that ``what`` needs them."""
    library = store.as_library()
    if library is None:
        raise library_only(what)
    return library
