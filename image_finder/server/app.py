"""The server's app factory: middleware, error handlers, the API's routers and the web app.

The lifespan makes the one :class:`Service` (library, model, queues) and closes it; routes
reach it through ``deps``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from image_finder import __version__
from image_finder.core.common import paths
from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library
from image_finder.core.stores.store import Store
from image_finder.server import errors
from image_finder.server.config import ServerConfig
from image_finder.server.routes import API_PREFIX, api_router, hma, webapp
from image_finder.server.security import BodyLimit, HostCheck
from image_finder.server.service import Service
from image_finder.server.tokens import TokenStore

if TYPE_CHECKING:
    from image_finder.core.embedding.extractor import Extractor


def open_store(config: ServerConfig) -> Store:
    """The store ``config`` names: a catalogue (``--store``), else the library."""
    if config.store:
        from image_finder.core.stores.catalogue import Catalogue

        return Catalogue(config.store)
    return Library(paths.data_dir(config.data_dir))


def create_app(
    config: ServerConfig | None = None,
    *,
    library: Store | None = None,
    extractor: Extractor | None = None,
    tokens: TokenStore | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The app for ``config``. ``library`` (else the config's, opened at start) and
    ``extractor`` (else loaded at start, in the background) can be handed in."""
    config = config or ServerConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = library is None
        store = library if library is not None else open_store(config)
        service = Service(config, store, settings=settings, tokens=tokens, extractor=extractor)
        app.state.service = service
        service.start()
        try:
            yield
        finally:
            service.close()
            if own:
                store.close()

    app = FastAPI(
        title="Image Finder",
        version=__version__,
        summary="Find visually similar images in a library: by an uploaded photo, words or an "
        "item.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(api_router())
    app.include_router(hma.router)  # HMA's own paths (/h, /m, /c), for its clients
    app.include_router(webapp.router)
    app.mount("/static", StaticFiles(packages=[("image_finder.server", "static")]), name="static")
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=config.max_upload_bytes)
    app.add_middleware(HostCheck, allowed=config.host_names())  # outermost
    return app
