"""The application layer: one way to load models, one way to make search options, one way to
put store errors into words, and a store protocol whose capabilities callers ask."""

from __future__ import annotations

import errno
import sqlite3

import numpy as np
import pytest

from image_finder.core.app.models import ModelRequest, load_models
from image_finder.core.app.options import MAX_K, OptionError, search_options
from image_finder.core.common.dberrors import store_error
from image_finder.core.common.errors import (
    ImageFinderError,
    LibraryBusyError,
    LibraryDamagedError,
    LibraryReadOnlyError,
    LibraryWriteError,
)
from image_finder.core.config.settings import Settings
from image_finder.core.stores.store import Store, require_library


def test_a_library_is_a_store_with_every_capability(library, tmp_path):
    store: Store = library
    caps = store.capabilities
    assert caps.writable and caps.words and caps.concepts and caps.conditions and caps.files
    assert store.as_library() is library
    assert require_library(store, "A concept") is library
    assert store.describe() == {"library": str(tmp_path / "library")}
    assert store.location == str(tmp_path / "library")


def test_options_take_the_settings_defaults_and_a_face_overrides(library, photos):
    with library.writing():
        library.add_folder(photos)
    settings = Settings(top_k=7, min_score=0.5, rotations=True)
    options = search_options(library, settings)
    assert (options.top_k, options.min_score, options.rotations, options.folder) == (
        7, 0.5, True, None
    )  # fmt: skip
    options = search_options(library, settings, top_k=3, min_score=0.9, rotations=False,
                             folder=str(photos / "sub" / ".."))  # fmt: skip
    assert (options.top_k, options.min_score, options.rotations) == (3, 0.9, False)
    assert options.folder == str(photos)
    assert search_options(library, settings, top_k=10**6).top_k == MAX_K


@pytest.mark.parametrize(
    ("given", "field"),
    [({"top_k": 0}, "k"), ({"min_score": 1.5}, "min_score"), ({"nprobe": 0}, "nprobe")],
)
def test_options_out_of_range_name_their_field(library, given, field):
    with pytest.raises(OptionError) as caught:
        search_options(library, Settings(), **given)
    assert caught.value.field == field and "must be" in str(caught.value)


def test_a_folder_outside_the_library_is_refused_naming_its_folders(library, photos, tmp_path):
    with library.writing():
        library.add_folder(photos)
    with pytest.raises(OptionError) as caught:
        search_options(library, Settings(), folder=str(tmp_path / "elsewhere"))
    assert caught.value.field == "folder"
    assert "is not in the library (its folders: " in str(caught.value)
    assert "Pictures" in str(caught.value)


def test_models_load_once_with_the_stand_in_said(library, monkeypatch):
    """The ViT's weights cannot be had offline: the bundled model stands in and a notice says
    so; a CLIP model named by the settings that cannot be loaded leaves words on ImageNet's
    classes, said in a notice too, instead of failing the load."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(model="vit_base_patch16_224", device="cpu", text_model="clip_vit_b32")
    models = load_models(library, settings)
    assert models.extractor.name == "efficientnet_lite0" and models.stand_in
    assert models.clip is None
    assert any("ImageNet's classes only" in n for n in models.notices)
    assert len(models.notices) == 2


def test_a_clip_model_asked_by_name_that_cannot_load_is_an_error(library, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(model="efficientnet_lite0", device="cpu")
    with pytest.raises(ImageFinderError):
        load_models(library, settings, ModelRequest(text_model="clip_vit_b32"))


def test_an_unknown_model_is_one_clear_error(library):
    with pytest.raises(ImageFinderError, match="nonsense"):
        load_models(library, Settings(device="cpu"), ModelRequest(model="nonsense"))


def _sqlite_error(name: str, text: str) -> sqlite3.Error:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorname = name  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (_sqlite_error("SQLITE_BUSY", "database is locked"), LibraryBusyError, "busy"),
        (_sqlite_error("SQLITE_FULL", "database or disk is full"), LibraryWriteError,
         "disk is full"),
        (OSError(errno.ENOSPC, "No space left on device"), LibraryWriteError, "disk is full"),
        (_sqlite_error("SQLITE_IOERR", "disk I/O error"), LibraryWriteError, "disk may be full"),
        (_sqlite_error("SQLITE_READONLY", "attempt to write a readonly database"),
         LibraryReadOnlyError, "cannot be written"),
        (_sqlite_error("SQLITE_CORRUPT", "database disk image is malformed"),
         LibraryDamagedError, "damaged"),
    ],
)  # fmt: skip
def test_store_errors_have_one_set_of_words(exc, kind, words):
    error = store_error(exc)
    assert type(error) is kind and words in str(error)
    assert "kept" in str(store_error(exc, writing=True)) or kind in (
        LibraryBusyError, LibraryDamagedError
    )  # fmt: skip


def test_writing_makes_an_unclassified_error_a_failed_write():
    error = store_error(_sqlite_error("SQLITE_ERROR", "something odd"), writing=True)
    assert isinstance(error, LibraryWriteError)
    assert type(store_error(_sqlite_error("SQLITE_ERROR", "something odd"))) is ImageFinderError


def test_a_searcher_over_a_library_follows_its_vectors(library, lite0, photos):
    """Search reaches the library's own features through the protocol (no type test)."""
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.search.searcher import Query, Searcher

    with library.writing():
        index_folders([photos], library, lite0)
    searcher = Searcher(library, lite0)
    first = sorted(photos.rglob("*.jpg"))[0]
    outcome = searcher.search(Query.file(str(first)), search_options(library, Settings()))
    assert outcome.results[0].path == str(first)
    assert np.isclose(outcome.results[0].score, 1.0, atol=1e-3)
