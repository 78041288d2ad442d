"""The one job runner and the work of each kind of job, as every face uses them."""

from __future__ import annotations

import shutil
import threading

from image_finder.core.app.jobs import JobEnd, JobKind, JobRunner, JobState
from image_finder.core.app.work import (
    cleanup_work,
    duplicates_work,
    index_work,
    learn_work,
    remove_work,
)
from image_finder.core.common.errors import ImageFinderError, LibraryBusyError
from image_finder.core.indexing.cleanup import CleanupReport
from image_finder.core.indexing.indexer import IndexReport
from image_finder.core.indexing.watch import WatchBatch
from image_finder.core.learning.concepts import Concept
from image_finder.core.search.duplicates import Pairs
from image_finder.core.stores.library import Library


def _ended(order: list[str], name: str, result: object = None):
    def work(control):
        order.append(name)
        return JobEnd(JobState.DONE, name, {"name": name}, result)

    return work


def test_jobs_run_in_turn_and_a_job_asked_first_goes_before_those_waiting():
    order: list[str] = []
    gate, started = threading.Event(), threading.Event()

    def blocked(control):
        started.set()
        gate.wait(10)
        order.append("running")
        return JobEnd(JobState.DONE, "")

    runner = JobRunner()
    try:
        runner.submit(JobKind.INDEX, blocked)
        started.wait(10)
        runner.submit(JobKind.INDEX, _ended(order, "second"))
        runner.submit(JobKind.REMOVE, _ended(order, "urgent"), first=True)
        gate.set()
        last = runner.run(JobKind.LEARN, _ended(order, "last", result=42))
        assert order == ["running", "urgent", "second", "last"]
        assert last.state is JobState.DONE and last.result == 42
        assert last.report == {"name": "last"}
    finally:
        runner.close()
    assert not runner.alive


def test_a_failed_job_keeps_its_error_and_the_next_job_runs():
    def broken(control):
        raise ImageFinderError("the folder is gone")

    def crashing(control):
        raise ValueError("bad pixels")

    runner = JobRunner()
    try:
        failed = runner.run(JobKind.INDEX, broken)
        crashed = runner.run(JobKind.DUPLICATES, crashing)
        fine = runner.run(JobKind.INDEX, _ended([], "fine"))
    finally:
        runner.close()
    assert failed.state is JobState.FAILED and failed.message == "the folder is gone"
    assert isinstance(failed.error, ImageFinderError)
    assert crashed.message == "Finding duplicates failed: bad pixels"
    assert isinstance(crashed.error, ValueError)
    assert fine.state is JobState.DONE


def test_a_busy_watch_batch_waits_its_turn_again_and_takes_the_batches_that_come_meanwhile():
    busy = threading.Event()
    busy.set()
    applied: list[WatchBatch] = []
    heard: list[tuple[JobState, int]] = []

    def for_batch(batch):
        def work(control):
            if busy.is_set():
                raise LibraryBusyError("another process writes")
            applied.append(batch)
            return JobEnd(JobState.DONE, "applied")

        return work

    runner = JobRunner(lambda job: heard.append((job.state, job.retries)), busy_retry_seconds=0.05)
    try:
        first = runner.submit_watch(WatchBatch(("/a",), 1, changed=frozenset({"/a/1.jpg"})),
                                    for_batch)  # fmt: skip
        deadline = threading.Event()
        while not any(state is JobState.QUEUED and retries for state, retries in heard):
            deadline.wait(0.01)
        second = runner.submit_watch(WatchBatch(("/b",), 1, changed=frozenset({"/b/2.jpg"})),
                                     for_batch)  # fmt: skip
        assert second.id == first.id  # merged into the batch waiting
        busy.clear()
        assert runner.wait(first, 10)
    finally:
        runner.close()
    assert first.state is JobState.DONE and first.retries >= 1
    assert len(applied) == 1 and set(applied[0].roots) == {"/a", "/b"}


def test_cancelling_a_kind_leaves_the_other_jobs():
    gate = threading.Event()
    started = threading.Event()

    def long(control):
        started.set()
        while not control.cancelled():
            gate.wait(0.01)
        return JobEnd(JobState.CANCELLED, "stopped")

    runner = JobRunner()
    try:
        running = runner.submit(JobKind.INDEX, long)
        queued = runner.submit(JobKind.WATCH, _ended([], "never"))
        other = runner.submit(JobKind.DUPLICATES, _ended([], "pairs"))
        started.wait(10)
        runner.cancel_all((JobKind.INDEX, JobKind.WATCH))
        assert runner.wait(other, 10)
    finally:
        runner.close()
    assert running.state is JobState.CANCELLED
    assert queued.state is JobState.CANCELLED and queued.message == "Cancelled before it started."
    assert other.state is JobState.DONE


def test_each_kind_of_work_on_a_library(tmp_path, photos, lite0, xdg_trash):
    library = Library(tmp_path / "lib")
    runner = JobRunner()
    try:
        shutil.copy(photos / "coffee.jpg", photos / "coffee copy.jpg")
        work = index_work(library, lambda: lite0, [str(photos)])
        indexed = runner.run(JobKind.INDEX, work)
        assert isinstance(indexed.result, IndexReport) and indexed.result.added == library.count()
        assert indexed.report is not None and indexed.report["added"] == library.count()

        found = runner.run(JobKind.DUPLICATES, duplicates_work(library, threshold=0.95))
        assert isinstance(found.result, Pairs)
        copies = (
            library.item_by_path(photos / "coffee.jpg"),
            library.item_by_path(photos / "coffee copy.jpg"),
        )
        assert copies[0] is not None and copies[1] is not None
        assert tuple(sorted((copies[0].id, copies[1].id))) in found.result.found

        ids = sorted(int(i) for i in library.ids_under(str(photos)))
        learnt = runner.run(JobKind.LEARN, learn_work(library, "mine", ids[:3], ids[3:5]))
        assert isinstance(learnt.result, Concept) and learnt.result.name == "mine"
        assert [c.name for c in library.side_data.concepts()] == ["mine"]

        away = tmp_path / "kept aside"
        moved = runner.run(JobKind.CLEANUP, cleanup_work(library, [copies[1]], str(away)))
        assert isinstance(moved.result, CleanupReport) and len(moved.result.done) == 1
        assert (away / "coffee copy.jpg").exists()
        assert library.item_by_path(photos / "coffee copy.jpg") is None

        removed = runner.run(JobKind.REMOVE, remove_work(library, [str(photos)]))
        assert removed.state is JobState.DONE and library.count() == 0

        # a watched folder's batch for a folder no longer in the library is not applied
        batch = WatchBatch((str(photos),), 1, changed=frozenset({str(photos / "coffee.jpg")}))
        late = runner.run(JobKind.WATCH, index_work(library, lambda: lite0, [], batch=batch))
        assert late.state is JobState.DONE and late.result is None and library.count() == 0
    finally:
        runner.close()
        library.close()
