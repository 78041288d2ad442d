"""The one job runner: long work (indexing, a watched folder's batch of changes, finding and
cleaning up duplicates, learning a concept, tuning an adapter, removing a folder) runs here, one
job at a time in a thread of its own, whichever face asked for it. The work of each kind is in
core/app/work.py.

A job's work is a plain function given a :class:`JobControl` (its progress, whether it was
cancelled) that returns how it ended; the runner keeps each job's state, tells a listener of
every change (the one event stream a face follows: the server's job events, the command
line's progress line), merges the watch batches that queue up behind one another into one job,
and puts a watch batch that met a busy library back in the queue until the library is free.
A face in the same process also gets the work's typed progress (``Job.detail``) and result
(``Job.result``); the JSON of a job is the same for every face.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from image_finder.core.common.errors import ImageFinderError, LibraryBusyError
from image_finder.core.common.records import display_name

if TYPE_CHECKING:
    from image_finder.core.indexing.indexer import IndexProgress
    from image_finder.core.indexing.watch import WatchBatch

log = logging.getLogger(__name__)

KEEP_FINISHED = 50  # finished jobs kept for a face to show
WATCH_RETRY_SECONDS = 2.0  # a watch batch that met a busy library is tried again after this


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.CANCELLED, JobState.FAILED)


class JobKind(enum.Enum):
    INDEX = "index"
    WATCH = "watch"  # a watched folder's changes
    TUNE = "tune"  # an adapter tuned, or the features switched
    LEARN = "learn"  # a concept learnt or refined
    DUPLICATES = "duplicates"  # pairs of duplicates found (a reader)
    CLEANUP = "cleanup"  # files moved to the trash or into a folder, or put back
    REMOVE = "remove"  # folders taken out of the library
    SCALE = "scale"  # a Ray job filling a catalogue, driven from here

    @property
    def indexes(self) -> bool:
        """Adds pictures to the library (what a face shows as "indexing")."""
        return self in (JobKind.INDEX, JobKind.WATCH)


FAILED_WORDS = {
    JobKind.INDEX: "Indexing",
    JobKind.WATCH: "Indexing",
    JobKind.TUNE: "Adapting the library",
    JobKind.LEARN: "Learning the concept",
    JobKind.DUPLICATES: "Finding duplicates",
    JobKind.CLEANUP: "Moving the files",
    JobKind.REMOVE: "Removing the folder",
    JobKind.SCALE: "The Ray job",
}


@dataclass(frozen=True)
class JobEnd:
    """How a job's work ended (DONE or CANCELLED; a failure is an exception)."""

    state: JobState
    message: str
    report: dict[str, Any] | None = None
    result: Any = None  # the work's own report, for a face in the same process
    error: BaseException | None = None  # why it FAILED


Work = Callable[["JobControl"], JobEnd]


@dataclass
class Job:
    id: str
    kind: JobKind
    work: Work = field(repr=False)
    folders: list[str] = field(default_factory=list)
    batch: WatchBatch | None = None  # a watch job's changes (merged with those queued behind)
    state: JobState = JobState.QUEUED
    phase: str = ""
    done: int = 0
    total: int = 0
    rate: float = 0.0
    eta_seconds: float | None = None
    message: str = ""
    report: dict[str, Any] | None = None
    result: Any = None  # the work's own report (an IndexReport, Pairs, a Concept, …)
    error: BaseException | None = None  # why it failed
    detail: Any = None  # the work's last progress, as it gave it (an IndexProgress, say)
    retries: int = 0  # times a busy library sent it back to the queue
    created: float = field(default_factory=time.time)
    finished_at: float | None = None
    version: int = 0  # bumped at every change: a listener sends what is new
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "folders": [display_name(f) for f in self.folders],
            "state": self.state.value,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "rate": round(self.rate, 2),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "message": self.message,
            "report": self.report,
        }


class JobControl:
    """What a job's work is given: where it reports progress, and whether to stop."""

    def __init__(self, job: Job, changed: Callable[[Job], None]) -> None:
        self.job = job
        self._changed = changed

    def cancelled(self) -> bool:
        return self.job.cancel_requested.is_set()

    def progress(
        self,
        phase: str,
        done: int,
        total: int,
        *,
        rate: float = 0.0,
        eta_seconds: float | None = None,
        message: str = "",
        detail: Any = None,
    ) -> None:
        job = self.job
        job.phase, job.done, job.total = phase, done, total
        job.rate, job.eta_seconds, job.detail = rate, eta_seconds, detail
        job.message = message or f"{phase.capitalize()}: {done:,} of {total:,}"
        self._changed(job)


