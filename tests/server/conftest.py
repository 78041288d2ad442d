"""A server over a library of real photos, reached through FastAPI's TestClient at
127.0.0.1 (the Host it accepts)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BASE_URL = "http://127.0.0.1:8765"


@pytest.fixture(scope="session")
def indexed_template(photo_source: Path, lite0, tmp_path_factory) -> Path:
    """A library of the skimage photos, indexed once with EfficientNet-Lite0 (copied per
    test: its photos are read-only)."""
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library

    folder = tmp_path_factory.mktemp("server-library") / "library"
    with Library(folder) as library:
        index_folders([photo_source], library, lite0)
    return folder


@pytest.fixture
def library_dir(indexed_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "library"
    shutil.copytree(indexed_template, target, ignore=shutil.ignore_patterns("*.lock"))
    return target


@pytest.fixture
def serve(library_dir: Path, lite0) -> Iterator[Any]:
    """``serve(**config)`` -> a TestClient over the library (its lifespan running)."""
    from fastapi.testclient import TestClient

    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig

    with contextlib.ExitStack() as stack:

        def start(extractor: Any = lite0, folder: Path = library_dir, **config: Any) -> Any:
            library = stack.enter_context(Library(folder))
            app = create_app(ServerConfig(**config), library=library, extractor=extractor)
            return stack.enter_context(TestClient(app, base_url=BASE_URL))

        yield start


@pytest.fixture
def token() -> str:
    from image_finder.server.tokens import TokenStore

    return TokenStore().main_token()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jpeg_bytes(path: Path) -> bytes:
    return path.read_bytes()
