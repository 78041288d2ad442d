"""The search panel: the query drop zone, the result options, and the results grid with its
empty states."""

from __future__ import annotations

import dataclasses
import os

from PySide6.QtCore import QBuffer, QIODevice, QModelIndex, QPoint, QStringListModel, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QMouseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDoubleSpinBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from image_finder import text
from image_finder.core.common.records import Part, display_name
from image_finder.core.pictures.video import is_video_name
from image_finder.core.search.conditions import Conditions
from image_finder.core.search.searcher import Query, QueryKind, SearchOutcome
from image_finder.ui.controller import Controller, ModelState
from image_finder.ui.desktop import DesktopActions
from image_finder.ui.drop_zone import DropZone
from image_finder.ui.filmstrip import Filmstrip
from image_finder.ui.filter_bar import FilterBar
from image_finder.ui.query_chips import QueryChips
from image_finder.ui.results import ResultDelegate, ResultsModel, ResultsView
from image_finder.ui.text_view import add_text_entry
from image_finder.ui.thumbnails import ThumbnailLoader, cached_thumbnail, make_thumbnail

NO_LIBRARY_TEXT = "Add a folder to start"
NO_LIBRARY_HINT = "Image Finder indexes the pictures in your folders, then finds similar ones."
NO_QUERY_TEXT = "Drop an image here, paste one, or click to browse"


THUMBNAIL_SIZES = (64, 512, 16)  # smallest, largest, step of the thumbnail zoom


