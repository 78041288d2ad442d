"""What a running server holds: the store (a library or a catalogue), the model (loaded once,
at start), the search queue, the index jobs and the thumbnail cache. One object, made by the
app's lifespan and handed to routes through ``deps``; nothing lives in module globals."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from image_finder.core.app.options import moment_rule
from image_finder.core.common.errors import ImageFinderError
from image_finder.core.config.settings import Settings
from image_finder.core.embedding.models import ModelState
from image_finder.core.search import examples
from image_finder.core.search.batching import SearchQueue
from image_finder.core.stores.store import Store
from image_finder.server.config import ServerConfig
from image_finder.server.errors import CATALOGUE_WRITES, RETRY_AFTER_SECONDS, ApiError
from image_finder.server.jobs import JobManager
from image_finder.server.thumbnails import ThumbnailCache
from image_finder.server.tokens import TokenChecker, TokenStore

if TYPE_CHECKING:
    from image_finder.core.app.banks import MatchSender
    from image_finder.core.banks.webhooks import Delivery
    from image_finder.core.embedding.clip import ClipExtractor
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.search.searcher import Searcher
    from image_finder.core.stores.library import Library

log = logging.getLogger("image_finder.server")


class Service:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        *,
        settings: Settings | None = None,
        tokens: TokenStore | None = None,
        extractor: Extractor | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.settings = settings or Settings.load()
        self.tokens = TokenChecker(tokens or TokenStore())
        self.thumbnails = ThumbnailCache(config.thumbnail_cache_mb * 1024 * 1024)
        self.model_state = ModelState.LOADING
        self.model_error = ""
        self.model_ready = threading.Event()
        self.searcher: Searcher | None = None
        self._queue: SearchQueue | None = None
        self._extractor = extractor
        self.jobs = JobManager(store.as_library(), self._job_extractor, moment_rule(self.settings),
                               read_text=self.settings.read_text)  # fmt: skip
        self.duplicates_cache: dict[tuple[Any, ...], Any] = {}
        self.last_trashed: list[str] = []  # the files of the last move to the trash (undo)
        self._sender: MatchSender | None = None  # the matches to their webhooks

    # -- the model ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model in the background: the API answers meanwhile (503 for what needs
        it); deliver the matches in watched banks to their webhooks meanwhile."""
        library = self.store.as_library()
        if library is not None:
            from image_finder.core.app.banks import MatchSender

            self._sender = MatchSender(library, _delivered).start()
        if self._extractor is not None:
            self._ready(self._extractor)
            return
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        from image_finder.core.app.models import ModelRequest, load_models

        request = ModelRequest(
            model=self.config.model,
            weights=self.config.weights,
            device=self.config.device,
            precision=self.config.precision,
        )
        try:
            models = load_models(self.store, self.settings, request)
        except ImageFinderError as exc:
            self.model_error = str(exc)
            self.model_state = ModelState.FAILED
            self.model_ready.set()
            return
        for notice in models.notices:
            log.warning("%s", notice)
        self._ready(models.extractor, models.clip)

    def _ready(self, extractor: Extractor, clip: ClipExtractor | None = None) -> None:
        from image_finder.core.search.searcher import Searcher

        self._extractor = extractor
        self.searcher = Searcher(self.store, extractor.for_thread(), clip)
        self._queue = SearchQueue(
            self.searcher, max_pending=self.config.max_pending, decoders=self.config.decoders
        )
        self.model_state = ModelState.READY
        self.model_ready.set()
        threading.Thread(target=examples.warm_up, name="warm-up", daemon=True).start()
        log.info("model %s ready on %s (%s)", extractor.name, extractor.device, extractor.precision)
        self._resume_unfinished()

    def _resume_unfinished(self) -> None:
        """Folders whose indexing was cut short (a server stopped or killed during a job)
        are indexed on, as a job of their own, unless the settings say not to."""
        library = self.store.as_library()
        if library is None or library.read_only:
            return
        if not self.settings.resume_interrupted:
            return
        unfinished = [f.path for f in library.folders() if not f.complete]
        if unfinished:
            job = self.jobs.start(unfinished)
            log.warning("resuming the indexing of %d unfinished folder(s) as job %s",
                        len(unfinished), job.id)  # fmt: skip

    def _not_ready(self) -> ApiError:
        if self.model_state is ModelState.FAILED:
            return ApiError(503, "model_failed", self.model_error)
        return ApiError(
            503,
            "model_loading",
            "The model is still loading; try again in a moment.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @property
    def queue(self) -> SearchQueue:
        if self._queue is None:
            raise self._not_ready()
        return self._queue

    def _job_extractor(self) -> Extractor:
        if self._extractor is None:
            raise self._not_ready()
        return self._extractor.for_thread()

    def extractor(self) -> Extractor:
        """The model, for a thread of its own (503 while it loads)."""
        return self._job_extractor()

    def require_model(self, *, matching: bool = False) -> None:
        """503 while the model loads; with ``matching``, ModelMismatchError (409) when the
        library holds another model's vectors."""
        if self._extractor is None:
            raise self._not_ready()
        if matching:
            self.store.check_model(self._extractor.name, self._extractor.dim)

    def require_library(self) -> Library:
        """The library, for what changes it; 409 over a catalogue (its job writes it)."""
        library = self.store.as_library()
        if library is None:
            raise ApiError(409, "catalogue", CATALOGUE_WRITES)
        return library

    @property
    def model_name(self) -> str | None:
        return self._extractor.name if self._extractor is not None else None

    def close(self) -> None:
        self.jobs.close()
        if self._sender is not None:
            self._sender.close()
        if self._queue is not None:
            self._queue.close()


def _delivered(delivery: Delivery) -> None:
    """A delivery to a webhook, in the server's log (its address, never its secret)."""
    if delivery.error:
        log.warning("webhook %s (%s): %d matches not delivered: %s; tried again in %.0f s",
                    delivery.hook.id, delivery.hook.url, delivery.delivered, delivery.error,
                    max(0.0, delivery.hook.next_try_at - time.time()))  # fmt: skip
    else:
        log.info("webhook %s (%s): %d matches delivered", delivery.hook.id, delivery.hook.url,
                 delivery.delivered)  # fmt: skip
