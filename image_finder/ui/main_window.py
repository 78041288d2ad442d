"""The main window: composes the library panel, the search panel, menus, toolbar, notice bar
and status bar around one :class:`Controller`."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from image_finder import APP_NAME, text
from image_finder.core.common.records import display_name
from image_finder.core.config.settings import Settings
from image_finder.core.stores.library import Library
from image_finder.ui.about import app_icon
from image_finder.ui.adapt_dialog import AdaptDialog
from image_finder.ui.controller import Controller, ModelState
from image_finder.ui.desktop import DesktopActions
from image_finder.ui.library_panel import LibraryPanel
from image_finder.ui.search_panel import SearchPanel
from image_finder.ui.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from image_finder.ui.duplicates_view import DuplicatesWindow

log = logging.getLogger(__name__)

LIBRARY_WIDTH = 260
NARROW_WINDOW = 800  # below this width the library panel folds away (View > Library panel)


def _adapter_state(library: Library) -> str:
    adapter = library.adapter
    if adapter is None:
        return "Searched with the model's own features."
    gain = f"held-out mAP@R {adapter.map_before:.2f} → {adapter.map_after:.2f}"
    if adapter.active:
        return f"Adapted to {len(adapter.labels)} labels ({gain})."
    return f"An adapter to {len(adapter.labels)} labels is kept; the original features are used."


def _add_entries(target: QMenu | QToolBar, entries: Sequence[QAction | None]) -> None:
    """Fill a menu or toolbar; None is a separator."""
    for entry in entries:
        if entry is None:
            target.addSeparator()
        else:
            target.addAction(entry)


class NoticeBar(QFrame):
    """A dismissable line above the results for things the user should read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.setStyleSheet(
            "#notice { background: #fdf2d0; border: 1px solid #e8d18a; border-radius: 4px; }"
            " #notice QLabel { color: #5c4400; }"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

        self.kind: object = None

    def show_text(self, kind: object, message: str) -> None:
        self.kind = kind
        self.label.setText(message)
        self.show()

    def withdraw(self, kind: object) -> None:
        """The notice of ``kind`` is no longer true: hide it if it is the one shown."""
        if kind == self.kind:
            self.hide()
            self.kind = None


class MainWindow(QMainWindow):
    settled = Signal()  # all work done: model, indexing, search and thumbnails

    def __init__(self, library: Library, settings: Settings, qsettings: QSettings | None = None):
        super().__init__()
        self.library = library
        self.qsettings = qsettings or QSettings()
        self.controller = Controller(library, settings, self)
        self.desktop = DesktopActions(self)
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build_ui(settings)
        self._build_actions()
        self._connect()
        self._restore_state()
        self._update_status()

    @property
    def settings(self) -> Settings:
        return self.controller.settings

    # -- construction -------------------------------------------------------------------------

    def _build_ui(self, settings: Settings) -> None:
        self.library_panel = LibraryPanel(self.controller, self.qsettings)
        self.search_panel = SearchPanel(self.controller, self.desktop, settings.thumbnail_size)
        self.library_panel.sort_requested.connect(self.search_panel.sort_by_concept)
        self.notice_bar = NoticeBar()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.notice_bar)
        right_layout.addWidget(self.search_panel, 1)
        self.splitter = QSplitter()
        # A narrow window is not held wide by the panel: it folds away instead (resizeEvent).
        self.library_panel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.splitter.addWidget(self.library_panel)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([LIBRARY_WIDTH, 740])
        self._narrow = False
        self.duplicates_window: DuplicatesWindow | None = None
        self.setCentralWidget(self.splitter)

        self.status_library = QLabel()
        self.status_model = QLabel()
        self.status_search = QLabel()
        self.model_busy = QProgressBar()
        self.model_busy.setRange(0, 0)
        self.model_busy.setMaximumWidth(80)
        self.model_busy.setMaximumHeight(14)
        bar = self.statusBar()  # left: passing messages; right: what is always true
        for widget in (self.status_library, self.status_model, self.model_busy, self.status_search):
            bar.addPermanentWidget(widget)

        self.resize(1100, 720)

    def _action(
        self, label: str, slot: Callable[[], object], shortcut: object = None, tip: str = ""
    ) -> QAction:
        action = QAction(label, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
        if tip:
            action.setToolTip(tip)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        controller, panel = self.controller, self.search_panel
        self.back_action = self._action(
            "Back", controller.go_back, keys.Back, "Previous search (Alt+Left)"
        )
        self.forward_action = self._action(
            "Forward", controller.go_forward, keys.Forward, "Next search (Alt+Right)"
        )
        self.paste_action = self._action(
            "Paste image", panel.paste, keys.Paste, "Search with the image on the clipboard"
        )
        self.open_query_action = self._action(
            "Open image…", panel.drop_zone.browse, keys.Open, "Search with an image file"
        )
        self.add_folder_action = self._action(
            "Add folder…", self.library_panel.choose_folder, "Ctrl+Shift+O"
        )
        self.rescan_action = self._action("Re-scan", controller.rescan, keys.Refresh)
        self.settings_action = self._action("Settings…", self.open_settings, "Ctrl+,")
        self.quit_action = self._action("Quit", self.close, keys.Quit)
        self.about_action = self._action("About Image Finder", self.show_about)
        self.duplicates_action = self._action(
            "Find duplicates…",
            self.show_duplicates,
            "Ctrl+D",
            "Duplicate and near-duplicate pictures",
        )
        self.library_action = QAction("Library panel", self, checkable=True, checked=True)
        self.library_action.setShortcut(QKeySequence("F9"))
        self.library_action.toggled.connect(self.toggle_library)
        self.addAction(self.library_action)
        self.larger_action = self._action(
            "Larger thumbnails", lambda: panel.zoom(1), keys.ZoomIn, "Ctrl+wheel up"
        )
        self.smaller_action = self._action(
            "Smaller thumbnails", lambda: panel.zoom(-1), keys.ZoomOut, "Ctrl+wheel down"
        )
        copy_path = panel.copy_path_action
        copy_path.setShortcut(QKeySequence(keys.Copy))
        copy_path.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        panel.results_view.addAction(copy_path)

        icons = {
            self.back_action: QStyle.StandardPixmap.SP_ArrowBack,
            self.forward_action: QStyle.StandardPixmap.SP_ArrowForward,
            self.open_query_action: QStyle.StandardPixmap.SP_DialogOpenButton,
            self.add_folder_action: QStyle.StandardPixmap.SP_FileDialogNewFolder,
            self.rescan_action: QStyle.StandardPixmap.SP_BrowserReload,
            self.settings_action: QStyle.StandardPixmap.SP_FileDialogDetailedView,
        }
        for qaction, pixmap in icons.items():
            qaction.setIcon(self.style().standardIcon(pixmap))
        menus = self.menuBar()
        file_entries = [self.open_query_action, self.paste_action, None, self.add_folder_action]
        _add_entries(menus.addMenu("&File"), [*file_entries, self.rescan_action, None,
                                              self.quit_action])  # fmt: skip
        _add_entries(menus.addMenu("&Edit"), [copy_path, None, self.settings_action])
        _add_entries(
            menus.addMenu("&View"), [self.library_action, None, self.larger_action,
                                     self.smaller_action]
        )  # fmt: skip
        _add_entries(menus.addMenu("&Go"), [self.back_action, self.forward_action])
        concept = self._action("New concept from pictures…", self.new_concept_from_pictures, None,
                               "Learn a concept from example pictures of your own")  # fmt: skip
        self.matches_action = self._action("Matches…", self.show_matches, None,
                                           "Pictures found in watched hash banks")  # fmt: skip
        _add_entries(menus.addMenu("&Tools"), [self.duplicates_action, concept,
                                               self.matches_action])  # fmt: skip
        _add_entries(menus.addMenu("&Help"), [self.about_action])

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        _add_entries(toolbar, [self.back_action, self.forward_action, None,
                               self.open_query_action, self.paste_action, None,
                               self.add_folder_action, self.rescan_action, None,
                               self.settings_action])  # fmt: skip
        self.addToolBar(toolbar)

    def _connect(self) -> None:
        controller = self.controller
        controller.notice.connect(self.notice_bar.show_text)
        controller.notice_withdrawn.connect(self.notice_bar.withdraw)
        controller.settled.connect(self.settled)
        controller.index_finished.connect(self._on_controller_index_finished)
        for signal in (
            controller.library_changed,
            controller.model_state_changed,
            controller.results_ready,
            controller.history_changed,
            controller.indexing_changed,
        ):
            signal.connect(self._update_status)
        self.desktop.message.connect(self.statusBar().showMessage)
        self.search_panel.folder_dropped.connect(self._on_search_panel_folder_dropped)
        self.search_panel.drop_zone.several_dropped.connect(self._on_drop_zone_several_dropped)
        self.search_panel.thumbnail_size_changed.connect(
            self._on_search_panel_thumbnail_size_changed
        )
        self.search_panel.empty_button.clicked.connect(self.library_panel.choose_folder)

    def _restore_state(self) -> None:
        geometry = self.qsettings.value("window/geometry", QByteArray())
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        splitter = self.qsettings.value("window/splitter", QByteArray())
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        self.search_panel.drop_zone.last_folder = str(self.qsettings.value("last_image_folder", ""))

    # -- state shown --------------------------------------------------------------------------

    def _update_status(self, *args: object) -> None:
        controller = self.controller
        folders = len(controller.folders)
        self.status_library.setText(
            f"{text.count(controller.count, 'image')} in {text.count(folders, 'folder')}"
        )
        state = controller.model_state
        self.model_busy.setVisible(state is ModelState.LOADING)
        if state is ModelState.LOADING:
            self.status_model.setText("Loading model…")
        elif state is ModelState.FAILED or controller.extractor is None:
            self.status_model.setText("Model not loaded")
        else:
            extractor = controller.extractor
            short = extractor.spec.title.split(" (")[0]
            self.status_model.setText(f"{short} · {extractor.device.upper()}")
            self.status_model.setToolTip(
                f"Model: {extractor.spec.title}, on the {extractor.device.upper()}"
            )
        if controller.last_search_ms is not None:
            self.status_search.setText(f"Search: {controller.last_search_ms:.0f} ms")
        self.back_action.setEnabled(controller.history.can_go_back)
        self.forward_action.setEnabled(controller.history.can_go_forward)
        self.rescan_action.setEnabled(self.library_panel.rescan_button.isEnabled())

    def _on_controller_index_finished(self, report: object) -> None:
        self.statusBar().showMessage(text.index_summary(report), 10_000)  # type: ignore[arg-type]

    def _on_search_panel_thumbnail_size_changed(self, size: int) -> None:
        settings = dataclasses.replace(self.settings, thumbnail_size=size)
        self.controller.settings = settings
        settings.save()

    def toggle_library(self, shown: bool) -> None:
        """Show or hide the library panel (it folds away by itself in a narrow window)."""
        self.library_panel.setVisible(shown)
        self.library_action.setChecked(shown)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        narrow = self.width() < NARROW_WINDOW
        if narrow != self._narrow and self.isVisible():
            self._narrow = narrow
            self.toggle_library(not narrow)

    def _on_drop_zone_several_dropped(self, used: str, others: int) -> None:
        self.statusBar().showMessage(
            f"Searching with {display_name(os.path.basename(used))}; "
            f"{text.count(others, 'other file')} dropped with it "
            f"{'was' if others == 1 else 'were'} not used.",
            8000,
        )

    def _on_search_panel_folder_dropped(self, folder: str) -> None:
        self.statusBar().showMessage("Adding the folder to the library…", 4000)
        self.library_panel.add_folders([folder])

    # -- searching and indexing, as the rest of the app and the tests call them ---------------

    def search_file(self, path: str) -> None:
        self.search_panel.search_file(path)

    def add_folders(self, folders: Sequence[str]) -> None:
        self.library_panel.add_folders(list(folders))

    # -- dialogs ------------------------------------------------------------------------------

    def show_matches(self) -> None:
        """The matches recorded in watched hash banks, to review (ui/matches_view.py)."""
        from image_finder.ui.matches_view import MatchesView

        view = MatchesView(self.library, self)
        self.matches_view = view  # kept while it is open
        view.open()

    def show_duplicates(self) -> None:
        from image_finder.ui.duplicates_view import open_duplicates

        self.duplicates_window = open_duplicates(
            self.controller,
            self.desktop,
            self.qsettings,
            self,
            [self.duplicates_window] if self.duplicates_window else [],
        )

    def new_concept_from_pictures(self) -> None:
        """Example pictures of one's own (outside the library too) as a concept."""
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Example pictures of the concept", "", "Images (*.jpg *.jpeg *.png *.webp "
            "*.heic *.tif *.tiff *.bmp *.gif);;All files (*)"
        )  # fmt: skip
        self.search_panel.concept_from_files(paths)

    def show_about(self) -> None:
        from image_finder.ui.about import show_about

        extractor = self.controller.extractor
        self.about_box = show_about(self, extractor.device.upper() if extractor else None)

    def settings_dialog(self) -> SettingsDialog:
        """The Settings dialog, showing the model in use and the devices present."""
        from image_finder.core.app.models import unavailable_devices

        extractor = self.controller.extractor
        return SettingsDialog(
            self.settings,
            extractor.name if extractor else self.library.model,
            self,
            fallback_reason=extractor.fallback_reason if extractor else "",
            unavailable=unavailable_devices(),
            precision_in_use=(extractor.precision, extractor.precision_reason)
            if extractor
            else None,
            device_in_use=extractor.device if extractor else None,
            adapt=self.show_adapt,
            adapter_state=_adapter_state(self.library),
        )

    def show_adapt(self) -> AdaptDialog:
        """Settings ▸ Adapt to my pictures…"""
        dialog = AdaptDialog(self.controller.learning, QApplication.activeModalWidget() or self)
        dialog.setModal(True)
        dialog.show()
        self.adapt_dialog = dialog
        return dialog

    def open_settings(self) -> None:
        dialog = self.settings_dialog()
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        reindex = dialog.model_changed()
        if reindex and self.library.model and not self.confirm_reindex():
            return  # nothing changes
        self.apply_settings(dialog.settings(), reindex_ok=reindex)

    def confirm_reindex(self) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Index again with the new model?",
            "Vectors of different models cannot be compared, so every image will be indexed "
            "again. Continue?",
            parent=self,
        )
        box.addButton("Index again", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.exec()
        return box.clickedButton() is not cancel

    def apply_settings(self, new: Settings, reindex_ok: bool = False) -> None:
        """Use and save ``new``; a model other than the library's only with ``reindex_ok``."""
        self.controller.apply_settings(new, reindex=reindex_ok)
        self.controller.settings.save()
        panel = self.search_panel
        panel.top_k.setValue(self.settings.top_k)
        panel.set_thumbnail_size(self.settings.thumbnail_size)
        self._update_status()

    # -- window-level drop and shutdown -------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.search_panel.drop_zone.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.search_panel.drop_zone.dropEvent(event)

    def is_settled(self) -> bool:
        return self.controller.is_settled()

    def shutdown(self) -> None:
        """Cancel jobs, stop the threads and wait for them; idempotent."""
        self.search_panel.thumbnails.clear()
        self.controller.shutdown()
        self.search_panel.thumbnails.wait(10_000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/splitter", self.splitter.saveState())
        self.qsettings.setValue("last_image_folder", self.search_panel.drop_zone.last_folder)
        self.shutdown()
        event.accept()