class _EmptyState(QWidget):
    """The grid's place while it has no results; a click chooses a file when it says so."""

    clicked = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.browses = False

    def set_browses(self, browses: bool) -> None:
        self.browses = browses
        self.setCursor(Qt.CursorShape.PointingHandCursor if browses else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.browses and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class SearchPanel(QWidget):
    folder_dropped = Signal(object)  # str: a folder given where an image was expected
    thumbnail_size_changed = Signal(int)  # the user zoomed the grid

    def __init__(
        self,
        controller: Controller,
        desktop: DesktopActions,
        thumbnail_size: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.desktop = desktop
        self.drop_zone = DropZone()
        self.drop_zone.file_chosen.connect(self.search_file)
        self.drop_zone.image_pasted.connect(self.search_image)
        self._build_words_field()
        self._build_options()
        self._build_results(thumbnail_size)
        self.chips = QueryChips()
        self.chips.query_edited.connect(self.controller.search)
        self.filters = FilterBar(controller.library)
        self.filters.changed.connect(self._on_filters_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.weak_label = QLabel("No close matches; the closest are:")
        self.weak_label.setObjectName("weakMatches")
        self.weak_label.hide()
        layout.addWidget(self.drop_zone)
        words_row = QHBoxLayout()
        words_row.addWidget(self.words, 1)
        words_row.addWidget(self.with_image)
        words_row.addWidget(self.filters.toggle)
        layout.addLayout(words_row)
        layout.addWidget(self.filters)
        layout.addWidget(self.chips)
        layout.addLayout(self._options_row)
        layout.addWidget(self.weak_label)
        layout.addWidget(self.stack, 1)
        self.filmstrip = Filmstrip(self)  # the moments of the video selected
        layout.addWidget(self.filmstrip)
        self.filmstrip.moment_chosen.connect(lambda item: controller.search(Query.item(item)))
        self.results_view.selectionModel().currentChanged.connect(self._show_moments)
        controller.results_ready.connect(lambda _: self.filmstrip.show_video([]))
        controller.add_busy_check(self.filmstrip.pending)

        controller.query_changed.connect(self._on_controller_query_changed)
        controller.query_waiting.connect(self._on_controller_query_waiting)
        controller.results_ready.connect(self._on_controller_results_ready)
        for signal in (
            controller.results_ready,
            controller.index_finished,
            controller.model_state_changed,
        ):
            signal.connect(self._update_words_mode)
        controller.search_failed.connect(self._on_controller_search_failed)
        controller.learning.concept_learnt.connect(self._on_concept_learnt)
        controller.learning.failed.connect(self.drop_zone.show_message)
        controller.learning.concept_progress.connect(self._on_concept_progress)
        for signal in (
            controller.library_changed,
            controller.indexing_changed,
            controller.searching_changed,
            controller.model_state_changed,
        ):
            signal.connect(self._update_empty_state)
        controller.model_state_changed.connect(self._on_controller_model_state_changed)
        controller.add_busy_check(lambda: self.results_model.thumbnails_pending() > 0)
        self.results_model.dataChanged.connect(controller.check_settled)
        self._update_empty_state()

    def _build_words_field(self) -> None:
        self.words = QLineEdit()
        self.words.setPlaceholderText(
            "Find pictures of…  (for example: dog, sports car, bird -parrot)"
        )
        self.words.setAccessibleName("Find pictures of")
        self.words.setClearButtonEnabled(True)
        self.words.setToolTip(
            "Search by words: the things ImageNet's 1,000 classes name, and the groups above "
            "them (dog, bird, vehicle, flower…). Put - before a word to leave it out."
        )
        self.words.returnPressed.connect(self.search_words)
        self.words.textEdited.connect(self._complete_words)
        self._completer: QCompleter | None = None
        self.with_image = QCheckBox("With the image above")
        self.with_image.setToolTip(
            "Search with the image shown above, changed by the words (“at night”, “in winter”)"
        )
        self.with_image.hide()

    def _update_words_mode(self, *args: object) -> None:
        """ImageNet's words (completed as typed), or any words with CLIP, which can also
        change the image shown."""
        clip = self.controller.clip_ready
        shown = self.controller.shown_query
        self.with_image.setVisible(clip and shown is not None and shown.kind is not QueryKind.TEXT)
        self.words.setPlaceholderText(
            "Find pictures of…  (any words: a dog on a beach at sunset, -people)"
            if clip
            else "Find pictures of…  (for example: dog, sports car, bird -parrot)"
        )
        if clip and self._completer is not None:
            self.words.setCompleter(None)  # type: ignore[arg-type]  # Qt takes no completer
            self._completer = None

    def _complete_words(self, typed: str) -> None:
        """The known words, as completions (loaded the first time something is typed)."""
        if self._completer is not None or self.controller.clip_ready:
            return
        from image_finder.core.embedding.words import Vocabulary

        known = self.controller.learning.concept_names() + Vocabulary.imagenet().words()
        completer = QCompleter(QStringListModel(known, self), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        completer.setMaxVisibleItems(12)
        self.words.setCompleter(completer)
        self._completer = completer
        completer.setCompletionPrefix(typed)
        completer.complete()

    def search_words(self) -> None:
        typed = self.words.text().strip()
        if not typed:
            self.drop_zone.show_message("Type what the pictures should show, such as “dog”.")
            return
        shown = self.controller.shown_query
        concept = {n.casefold(): n for n in self.controller.learning.concept_names()}
        if typed.casefold() in concept:  # a concept of the library's, by its name
            self.controller.search(self._filtered(Query.of_concept(concept[typed.casefold()])))
        elif self.with_image.isVisible() and self.with_image.isChecked() and shown is not None:
            self.controller.search(shown.with_words(typed))
        else:
            self.controller.search(self._filtered(Query.words(typed)))

    def _build_options(self) -> None:
        options = self.controller.options
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 1000)
        self.top_k.setValue(options.top_k)
        self.top_k.setToolTip("How many results to show")
        self.top_k.setAccessibleName("Number of results")
        self.top_k.valueChanged.connect(lambda v: self.controller.set_options(top_k=v))
        self.min_score = QSlider(Qt.Orientation.Horizontal)
        self.min_score.setRange(0, 100)
        self.min_score.setValue(round((options.min_score or 0) * 100))
        self.min_score.setToolTip("Hide results less similar than this")
        self.min_score.setAccessibleName("Minimum similarity")
        self.min_score.setMinimumWidth(60)
        self.min_score_value = QDoubleSpinBox()
        self.min_score_value.setRange(0.0, 1.0)
        self.min_score_value.setSingleStep(0.05)
        self.min_score_value.setDecimals(2)
        self.min_score_value.setValue(options.min_score or 0)
        self.min_score.valueChanged.connect(lambda v: self.min_score_value.setValue(v / 100))
        self.min_score_value.valueChanged.connect(self._on_min_score_value_changed)
        row = QHBoxLayout()
        row.addWidget(QLabel("Results:"))
        row.addWidget(self.top_k)
        row.addSpacing(16)
        row.addWidget(QLabel("Minimum similarity:"))
        row.addWidget(self.min_score, 1)
        row.addWidget(self.min_score_value)
        self._options_row = row

    def _build_results(self, thumbnail_size: int) -> None:
        self.thumbnails = ThumbnailLoader(self)
        self.results_model = ResultsModel(self.thumbnails, thumbnail_size, self)
        self.results_view = ResultsView()
        self.results_view.setModel(self.results_model)
        self.delegate = ResultDelegate(thumbnail_size, self.results_view)
        self.results_view.setItemDelegate(self.delegate)
        self.results_view.doubleClicked.connect(self._on_results_view_activated)
        self.results_view.activated.connect(self._on_results_view_activated)
        self.results_view.customContextMenuRequested.connect(self._on_results_view_context_menu)
        self.results_view.zoom_requested.connect(self.zoom)
        self.results_view.exclude_requested.connect(self.exclude_row)
        self.copy_path_action = QAction("Copy path", self)
        self.copy_path_action.triggered.connect(self.copy_paths)

        self.empty_title = QLabel()
        self.empty_title.setObjectName("emptyTitle")
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.empty_title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        self.empty_title.setFont(font)
        self.empty_hint = QLabel()
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_button = QPushButton("Add folder…")
        empty = _EmptyState()
        empty.clicked.connect(self.drop_zone.browse)
        self.empty_state = empty
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch()
        empty_layout.addWidget(self.empty_title)
        empty_layout.addWidget(self.empty_hint)
        empty_layout.addWidget(self.empty_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch()
        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.results_view)

    # -- queries ------------------------------------------------------------------------------

    def search_file(self, path: str) -> None:
        if os.path.isdir(path):
            self.folder_dropped.emit(path)
            return
        if not os.path.isfile(path):
            self.drop_zone.show_message(
                f"{display_name(os.path.basename(path) or path)}: not a file that can be read."
            )
            return
        self.controller.search(self._filtered(Query.file(path)))

    def search_image(self, image: QImage) -> None:
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub says bytes; str works
        self.controller.search(self._filtered(Query.image(bytes(buffer.data().data()))))

    def search_row(self, row: int) -> None:
        self.controller.search(self._filtered(Query.item(self.results_model.result(row).item)))

    def search_rows(self, rows: list[int]) -> None:
        """*Search with these*: the results chosen, as one query of several examples."""
        parts = [Query.item(self.results_model.result(r).item) for r in rows]
        if parts:
            self.controller.search(self._filtered(Query.together(parts)))

    def exclude_row(self, row: int) -> None:
        """*Not like this*: the query shown, searched again without pictures like this one."""
        base = self.controller.shown_query
        if base is None or base.kind is QueryKind.TEXT:
            return
        self.controller.search(base.but_not(Query.item(self.results_model.result(row).item)))

    def _add_concept_entries(self, menu: QMenu, rows: list[int]) -> None:
        """*Save as concept…*, and on a concept's results *Update* it with these."""
        ids = [self.results_model.result(r).item.id for r in rows]
        learning, shown = self.controller.learning, self.controller.shown_query
        these = "these" if len(ids) > 1 else "this"
        menu.addSeparator()
        if shown is not None and shown.kind is QueryKind.CONCEPT:
            name = shown.concept
            menu.addAction(f"Update “{name}”: more like {these}",
                           lambda: learning.update_concept(name, ids, []))  # fmt: skip
            menu.addAction(f"Update “{name}”: not {these}",
                           lambda: learning.update_concept(name, [], ids))  # fmt: skip
        menu.addAction("Save as concept…", lambda: self.save_concept(ids))

    def save_concept(self, ids: list[int], name: str | None = None) -> None:
        """A concept from the search: the pictures chosen and the query's examples, against
        the pictures it leaves out."""
        shown = self.controller.shown_query
        positives, negatives, dropped = list(ids), [], []
        if shown is not None:
            positives += [p.item_id for p in shown.examples if p.kind is QueryKind.ITEM]
            negatives = [p.item_id for p in shown.unlike if p.kind is QueryKind.ITEM]
            # dropped files outside the library count too: embedded for the concept alone
            dropped = [p.path for p in shown.examples if p.kind is QueryKind.FILE]
        if len(set(positives)) + len(dropped) < 2:
            self.drop_zone.show_message(
                "A concept needs two example pictures or more: select them (Ctrl+click) or "
                "search with several first."
            )
            return
        if name is None:
            n = len(set(positives)) + len(dropped)
            name, ok = QInputDialog.getText(
                self, "Save as concept", f"Name for what these {n} pictures show (search with "
                "it by typing the name):"
            )  # fmt: skip
            if not ok or not name.strip():
                return
        if dropped:
            self.controller.learning.save_concept_from_files(name, dropped, positives, negatives)
        else:
            self.controller.learning.save_concept(name, positives, negatives)

    def concept_from_files(self, paths: list[str], name: str | None = None) -> None:
        """*New concept from pictures…*: examples of one's own, outside the library (files or
        folders), embedded for the concept alone; nothing is added to the library."""
        if not paths:
            return
        if name is None:
            name, ok = QInputDialog.getText(
                self, "New concept", "Name for what these pictures show (search with it by "
                "typing the name):"
            )  # fmt: skip
            if not ok or not name.strip():
                return
        self.drop_zone.show_message("Reading the example pictures…", error=False)
        self.controller.learning.save_concept_from_files(name, paths)

    def _on_concept_progress(self, done: int, total: int) -> None:
        self.drop_zone.show_message(f"Reading the example pictures: {done:,} of {total:,}",
                                    error=False)  # fmt: skip

    def _on_concept_learnt(self, concept: object) -> None:
        from image_finder.core.learning.concepts import Concept

        assert isinstance(concept, Concept)
        self._completer = None  # completes the new name next time
        self.words.setCompleter(None)  # type: ignore[arg-type]  # Qt takes no completer
        self.drop_zone.show_message(
            f"Learnt “{concept.name}” from {concept.positives} pictures. Type its name in the "
            "words field to search with it."
        )

    def sort_by_concept(self, folder: str, name: str) -> None:
        """A folder's pictures, most likely to show the concept first, each with its
        probability (the filter bar shows the folder)."""
        info = self.controller.library.folder_info(folder)
        self.filters.refresh_folders()
        self.filters.show_conditions(self.filters.conditions(), folder)
        self.controller.options = dataclasses.replace(self.controller.options, folder=folder)
        if info is not None and info.images > self.top_k.value():
            self.top_k.blockSignals(True)
            self.top_k.setValue(min(self.top_k.maximum(), info.images))
            self.top_k.blockSignals(False)
            self.controller.options = dataclasses.replace(
                self.controller.options, top_k=self.top_k.value()
            )
        self.controller.search(self._filtered(Query.of_concept(name)))

    def _filtered(self, query: Query) -> Query:
        return query.where(self.filters.conditions())

    def _on_filters_changed(self, conditions: Conditions, folder: str | None) -> None:
        if folder != self.controller.options.folder:
            self.controller.options = dataclasses.replace(self.controller.options, folder=folder)
        base = self.controller.shown_query or self.controller.current_query
        if base is not None:
            self.controller.search(base.where(conditions))

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.drop_zone.show_message("The clipboard is empty.")
            return
        self.drop_zone.accept_mime(mime)

    def _show_query(self, query: Query | None, keep_words: bool = False) -> None:
        """Show ``query`` above the results; the words field follows it unless
        ``keep_words`` (a refused query: what was typed stays, to be corrected)."""
        self.chips.show_query(query)
        if query is None:
            self.drop_zone.show_query(None, "")
            return
        self.filters.show_conditions(query.conditions, self.controller.options.folder)
        if not keep_words and self.words.text() != (query.text or ""):
            self.words.setText(query.text or "")  # an image search clears the words
        if query.kind is QueryKind.TEXT:
            self.drop_zone.show_query(None, query.label)
            return
        try:
            if query.kind is QueryKind.IMAGE:
                image: QImage | None = QImage.fromData(query.data)
            elif is_video_name(query.path):  # a clip: its first frame
                image = cached_thumbnail(query.path, DropZone.THUMB * 2, Part.time(0))
            else:
                image = make_thumbnail(query.path, DropZone.THUMB * 2)
        except Exception:
            image = None  # the search reports why the file can't be used
        self.drop_zone.show_query(image, query.summary if query.compound else query.label)

    def _on_controller_query_changed(self, query: Query) -> None:
        again = query == self.controller.shown_query  # the same search, repeated
        if not again:
            self.drop_zone.clear_message()  # an old error goes when the next search starts
        self._show_query(query, keep_words=again)

    def _on_controller_results_ready(self, outcome: SearchOutcome) -> None:
        self.drop_zone.clear_message()
        if outcome.notice:
            self.drop_zone.show_message(outcome.notice)
        self.weak_label.setText(
            "No picture clearly shows that; the closest are:"
            if self.controller.shown_query and self.controller.shown_query.kind is QueryKind.TEXT
            else "No close matches; the closest are:"
        )
        self.weak_label.setVisible(not outcome.close_matches)
        shown = self.controller.shown_query
        self.delegate.excludes = shown is not None and shown.kind is not QueryKind.TEXT
        self.results_model.set_results(outcome.results)
        self.results_view.scrollToTop()
        self._update_empty_state()

    def _on_controller_query_waiting(self, why: str) -> None:
        self.drop_zone.show_message(why, error=False)

    def _on_controller_search_failed(self, message: str, query: Query | None) -> None:
        # The last good query and its results stay; only the error is new. With none yet,
        # the query that could not run is shown (it runs once the library has images).
        refused_words = query is not None and query.kind is QueryKind.TEXT
        self._show_query(self.controller.shown_query or query, keep_words=refused_words)
        self.drop_zone.show_message(message)
        self._update_empty_state()

    def _on_controller_model_state_changed(self, state: ModelState) -> None:
        if state is ModelState.READY and self.controller.waiting_query is None:
            self.drop_zone.clear_message()

    def _on_min_score_value_changed(self, value: float) -> None:
        self.min_score.blockSignals(True)
        self.min_score.setValue(round(value * 100))
        self.min_score.blockSignals(False)
        self.controller.set_options(min_score=value or None)

    def set_thumbnail_size(self, size: int) -> None:
        self.delegate.thumbnail_size = size
        self.results_model.set_thumbnail_size(size)
        self.results_view.fit_columns()
        self.results_view.doItemsLayout()

    def zoom(self, steps: int) -> None:
        """Larger (steps > 0) or smaller thumbnails, 16 px a step."""
        low, high, step = THUMBNAIL_SIZES
        size = max(low, min(high, self.delegate.thumbnail_size + steps * step))
        if size != self.delegate.thumbnail_size:
            self.set_thumbnail_size(size)
            self.thumbnail_size_changed.emit(size)

    # -- empty states -------------------------------------------------------------------------

    def _update_empty_state(self, *args: object) -> None:
        controller = self.controller
        if self.results_model.rowCount() > 0:
            self.stack.setCurrentIndex(1)
            return
        self.stack.setCurrentIndex(0)
        self.empty_button.setVisible(not controller.folders and not controller.indexing)
        if not controller.folders and not controller.indexing:
            title, hint = NO_LIBRARY_TEXT, NO_LIBRARY_HINT
        elif controller.waiting_query is not None and controller.indexing:
            title = "The search runs when indexing has finished"
            hint = f"{text.count(controller.count, 'image')} indexed so far."
        elif controller.searching or controller.waiting_query is not None:
            title, hint = "Searching…", ""
        elif controller.current_query is None and controller.shown_query is None:
            title = NO_QUERY_TEXT
            hint = (
                f"{text.count(controller.count, 'image')} indexed. Drop a photo here, paste one, "
                "or type what the pictures should show."
            )
        elif controller.shown_query is None:
            title, hint = NO_QUERY_TEXT, ""
        elif controller.shown_query.kind is QueryKind.TEXT:
            title = f"No pictures of {controller.shown_query.label} found"
            hint = "Try another word, or add more folders."
        else:
            title = "No similar images found"
            hint = (
                "Try a lower minimum similarity, or add more folders."
                if self.min_score.value()
                else "Add more folders to search in."
            )
        self.empty_title.setText(title)
        self.empty_hint.setText(hint)
        self.empty_state.set_browses(title == NO_QUERY_TEXT)  # what it says, it does

    # -- result actions -----------------------------------------------------------------------

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.results_view.selectionModel().selectedIndexes()})

    def copy_paths(self) -> None:
        rows = self.selected_rows()
        indexes = [self.results_model.index(r) for r in rows]
        paths = [self.results_model.result(r).path for r in rows]
        self.desktop.copy_paths(paths, self.results_model.mimeData(indexes))

    def _show_moments(self, index: QModelIndex, *args: object) -> None:
        """The filmstrip of the video the current result is of (hidden for a photo)."""
        item = self.results_model.result(index.row()).item if index.isValid() else None
        if item is None or item.part is None:
            self.filmstrip.show_video([])
        elif self.filmstrip.video != item.path:
            parts = self.controller.library.file_items(item.path)
            self.filmstrip.show_video([i for i in parts if i.part is not None], item)

    def _on_results_view_activated(self, index: QModelIndex) -> None:
        item = self.results_model.result(index.row()).item
        if item.part is not None and item.part.kind == "time":
            self.desktop.play_from(item.path, item.part.at, item.part.label)
        elif item.part is not None and item.part.kind == "page":
            self.desktop.open_page(item.path, int(item.part.at), item.part.label)
        elif item.part is not None:  # a DICOM file's frame: viewers take no frame to open at
            self.desktop.open_saying(item.path, f"the result is its {item.part.label}")
        else:
            self.desktop.open_file(item.path)

    def _on_results_view_context_menu(self, pos: QPoint) -> None:
        index = self.results_view.indexAt(pos)
        if not index.isValid():
            return
        if not self.results_view.selectionModel().isSelected(index):
            self.results_view.setCurrentIndex(index)
        self.context_menu(index.row()).exec(self.results_view.viewport().mapToGlobal(pos))

    def context_menu(self, row: int) -> QMenu:
        """What can be done with one result, the most used first."""
        path = self.results_model.result(row).path
        menu = QMenu(self)
        rows = self.selected_rows()
        if len(rows) > 1 and row in rows:
            menu.addAction(f"Search with these {len(rows)}", lambda: self.search_rows(rows))
        menu.addAction("Find similar to this", lambda: self.search_row(row))
        shown = self.controller.shown_query
        words_only = shown is None or shown.kind is QueryKind.TEXT
        unlike = menu.addAction(
            "Not like this (for searches by pictures)" if words_only else "Not like this",
            lambda: self.exclude_row(row),
        )
        unlike.setEnabled(not words_only)
        if words_only:  # says why it is off
            unlike.setToolTip("Words leave pictures out with -word: “dog -puppy”")
        menu.setToolTipsVisible(True)
        self._add_concept_entries(menu, rows if row in rows else [row])
        menu.addSeparator()
        menu.addAction("Open", lambda: self.desktop.open_file(path))
        menu.addAction("Reveal in file manager", lambda: self.desktop.reveal_file(path))
        menu.addSeparator()
        menu.addAction(self.copy_path_action)
        menu.addAction("Copy image", lambda: self.desktop.copy_image(path))
        add_text_entry(menu, self, self.controller.library, self.results_model.result(row))
        return menu
