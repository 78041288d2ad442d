"""The window teaches the library: Save as concept…, a concept searched by its name, Update
concept from its results, and Settings ▸ Adapt to my pictures… with its figures and the switch
back to the original features."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QInputDialog

from image_finder.core.learning.adapter import Adapter
from tests.ui.test_examples_window import action, names, select_rows
from tests.ui.window_helpers import index_and_wait, wait_results


def _labelled(photos, root):
    """Three kinds of picture, six variants each (turned, resized, cropped)."""
    for kind, source in (("cats", "chelsea.jpg"), ("cups", "coffee.jpg"),
                         ("rockets", "rocket.jpg")):  # fmt: skip
        folder = root / kind
        folder.mkdir(parents=True)
        image = Image.open(photos / source).convert("RGB")
        w, h = image.size
        for n, angle in enumerate((0, 4, -4, 8, -8, 12)):
            box = (n * w // 40, n * h // 40, w - n * w // 40, h - n * h // 40)
            image.crop(box).rotate(angle).resize((240, 180)).save(folder / f"{kind}{n}.jpg")


def test_save_a_concept_search_it_by_name_and_update_it(qtbot, make_window, photos, tmp_path,
                                                        monkeypatch):  # fmt: skip
    root = tmp_path / "kinds"
    _labelled(photos, root)
    window = make_window()
    index_and_wait(qtbot, window, root)
    panel, library = window.search_panel, window.library
    window.controller.set_options(top_k=10)
    window.search_file(str(root / "cups" / "cups0.jpg"))
    wait_results(qtbot, window)
    cups = [n for n in names(window) if n.startswith("cups")]
    assert len(cups) >= 4
    select_rows(window, [names(window).index(n) for n in cups[:4]])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("my cups", True))
    learning = window.controller.learning
    with qtbot.waitSignal(learning.concept_learnt, timeout=30_000):
        action(panel.context_menu(names(window).index(cups[0])), "Save as concept…").trigger()
    concept = library.side_data.concept("my cups")
    assert concept is not None and len(concept.positive_ids) == 4  # the query's one among them

    # typed in the words field (completed by name), the concept is the query
    panel.words.setText("My Cups")
    panel.search_words()
    qtbot.waitUntil(lambda: window.controller.shown_query is not None
                    and window.controller.shown_query.concept == "my cups")  # fmt: skip
    wait_results(qtbot, window)
    assert all(n.startswith("cups") for n in names(window)[:6])
    assert (
        panel.words.completer() is None or "my cups" in panel.words.completer().model().stringList()
    )

    # Update concept: not this (a cat among the results, if any; else the last result)
    last = len(names(window)) - 1
    before = library.side_data.concept("my cups").updated
    with qtbot.waitSignal(learning.concept_learnt, timeout=30_000):
        action(panel.context_menu(last), "Update “my cups”: not this").trigger()
    updated = library.side_data.concept("my cups")
    assert updated.updated > before and len(updated.negative_ids) == 1

    # the folder panel sorts a folder by the concept: all 18 pictures, cups first
    window.library_panel.sort_requested.emit(str(root), "my cups")
    qtbot.waitUntil(lambda: len(names(window)) == 18 and not window.controller.searching)
    assert all(n.startswith("cups") for n in names(window)[:5])
    assert panel.filters.folder_path() == str(root)


def test_adapt_to_my_pictures_shows_its_figures_and_switches_back(qtbot, make_window, photos,
                                                                 tmp_path):  # fmt: skip
    root = tmp_path / "kinds"
    _labelled(photos, root)
    window = make_window()
    index_and_wait(qtbot, window, root)
    settings = window.settings_dialog()
    assert settings.adapt.isVisibleTo(settings)
    assert settings.adapter_state.text() == "Searched with the model's own features."
    dialog = window.show_adapt()
    assert "no adapter" in dialog.state.text() and not dialog.original.isVisibleTo(dialog)
    dialog.root.setText(str(root))
    learning = window.controller.learning
    with qtbot.waitSignal(learning.tune_done, timeout=120_000) as done:
        dialog.run()
    report = done.args[0]
    text = dialog.outcome.text()
    assert f"{report.map_before:.3f} before, {report.map_after:.3f} after" in text
    assert "3 labels, 12 pictures trained on, 6 held out" in text
    # six variants of one photo are found already: nothing to gain, nothing changed
    assert ("Applied" in text) == report.applied
    if not report.applied:
        assert "Not applied: it does not help these labels" in text
        assert window.library.adapter is None

    # an adapter in place: its state shows, and "Use original features" switches at once
    with window.library.writing():
        dim = window.library.dim
        rng = np.random.default_rng(0)
        weights = np.eye(dim, dtype=np.float32) + 0.01 * rng.normal(size=(dim, dim)).astype(
            np.float32
        )
        window.library.spaces.install_adapter(
            Adapter(window.library.model, weights, np.zeros(dim, np.float32),
                    ("cats", "cups", "rockets"), time.time(), 0.5, 0.7, 3, 15, 1.0)
        )  # fmt: skip
    dialog.show_state()
    assert "3 labels (cats, cups, rockets)" in dialog.state.text()
    assert "Searched now" in dialog.state.text() and dialog.original.isVisibleTo(dialog)
    with qtbot.waitSignal(learning.adapter_changed, timeout=30_000):
        dialog.original.setChecked(True)
    assert window.library.active_adapter is None and window.library.adapter is not None
    assert "the original features are searched" in dialog.state.text()
    window.search_file(str(root / "cats" / "cats0.jpg"))
    wait_results(qtbot, window)
    assert names(window)[0] == "cats0.jpg"