class Queued(Protocol):
    """What the queue asks of a job: the watched folder's changes it applies, if any."""

    @property
    def batch(self) -> WatchBatch | None: ...


Q = TypeVar("Q", bound=Queued)


class JobQueue(Generic[Q]):
    """Jobs waiting their turn, in order. A watched folder's batch of changes joins a watch
    job still waiting (a long copy seen in parts becomes one job); the runner's queue and the
    window's are this one."""

    def __init__(self) -> None:
        self._jobs: list[Q] = []

    def push(self, job: Q, *, first: bool = False) -> None:
        self._jobs.insert(0, job) if first else self._jobs.append(job)

    def push_watch(self, batch: WatchBatch, make: Callable[[WatchBatch, Q | None], Q]) -> Q:
        """Queue ``batch``: ``make(merged, waiting)`` replaces the watch job waiting, if one
        does, else ``make(batch, None)`` is queued. Returns the job queued."""
        from image_finder.core.indexing.watch import merge_batches

        for n, job in enumerate(self._jobs):
            if job.batch is not None:
                self._jobs[n] = make(merge_batches([job.batch, batch]), job)
                return self._jobs[n]
        made = make(batch, None)
        self._jobs.append(made)
        return made

    def pop(self) -> Q | None:
        return self._jobs.pop(0) if self._jobs else None

    def remove(self, job: Q) -> bool:
        if job in self._jobs:
            self._jobs.remove(job)
            return True
        return False

    def clear(self) -> None:
        self._jobs.clear()

    @property
    def next(self) -> Q | None:
        return self._jobs[0] if self._jobs else None

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Q]:
        return iter(list(self._jobs))


def retried_when_busy(job: Queued, error: BaseException | type) -> bool:
    """Whether a job that failed with ``error`` goes back in the queue: a watched folder's
    changes wait while another process writes; anything else asked for is reported busy."""
    kind = error if isinstance(error, type) else type(error)
    return job.batch is not None and issubclass(kind, LibraryBusyError)


@dataclass(frozen=True)
class IndexJob:
    """Folders to index (or a watched folder's batch of changes), as the window queues them."""

    folders: tuple[str, ...]
    rebuild: bool = False
    batch: WatchBatch | None = None


class JoinedProgress:
    """Watch jobs that follow one another (a long copy seen in parts) count on from the one
    before, so that the progress shown is that of one job."""

    def __init__(self) -> None:
        self._base = 0  # images of the watch jobs before
        self._last_total = 0

    def relay(self, progress: IndexProgress) -> IndexProgress:
        from image_finder.core.indexing.indexer import IndexPhase

        if progress.phase is not IndexPhase.EMBEDDING:
            return progress
        self._last_total = progress.total
        if not self._base:
            return progress
        return dataclasses.replace(
            progress, done=progress.done + self._base, total=progress.total + self._base
        )

    def job_done(self, finished: Queued | None, following: Queued | None) -> None:
        """``finished`` ended and ``following`` is next (None: nothing queued)."""
        watch_follows_watch = (
            finished is not None and finished.batch is not None
            and following is not None and following.batch is not None
        )  # fmt: skip
        self._base = self._base + self._last_total if watch_follows_watch else 0
        self._last_total = 0


