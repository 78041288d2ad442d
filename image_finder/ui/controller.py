"""The application state the window shows, and the work it starts: no widgets here.

:class:`Controller` owns the search thread (model + search) and the window's job runner
(indexing, duplicates, clean-up, learning: core/app/jobs.py, whose events it turns into
signals), the model's state, the query waiting for the model, the search history and the
generation token that drops stale results. Panels read its properties and react to its signals;
none of them calls another panel's refresh by hand.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from image_finder.core.app.jobs import (
    IndexJob,
    Job,
    JobKind,
    JobQueue,
    JobState,
    JoinedProgress,
    Work,
)
from image_finder.core.app.options import search_options
from image_finder.core.common.errors import EmptyLibraryError, ImageFinderError, LibraryBusyError
from image_finder.core.config.settings import Settings
from image_finder.core.embedding.models import ModelState
from image_finder.core.search.searcher import Query, SearchOutcome
from image_finder.core.stores.library_files import READ_ONLY_NOTICE as READ_ONLY
from image_finder.ui.history import History
from image_finder.ui.housekeeping import Housekeeping
from image_finder.ui.learning import Learning
from image_finder.ui.states import Request, Waiting, WaitReason
from image_finder.ui.workers import JobBridge, SearchWorker

if TYPE_CHECKING:
    from image_finder.core.common.records import FolderInfo
    from image_finder.core.embedding.clip import ClipExtractor
    from image_finder.core.embedding.extractor import Extractor
    from image_finder.core.indexing.indexer import IndexPhase, IndexReport
    from image_finder.core.indexing.watch import FolderWatcher, WatchBatch, WatchMode
    from image_finder.core.stores.library import Library


log = logging.getLogger(__name__)


class NoticeKind(enum.Enum):
    """What a notice is about, so that it can be taken back when it stops being true."""

    MODEL = "model"
    OFFLINE = "offline"
    BUSY = "busy"
    ERROR = "error"
    WATCH = "watch"
    MATCHES = "matches"  # pictures found in watched hash banks


LIBRARY_POLL_MS = 2000  # how often the window looks for changes made by other processes
INDEXING_WAIT = "Indexing… the search starts as soon as it has finished."
INDEXES = (JobKind.INDEX, JobKind.WATCH)


class Controller(QObject):
    """The application's state and its background work, driven from the GUI thread."""

    # requests to the workers (queued across threads)
    _load_model_requested = Signal(object, bool)  # settings, model replaces the library's
    _search_requested = Signal(int, object, object)  # generation, Query, SearchOptions
    _watch_batch = Signal(object)  # WatchBatch, from the watcher's thread
    _watch_notice = Signal(str)

    model_state_changed = Signal(object)  # ModelState
    library_changed = Signal()  # folders or image count: read folders and count
    indexing_changed = Signal(bool)  # a job started (True) or the queue ran dry (False)
    index_progress = Signal(object)  # IndexProgress
    index_finished = Signal(object)  # IndexReport
    query_changed = Signal(object)  # the Query being searched (or waiting)
    query_waiting = Signal(str)  # why the query has not run yet
    searching_changed = Signal(bool)
    results_ready = Signal(object)  # SearchOutcome of the current query
    search_failed = Signal(str, object)  # message, the Query that failed
    history_changed = Signal()
    notice = Signal(object, str)  # NoticeKind, text: shown until dismissed or withdrawn
    notice_withdrawn = Signal(object)  # NoticeKind that is no longer true
    settled = Signal()  # model, indexing, search and the views' own work all done
    duplicates_ready = Signal(object)  # duplicates.Pairs
    duplicates_progress = Signal(int, int)  # images compared, images in scope
    cleanup_done = Signal(object)  # cleanup.CleanupReport

    def __init__(self, library: Library, settings: Settings, parent: QObject | None = None):
        super().__init__(parent)
        self.library = library
        self.settings = settings
        self.model_state = ModelState.LOADING
        self.extractor: Extractor | None = None
        self.folders: list[FolderInfo] = library.folders()
        self.count = library.count()
        self.history: History[Query] = History()
        self.current_query: Query | None = None  # the query shown, searched or waiting
        self.shown_query: Query | None = None  # the query whose results are shown
        self.last_outcome: SearchOutcome | None = None
        self.last_report: IndexReport | None = None
        self.last_search_ms: float | None = None
        self.options = search_options(library, settings)
        self._held: JobQueue[IndexJob] = JobQueue()  # indexing asked for before the model
        self._index_jobs: dict[str, Job] = {}  # indexing submitted, not yet seen to end
        self._indexing_shown = False  # indexing_changed(True) was said last
        self._last_phase: IndexPhase | None = None
        self._extractor_for_jobs: Extractor | None = None  # indexing's own (for_thread)
        self._clip_for_jobs: ClipExtractor | None = None  # keeps the vectors for words along
        self._waiting: Waiting | None = None  # the query that runs once it can
        self._request: Request | None = None
        self._generation = 0
        self._busy_checks: list[Callable[[], bool]] = []
        self._shown: set[NoticeKind] = set()  # notices that polling may take back
        self._seen_generation = library.generation
        self._seen_online = tuple(f.online for f in self.folders)
        self._poll = QTimer(self)
        self._poll.setInterval(LIBRARY_POLL_MS)
        self._poll.timeout.connect(self.poll_library)
        self._poll.start()
        self._watcher: FolderWatcher | None = None
        self._joined = JoinedProgress()
        self._watch_batch.connect(self._on_watcher_batch)
        self._watch_notice.connect(lambda text: self.notice.emit(NoticeKind.WATCH, text))
        self._started = False  # the first model load catches up and starts watching
        if library.read_only:  # searching works; nothing to catch up with or watch
            QTimer.singleShot(0, self, lambda: self.notice.emit(NoticeKind.ERROR, READ_ONLY))
        self._start_workers()

    # -- threads ------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        self.search_thread = QThread(self)
        self.search_thread.setObjectName("search")
        self._search_worker = SearchWorker(self.library)
        self._search_worker.moveToThread(self.search_thread)
        self._load_model_requested.connect(self._search_worker.load_model)
        self._search_requested.connect(self._search_worker.search)
        self._search_worker.model_loaded.connect(self._on_search_worker_model_loaded)
        self._search_worker.model_failed.connect(self._on_search_worker_model_failed)
        self._search_worker.results_ready.connect(self._on_search_worker_results_ready)
        self._search_worker.search_failed.connect(self._on_search_worker_search_failed)
        self.search_thread.finished.connect(self._search_worker.deleteLater)

        self.jobs = JobBridge(self)
        self.learning = Learning(self.library, self.jobs, self)
        self.housekeeping = Housekeeping(self.library, self.jobs, self)
        self.housekeeping.duplicates_ready.connect(self.duplicates_ready)
        self.housekeeping.duplicates_progress.connect(self.duplicates_progress)
        self.housekeeping.cleanup_done.connect(self._on_cleanup_done)
        self.housekeeping.library_touched.connect(self._read_library)
        self.housekeeping.failed.connect(lambda text: self.notice.emit(NoticeKind.ERROR, text))
        for changed in (self.learning.adapter_changed, self.learning.concept_learnt):
            changed.connect(self.repeat_search)  # the same query on what changed
        self.search_thread.start()
        self._load_model_requested.emit(self.settings, False)

    def shutdown(self) -> None:
        """Cancel jobs, stop the threads and wait for them; idempotent."""
        self.stop_watching()
        self._poll.stop()
        self._held.clear()
        self.jobs.close()
        self.search_thread.quit()
        self.search_thread.wait()

    # -- state --------------------------------------------------------------------------------

    @property
    def indexing(self) -> bool:
        """An indexing job runs or waits."""
        return bool(self._index_jobs) or bool(self._held)

    @property
    def clip_ready(self) -> bool:
        """Words search with CLIP (any phrase, and an image with words), not ImageNet's words."""
        searcher = self._search_worker.searcher
        return searcher is not None and searcher.clip_ready

    @property
    def searching(self) -> bool:
        return self._request is not None

    @property
    def waiting_query(self) -> Query | None:
        """The query that runs once the model is ready or indexing is done (also one the empty
        library refused, while a folder is being indexed)."""
        waiting = self._waiting
        if waiting is None or not (waiting.runs_when_ready or self._index_jobs):
            return None
        return waiting.query

    def add_busy_check(self, busy: Callable[[], bool]) -> None:
        """Work of a view (thumbnails loading, say) that also keeps the app from settling."""
        self._busy_checks.append(busy)

    def is_settled(self) -> bool:
        return (
            self.model_state is not ModelState.LOADING
            and not self.indexing
            and not self.searching
            and not (self._waiting is not None and self._waiting.runs_when_ready)
            and not any(busy() for busy in self._busy_checks)
        )

    def check_settled(self, *args: object) -> None:
        """Emit ``settled`` (once the event loop has run) if nothing is left to do."""
        if self.is_settled():
            # the context object cancels the call if the controller is gone by then
            QTimer.singleShot(0, self, self._emit_if_settled)

    def _emit_if_settled(self) -> None:
        if self.is_settled():
            self.settled.emit()

    # -- model --------------------------------------------------------------------------------

    def _set_model_state(self, state: ModelState) -> None:
        self.model_state = state
        self.model_state_changed.emit(state)

    def _on_search_worker_model_loaded(self, extractor: Extractor) -> None:
        self.extractor = extractor
        self._extractor_for_jobs = extractor.for_thread()
        self.learning.set_extractor(extractor.for_thread())
        clip = self._search_worker.clip
        self._clip_for_jobs = clip.for_thread() if clip is not None else None
        first_load, self._started = not self._started, True
        self._set_model_state(ModelState.READY)
        unfinished = [f.path for f in self.folders if not f.complete]
        writable = not self.library.read_only
        if first_load and self.settings.watch_folders and self.folders and writable:
            # catch up with what changed while the app was closed, then keep up
            self._held.push(IndexJob(tuple(f.path for f in self.folders)), first=True)
            self.start_watching()
        elif first_load and unfinished and self.settings.resume_interrupted:
            self._held.push(IndexJob(tuple(unfinished)), first=True)
        if extractor.notice:
            self.notice.emit(NoticeKind.MODEL, extractor.notice)
        while (held := self._held.pop()) is not None:  # in the order they were asked for
            self._submit_index(held)
        self._run_pending()
        self.check_settled()

    def _on_search_worker_model_failed(self, message: str) -> None:
        self._set_model_state(ModelState.FAILED)
        self.notice.emit(NoticeKind.MODEL, message)
        self._held.clear()
        self.jobs.cancel(INDEXES, queued_only=True)
        if self._waiting is not None and self._waiting.runs_when_ready:  # nothing can run it
            self._waiting = None
            self.search_failed.emit(message, self.current_query)
        self.check_settled()

    def apply_settings(self, new: Settings, reindex: bool = False) -> None:
        """Use ``new``. A model other than the library's is only taken with ``reindex``, and
        then every folder is indexed again with it."""
        old = self.settings
        library_model = self.library.model
        if library_model and new.model != old.model and not reindex:
            new = dataclasses.replace(new, model=old.model)
        # The library keeps its model (the bundled one may stand in for the settings' choice):
        # only a confirmed change of the model itself indexes everything again.
        rebuild = bool(library_model) and reindex and new.model != library_model
        self.settings = new
        self.options = dataclasses.replace(  # the query's own score and folder stay
            search_options(self.library, new),
            min_score=self.options.min_score,
            folder=self.options.folder,
        )
        if new.watch_folders != old.watch_folders:
            self.start_watching() if self._watches() else self.stop_watching()
        engine = ("model", "weights", "device", "precision", "text_model", "text_weights")
        failed = self.model_state is ModelState.FAILED  # OK tries a failed model again
        if rebuild or failed or any(getattr(new, f) != getattr(old, f) for f in engine):
            log.info("settings changed the model's setup; %s",
                     "indexing again" if rebuild else "the library keeps its model")  # fmt: skip
            self._set_model_state(ModelState.LOADING)
            if rebuild:
                self._held.push(IndexJob(tuple(f.path for f in self.folders), rebuild=True))
            self._load_model_requested.emit(new, rebuild)
        else:
            self.repeat_search()

    # -- indexing -----------------------------------------------------------------------------

    def add_folders(self, folders: Sequence[str], rebuild: bool = False) -> None:
        self._queue_index(IndexJob(tuple(os.path.abspath(f) for f in folders), rebuild))

    def rescan(self) -> None:
        if self.folders:
            self.add_folders([f.path for f in self.folders])

    def resume(self, folders: Sequence[str] | None = None) -> None:
        """Index again the folders whose last run did not finish (or ``folders``)."""
        unfinished = [f.path for f in self.folders if not f.complete]
        if folders or unfinished:
            self.add_folders(list(folders or unfinished))

    def _on_cleanup_done(self, report: object) -> None:
        self.cleanup_done.emit(report)
        if self.current_query is not None:
            self.repeat_search()  # results follow the library

    def cancel_indexing(self) -> None:
        """Stop after the batch in flight; queued jobs are dropped."""
        self._held.clear()
        self.jobs.cancel(INDEXES)

    def _queue_index(self, job: IndexJob) -> None:
        """Index now (in the runner's turn), or once the model is ready."""
        if self.model_state is ModelState.READY:
            self._submit_index(job)
        else:
            self._held.push(job)

    def _index_work(self, job: IndexJob) -> Work:
        from image_finder.core.app.options import moment_rule
        from image_finder.core.app.work import index_work

        def extractor() -> Extractor:
            if self._extractor_for_jobs is None:
                raise ImageFinderError("The model is not loaded.")
            return self._extractor_for_jobs

        return index_work(self.library, extractor, job.folders, rebuild=job.rebuild,
                          batch=job.batch, clip=lambda: self._clip_for_jobs,
                          moments=moment_rule(self.settings),
                          read_text=self.settings.read_text)  # fmt: skip

    def _submit_index(self, job: IndexJob) -> None:
        if job.batch is not None:
            submitted = self.jobs.submit_watch(
                job.batch, lambda merged: self._index_work(IndexJob(merged.roots, batch=merged)),
                self._on_index_event,
            )  # fmt: skip
        else:
            work = self._index_work(job)
            submitted = self.jobs.submit(JobKind.INDEX, work, self._on_index_event, job.folders)
        self._index_jobs[submitted.id] = submitted
        if not self._indexing_shown:
            self._indexing_shown = True
            self.indexing_changed.emit(True)
        if self._waiting is not None and not self._waiting.runs_when_ready:
            self.query_waiting.emit(INDEXING_WAIT)  # a query the empty library refused

    def _on_index_event(self, job: Job) -> None:
        from image_finder.core.indexing.indexer import IndexPhase, IndexProgress, IndexReport

        if job.state is JobState.QUEUED and job.retries:  # another process writes: it waits
            self._shown.add(NoticeKind.BUSY)
            self.notice.emit(NoticeKind.BUSY, job.message)
        elif job.state is JobState.RUNNING and isinstance(job.detail, IndexProgress):
            progress = job.detail
            if progress.phase is not self._last_phase:  # a folder just added is listed now
                self._read_library()
            self._last_phase = progress.phase
            self.index_progress.emit(self._joined.relay(progress))
            if progress.phase is IndexPhase.EMBEDDING:  # the counts follow the embedding
                self._read_library()
        elif job.state.finished:
            self._index_jobs.pop(job.id, None)
            self._last_phase = None
            self._read_library()  # first, so that the library is current when the job ends
            if job.state is JobState.FAILED:
                self._on_index_failed(job, job.message, type(job.error or ImageFinderError()))
            elif isinstance(job.result, IndexReport):
                self._on_index_finished(job, job.result)
            else:  # cancelled before it started, or nothing left to apply
                self._job_done(job, changed=False)

    def _on_index_finished(self, job: Job, report: IndexReport) -> None:
        self.last_report = report
        if NoticeKind.BUSY in self._shown:
            self._withdraw(NoticeKind.BUSY)
        if NoticeKind.OFFLINE in self._shown and not report.offline_folders:
            self._withdraw(NoticeKind.OFFLINE)
        if report.offline_folders:
            from image_finder.core.common.records import display_name

            self._shown.add(NoticeKind.OFFLINE)
            self.notice.emit(
                NoticeKind.OFFLINE,
                "Offline folders (their images are kept until they return or you remove them): "
                + ", ".join(display_name(f) for f in report.offline_folders),
            )
        if report.matches:
            n = len(report.matches)
            said = "1 picture indexed matches" if n == 1 else f"{n:,} pictures indexed match"
            self.notice.emit(NoticeKind.MATCHES, f"{said} watched hash banks: Tools ▸ Matches…"
                             " to review.")  # fmt: skip
        self._job_done(job, changed=bool(report.added or report.updated or report.moved
                                         or report.removed))  # fmt: skip
        self.index_finished.emit(report)

    def _on_index_failed(self, job: Job, message: str, error: type) -> None:
        kind = NoticeKind.BUSY if error is LibraryBusyError else NoticeKind.ERROR
        self._shown.add(kind)
        self.notice.emit(kind, message)
        self._job_done(job, changed=True)

    def _job_done(self, finished: Job, changed: bool) -> None:
        following = min(self._index_jobs.values(), key=lambda j: int(j.id), default=None)
        self._joined.job_done(finished, following)
        if not self.indexing:
            self._indexing_shown = False
            self.indexing_changed.emit(False)
            # Results shown may hold images that are gone, or miss new ones: search again.
            waiting = self._waiting
            if waiting is not None and not waiting.runs_when_ready:  # a folder is indexed now
                self._waiting = Waiting(waiting.query, True, WaitReason.INDEXING)
            elif waiting is None and changed and self.current_query is not None:
                self._waiting = Waiting(self.current_query, False, WaitReason.INDEXING)
            self._run_pending()
        self.check_settled()

    def _read_library(self) -> None:
        self._on_library_read(self.library.folders(), self.library.count())

    def _on_library_read(self, folders: list[FolderInfo], count: int) -> None:
        if self._watcher is not None and [f.path for f in folders] != [
            f.path for f in self.folders
        ]:
            self._watcher.set_folders([f.path for f in folders])
        elif self._watcher is None and folders and self._started and self._watches():
            # the first folder of a library (the first session): watched from now on
            self.folders = folders
            self.start_watching()
        self.folders = folders
        self.count = count
        self._seen_generation = self.library.generation
        self._seen_online = tuple(f.online for f in folders)
        self.library_changed.emit()

    # -- watching -----------------------------------------------------------------------------

    def _watches(self) -> bool:
        return self.settings.watch_folders and not self.library.read_only

    def start_watching(self) -> None:
        """Watch every folder of the library: changes are indexed as they settle."""
        from image_finder.core.indexing.watch import FolderWatcher

        if self._watcher is None:
            self._watcher = FolderWatcher(
                [f.path for f in self.folders],
                self._watch_batch.emit,
                notice=self._watch_notice.emit,
            )
            self._watcher.start()
            self.library_changed.emit()  # the panel shows what is watched

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
            self.library_changed.emit()

    def watch_mode(self, folder: str) -> WatchMode | None:
        """How ``folder`` is watched now (None: not watched)."""
        return self._watcher.modes.get(folder) if self._watcher is not None else None

    def _on_watcher_batch(self, batch: WatchBatch) -> None:
        """One index job for a batch; a batch that comes while a watch job waits joins it, so
        that copying thousands of files is a few jobs."""
        if self.model_state is ModelState.READY:
            self._submit_index(IndexJob(batch.roots, batch=batch))
        else:  # the model is loaded again: the batch waits for it
            self._held.push_watch(batch, lambda merged, _: IndexJob(merged.roots, batch=merged))

    def poll_library(self) -> None:
        """Follow what changed without this window: another process indexed or removed
        folders, a drive came back, the other writer finished. Cheap: one query, and the
        folder list only when something moved."""
        if self.indexing:
            return
        generation = self.library.generation
        online = tuple(f.online for f in self.folders)
        if generation != self._seen_generation or online != self._seen_online:
            changed = generation != self._seen_generation
            self._read_library()
            if changed and self.current_query is not None and self._request is None:
                self.repeat_search()  # results follow the library
        if NoticeKind.OFFLINE in self._shown and all(self._seen_online):
            self._withdraw(NoticeKind.OFFLINE)
        if NoticeKind.BUSY in self._shown and not self.library.writer_elsewhere():
            self._withdraw(NoticeKind.BUSY)

    def _withdraw(self, kind: NoticeKind) -> None:
        self._shown.discard(kind)
        self.notice_withdrawn.emit(kind)

    # -- searching ----------------------------------------------------------------------------

    def search(self, query: Query) -> None:
        """Search with a new query (a new step in the history once it gives results)."""
        self._run(query, record=True)

    def repeat_search(self) -> None:
        """Search the current query again (options changed, or the library did)."""
        if self.current_query is not None and self.model_state is ModelState.READY:
            self._run(self.current_query, record=False)

    def set_options(self, **changes: object) -> None:
        self.options = dataclasses.replace(self.options, **changes)  # type: ignore[arg-type]
        self.repeat_search()

    def go_back(self) -> None:
        query = self.history.back()
        if query is not None:
            self.history_changed.emit()
            self._run(query, record=False)

    def go_forward(self) -> None:
        query = self.history.forward()
        if query is not None:
            self.history_changed.emit()
            self._run(query, record=False)

    def _run(self, query: Query, record: bool) -> None:
        self.current_query = query
        self.query_changed.emit(query)
        if self.model_state is ModelState.FAILED:
            self.search_failed.emit("The model could not be loaded, so searching is off.", query)
            return
        if self.model_state is ModelState.LOADING:
            waiting = self._waiting
            if record or waiting is None or not waiting.runs_when_ready:  # else: it stays
                self._waiting = Waiting(query, record, WaitReason.MODEL)
            self.query_waiting.emit("Loading model… the search starts as soon as it is ready.")
            return
        if self.count == 0 and self.indexing:
            self._waiting = Waiting(query, record, WaitReason.INDEXING)
            self.query_waiting.emit(INDEXING_WAIT)
            return
        self._generation += 1
        self._request = Request(self._generation, query, record, time.perf_counter())
        self._search_worker.supersede(self._generation)
        self.searching_changed.emit(True)
        self._search_requested.emit(self._generation, query, self.options)

    def _run_pending(self) -> None:
        waiting = self._waiting
        if waiting is None or not waiting.runs_when_ready:
            return
        if self.model_state is not ModelState.READY:
            return
        if self.count == 0 and self.indexing:
            return
        self._waiting = None
        self._run(waiting.query, record=waiting.record)

    def _finish_request(self, generation: int) -> Request | None:
        """The request ``generation`` answers, or None when a newer one was made since."""
        request = self._request
        if request is None or generation != request.generation:
            return None  # an older search finished after a newer one was asked for
        self._request = None
        self.searching_changed.emit(False)
        return request

    def _on_search_worker_results_ready(self, generation: int, outcome: SearchOutcome) -> None:
        request = self._finish_request(generation)
        if request is None:
            return
        self.last_search_ms = (time.perf_counter() - request.started) * 1000
        if request.record and self.history.current != request.query:
            self.history.push(request.query)
            self.history_changed.emit()
        self.shown_query = request.query
        self.last_outcome = outcome
        self.results_ready.emit(outcome)
        self.check_settled()

    def _on_search_worker_search_failed(self, generation: int, message: str, error: type) -> None:
        request = self._finish_request(generation)
        if request is None:
            return
        if error is EmptyLibraryError and self.indexing:
            # runs again once indexing has finished
            self._waiting = Waiting(request.query, request.record, WaitReason.INDEXING)
            self.query_waiting.emit(INDEXING_WAIT)
            return
        if error is EmptyLibraryError:
            # runs once a folder has been indexed
            self._waiting = Waiting(request.query, True, WaitReason.EMPTY_LIBRARY)
        # The last good query and its results stay; only the error is shown.
        self.current_query = self.shown_query
        self.search_failed.emit(message, request.query)
        self.check_settled()
