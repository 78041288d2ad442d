"""The window: concepts from pictures inside and outside the library."""

from __future__ import annotations

from PIL import Image

from tests.ui.window_helpers import index_and_wait, results, wait_results


def test_a_concept_from_pictures_outside_the_library(qtbot, make_window, photos, tmp_path):
    """Tools ▸ New concept from pictures…: examples of one's own are embedded for the concept
    alone; the library keeps its pictures, and the concept finds its cat."""
    from image_finder.core.search.query import Query

    window = make_window()
    index_and_wait(qtbot, window, photos)
    count = window.library.count()
    mine = tmp_path / "my cats"
    mine.mkdir()
    cat = Image.open(photos / "chelsea.jpg")
    for n, angle in enumerate((0, 4, -4, 8)):
        cat.rotate(angle).resize((300, 200)).save(mine / f"cat{n}.jpg")
    progress = []
    window.controller.learning.concept_progress.connect(lambda d, t: progress.append((d, t)))
    with qtbot.waitSignal(window.controller.learning.concept_learnt, timeout=60_000) as learnt:
        window.search_panel.concept_from_files([str(mine)], name="my cat")
    concept = learnt.args[0]
    assert concept.outside is not None and len(concept.outside) == 4
    assert progress[-1] == (4, 4)
    assert window.library.count() == count  # nothing added
    window.controller.search(Query.of_concept("my cat"))
    qtbot.waitUntil(lambda: [n for n, _ in results(window)[:1]] == ["chelsea.jpg"],
                    timeout=30_000)  # fmt: skip


def test_save_as_concept_from_dropped_files_outside_the_library(qtbot, make_window, photos,
                                                                tmp_path):  # fmt: skip
    from image_finder.core.search.query import Query

    window = make_window()
    index_and_wait(qtbot, window, photos)
    mine = tmp_path / "dropped"
    mine.mkdir()
    cat = Image.open(photos / "chelsea.jpg")
    for n, angle in enumerate((3, -3)):
        cat.rotate(angle).save(mine / f"cat{n}.jpg")
    window.controller.search(Query.together([Query.file(p) for p in sorted(mine.iterdir())]))
    wait_results(qtbot, window)
    with qtbot.waitSignal(window.controller.learning.concept_learnt, timeout=60_000) as learnt:
        window.search_panel.save_concept([], name="dropped cats")
    assert learnt.args[0].outside is not None and len(learnt.args[0].outside) == 2
    assert window.library.item_by_path(str(mine / "cat0.jpg")) is None  # not in the library
