"""The application state without any widget: the controller driven through its methods and
observed through its signals."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.searcher import EMPTY_LIBRARY, Query
from image_finder.ui.controller import Controller, ModelState
from image_finder.ui.history import History


def test_history_goes_back_and_forward_and_a_new_step_drops_what_was_ahead():
    history: History[str] = History()
    assert history.current is None and not history.can_go_back and not history.can_go_forward
    for step in "abc":
        history.push(step)
    assert history.current == "c" and history.can_go_back and not history.can_go_forward
    assert history.back() == "b" and history.back() == "a" and history.back() is None
    assert history.forward() == "b"
    history.push("d")  # "c" was ahead: gone
    assert history.current == "d" and not history.can_go_forward
    assert [history.back(), history.back(), history.back()] == ["b", "a", None]
    assert len(history) == 3


@pytest.fixture
def make_controller(qtbot, settings):
    made = []

    def make(library, wait_for_model=True):
        controller = Controller(library, settings)
        made.append(controller)
        if wait_for_model:
            qtbot.waitUntil(lambda: controller.model_state is ModelState.READY, timeout=60_000)
        return controller

    yield make
    for controller in made:
        controller.shutdown()


@pytest.fixture
def indexed(library, lite0, photos):
    index_folders([photos], library, lite0)
    return library


def results_of(blocker):
    return [r.path for r in blocker.args[0].results]


def test_a_query_made_while_the_model_loads_runs_once_it_is_ready(
    qtbot, make_controller, indexed, photos
):
    controller = make_controller(indexed, wait_for_model=False)
    assert controller.model_state is ModelState.LOADING
    with (
        qtbot.waitSignal(controller.query_waiting, timeout=5_000) as waiting,
        qtbot.waitSignal(controller.results_ready, timeout=60_000) as done,
    ):
        controller.search(Query.file(photos / "coffee.jpg"))
    assert "Loading model" in waiting.args[0]
    assert results_of(done)[0] == str(photos / "coffee.jpg")
    assert controller.history.current == Query.file(photos / "coffee.jpg")


def test_only_the_newest_of_quick_searches_is_shown(qtbot, make_controller, indexed, photos):
    controller = make_controller(indexed)
    shown = []
    controller.results_ready.connect(lambda outcome: shown.append(outcome.results[0].path))
    controller.search(Query.file(photos / "coffee.jpg"))
    controller.search(Query.file(photos / "rocket.jpg"))
    controller.search(Query.file(photos / "astronaut.jpg"))
    qtbot.waitUntil(lambda: not controller.searching, timeout=30_000)
    qtbot.wait(200)  # an older answer arriving late would show up here
    assert shown == [str(photos / "astronaut.jpg")]
    assert controller.shown_query == Query.file(photos / "astronaut.jpg")


def test_index_jobs_queue_and_run_one_after_the_other(
    qtbot, make_controller, library, photos, tmp_path
):
    second = tmp_path / "second"
    second.mkdir()
    for n in range(3):
        Image.new("RGB", (40, 30), (80 * n, 20, 200)).save(second / f"{n}.png")
    controller = make_controller(library)
    reports = []
    controller.index_finished.connect(reports.append)
    controller.add_folders([str(photos)])
    controller.add_folders([str(second)])
    assert controller.indexing
    qtbot.waitUntil(lambda: len(reports) == 2 and not controller.indexing, timeout=120_000)
    assert [r.added for r in reports] == [len(list(photos.iterdir())), 3]
    assert len(controller.folders) == 2
    assert controller.count == library.count() == len(list(photos.iterdir())) + 3
    with qtbot.waitSignal(controller.settled, timeout=10_000):
        controller.check_settled()


def test_a_query_into_a_library_still_indexing_runs_when_indexing_ends(
    qtbot, make_controller, library, photos
):
    controller = make_controller(library)
    controller.add_folders([str(photos)])
    with qtbot.waitSignal(controller.results_ready, timeout=120_000) as done:
        controller.search(Query.file(photos / "rocket.jpg"))
    assert not controller.indexing
    assert results_of(done)[0] == str(photos / "rocket.jpg")
    assert len(done.args[0].results) == controller.options.top_k


def test_a_query_into_an_empty_library_runs_once_a_folder_is_indexed(
    qtbot, make_controller, library, photos
):
    controller = make_controller(library)
    with qtbot.waitSignal(controller.search_failed, timeout=30_000) as failed:
        controller.search(Query.file(photos / "clock.jpg"))
    assert failed.args[0] == EMPTY_LIBRARY
    with qtbot.waitSignal(controller.settled, timeout=10_000):
        controller.check_settled()  # nothing is left waiting in the meantime
    with qtbot.waitSignal(controller.results_ready, timeout=120_000) as done:
        controller.add_folders([str(photos)])
    assert results_of(done)[0] == str(photos / "clock.jpg")


def test_a_bad_query_keeps_the_last_good_one_and_its_results(
    qtbot, make_controller, indexed, photos, tmp_path
):
    controller = make_controller(indexed)
    good = Query.file(photos / "coffee.jpg")
    with qtbot.waitSignal(controller.results_ready, timeout=30_000):
        controller.search(good)
    note = tmp_path / "notes.jpg"
    note.write_text("shopping list")
    with qtbot.waitSignal(controller.search_failed, timeout=30_000) as failed:
        controller.search(Query.file(note))
    assert failed.args[0].startswith("notes.jpg: ") and "not an image" in failed.args[0]
    assert controller.shown_query == controller.current_query == good
    assert controller.history.current == good and len(controller.history) == 1


def test_results_follow_a_rescan_that_removed_images(qtbot, make_controller, library, photos):
    controller = make_controller(library)
    with qtbot.waitSignal(controller.index_finished, timeout=120_000):
        controller.add_folders([str(photos)])
    query = Query.file(photos / "coffee.jpg")
    with qtbot.waitSignal(controller.results_ready, timeout=30_000) as first:
        controller.search(query)
    gone = first.args[0].results[1].path
    shutil.move(gone, photos.parent / "elsewhere.jpg")
    with qtbot.waitSignal(controller.results_ready, timeout=120_000) as again:
        controller.rescan()
    assert gone not in results_of(again)
    assert controller.history.current == query and len(controller.history) == 1


def test_consecutive_watch_jobs_show_as_one_progress():
    """A long copy seen in parts: each watch job counts on from the one before, so the bar
    runs once from 0 to the whole copy; a job of another kind starts afresh."""
    from image_finder.core.app.jobs import IndexJob, JoinedProgress
    from image_finder.core.indexing.indexer import IndexPhase, IndexProgress
    from image_finder.core.indexing.watch import WatchBatch

    joined = JoinedProgress()
    first = IndexJob(("/p",), batch=WatchBatch(("/p",), 40))
    second = IndexJob(("/p",), batch=WatchBatch(("/p",), 960))
    shown = [joined.relay(IndexProgress(IndexPhase.EMBEDDING, n, 40)) for n in (0, 40)]
    joined.job_done(first, second)
    shown += [joined.relay(IndexProgress(IndexPhase.EMBEDDING, n, 960)) for n in (0, 960)]
    assert [(p.done, p.total) for p in shown] == [(0, 40), (40, 40), (40, 1000), (1000, 1000)]
    joined.job_done(second, IndexJob(("/q",)))  # a folder added: its own progress
    assert joined.relay(IndexProgress(IndexPhase.EMBEDDING, 5, 10)).total == 10