class JobRunner:
    """Runs jobs in order, one at a time; each can be cancelled (what it committed stays).
    ``listener`` hears of every change of every job, in the runner's thread."""

    def __init__(
        self,
        listener: Callable[[Job], None] | None = None,
        *,
        keep_finished: int = KEEP_FINISHED,
        busy_retry_seconds: float = WATCH_RETRY_SECONDS,
        name: str = "jobs",
    ) -> None:
        self._listener = listener
        self._keep = keep_finished
        self._busy_retry = busy_retry_seconds
        self._jobs: dict[str, Job] = {}
        self._queue: JobQueue[Job] = JobQueue()
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._closing = False
        self._draining = False  # finishing: a busy library no longer sends a job back
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- what a face asks ---------------------------------------------------------------------

    def submit(
        self, kind: JobKind, work: Work, folders: Sequence[str] = (), *, first: bool = False
    ) -> Job:
        """Queue ``work`` (``first``: before the jobs waiting)."""
        with self._lock:
            job = Job(str(next(self._ids)), kind, work, list(folders))
            self._jobs[job.id] = job
            self._queue.push(job, first=first)
            self._lock.notify_all()
            self._changed(job)
        return job

    def run(self, kind: JobKind, work: Work, folders: Sequence[str] = ()) -> Job:
        """Queue ``work`` and wait for it to end (a face that answers once it is done)."""
        job = self.submit(kind, work, folders)
        self.wait(job)
        return job

    def submit_watch(self, batch: WatchBatch, work: Callable[[WatchBatch], Work]) -> Job:
        """A watched folder's changes: merged into a watch job still waiting in the queue,
        else queued as a job of their own."""

        def make(merged: WatchBatch, waiting: Job | None) -> Job:
            job = waiting or Job(str(next(self._ids)), JobKind.WATCH, work(merged))
            job.batch, job.work, job.folders = merged, work(merged), sorted(merged.roots)
            return job

        with self._lock:
            count = len(self._queue)
            job = self._queue.push_watch(batch, make)
            if len(self._queue) > count:
                self._jobs[job.id] = job
                self._lock.notify_all()
            self._changed(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def active(self) -> bool:
        return any(not j.state.finished for j in self._jobs.values())

    @property
    def alive(self) -> bool:
        """The runner's thread runs (False once closed)."""
        return self._thread.is_alive()

    def cancel_all(self, kinds: Sequence[JobKind]) -> None:
        """Cancel every job of ``kinds`` that has not finished (the running one stops after
        its batch in flight; the queued ones never start)."""
        for job in self.jobs():
            if job.kind in kinds:
                self.cancel(job.id)

    def cancel(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.state.finished:
            return job
        job.cancel_requested.set()
        with self._lock:
            if self._queue.remove(job):
                self._finish(job, JobEnd(JobState.CANCELLED, "Cancelled before it started."))
        return job

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        """Wait until ``job`` has finished (False: the timeout came first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not job.state.finished:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def finish(self) -> None:
        """Run what is queued to its end, no longer waiting for a busy library (a watch job
        that meets one is cancelled), then stop."""
        with self._lock:
            self._draining = True
            while self.active:
                self._lock.wait(0.25)
        self.close()

    def close(self, timeout: float = 30) -> None:
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                job.cancel_requested.set()
            self._lock.notify_all()
        self._thread.join(timeout=timeout)

    # -- the runner's thread ------------------------------------------------------------------

    def _changed(self, job: Job) -> None:
        job.version += 1
        if self._listener is not None:
            try:
                self._listener(job)
            except Exception:  # a face's listener never stops the runner
                log.exception("a job listener failed")

    def _finish(self, job: Job, end: JobEnd) -> None:
        job.state, job.message, job.finished_at = end.state, end.message, time.time()
        job.report = end.report if end.report is not None else job.report
        job.result, job.error = end.result, end.error
        job.eta_seconds = None
        finished = [j for j in self._jobs.values() if j.state.finished]
        for old in finished[: -self._keep]:
            del self._jobs[old.id]
        self._changed(job)
        self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job = self._queue.pop()
                assert job is not None
                job.state = JobState.RUNNING
                self._changed(job)
            end = self._run_job(job)
            with self._lock:
                if end is None:  # busy: back to the front of the queue, tried again soon
                    job.state = JobState.QUEUED
                    job.retries += 1
                    self._queue.push(job, first=True)
                    self._changed(job)
                else:
                    self._finish(job, end)
            if end is None:
                with self._lock:
                    self._lock.wait(self._busy_retry)

    def _run_job(self, job: Job) -> JobEnd | None:
        control = JobControl(job, self._changed)
        try:
            return job.work(control)
        except LibraryBusyError as exc:
            if not retried_when_busy(job, exc):
                return JobEnd(JobState.FAILED, str(exc), error=exc)
            if self._draining or job.cancel_requested.is_set():
                return JobEnd(JobState.CANCELLED, f"Not applied: {exc}", error=exc)
            job.message = str(exc)
            return None
        except ImageFinderError as exc:
            return JobEnd(JobState.FAILED, str(exc), error=exc)
        except Exception as exc:
            log.exception("%s job %s failed", job.kind.value, job.id)
            return JobEnd(JobState.FAILED, f"{FAILED_WORDS[job.kind]} failed: {exc}", error=exc)
