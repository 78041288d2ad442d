"""The main window: library panel, query drop zone, results grid, status bar."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QModelIndex, QSettings, Qt, QThread, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QGuiApplication,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from image_finder import APP_NAME
from image_finder.core.indexing import IndexPhase, IndexProgress, IndexReport
from image_finder.core.library import Library
from image_finder.core.records import FolderInfo, display_name
from image_finder.core.search import Query, QueryKind, SearchOptions, SearchOutcome
from image_finder.core.settings import Settings
from image_finder.ui.about import app_icon
from image_finder.ui.drop_zone import DropZone
from image_finder.ui.results import ResultDelegate, ResultsModel, ResultsView
from image_finder.ui.settings_dialog import SettingsDialog
from image_finder.ui.thumbnails import ThumbnailLoader, make_thumbnail
from image_finder.ui.workers import IndexWorker, SearchWorker

if TYPE_CHECKING:
    from image_finder.core.extractor import Extractor

log = logging.getLogger(__name__)

NO_LIBRARY_TEXT = "Add a folder to start"
NO_LIBRARY_HINT = "Image Finder indexes the pictures in your folders, then finds similar ones."
NO_QUERY_TEXT = "Drop an image here, paste one, or click to browse"
MAX_RECENT_FOLDERS = 10


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _add_entries(target: QMenu | QToolBar, entries: Sequence[QAction | None]) -> None:
    """Fill a menu or toolbar; None is a separator."""
    for entry in entries:
        if entry is None:
            target.addSeparator()
        else:
            target.addAction(entry)


class MainWindow(QMainWindow):
    # requests to the workers (queued across threads)
    _load_model_requested = Signal(object, bool)  # settings, model replaces the library's
    _search_requested = Signal(int, object, object)
    _index_requested = Signal(list, bool)
    _remove_requested = Signal(str)

    settled = Signal()  # all work done: model, indexing, search and thumbnails
    index_progress = Signal(object)  # IndexProgress, relayed on the GUI thread
    index_finished = Signal(object)  # IndexReport, after the window has shown it

    def __init__(self, library: Library, settings: Settings, qsettings: QSettings | None = None):
        super().__init__()
        self.library = library
        self.settings = settings
        self.qsettings = qsettings or QSettings()
        self.extractor: Extractor | None = None
        self.model_state = "loading"  # "loading", "ready", "failed"
        self._folders: list[FolderInfo] = library.folders()
        self._count = library.count()
        self._generation = 0
        self._search_started: float | None = None
        self._searching = False
        self._indexing = False
        self._index_queue: list[tuple[list[str], bool]] = []
        self._pending_query: Query | None = None
        self._history: list[Query] = []
        self._history_pos = -1
        self._current_query: Query | None = None
        self.last_search_ms: float | None = None
        self.last_report: IndexReport | None = None

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self._start_workers()
        self._restore_state()
        self._refresh_library_panel()
        self._update_empty_state()
        self._update_status()

    # ------------------------------------------------------------------------------------------
    # construction

    def _build_ui(self) -> None:
        # library panel
        self.folder_list = QListWidget()
        self.folder_list.setAccessibleName("Indexed folders")
        self.folder_list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.folder_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.folder_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.folder_list.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take the selected folder out of the library (files stay)")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.rescan_button = QPushButton("Re-scan")
        self.rescan_button.setToolTip("Pick up new, changed, moved and deleted images (F5)")
        self.rescan_button.clicked.connect(self.rescan)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.rescan_button)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_indexing)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        progress_layout = QVBoxLayout(self.progress_box)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addLayout(progress_row)
        progress_layout.addWidget(self.progress_label)
        self.progress_box.hide()
        library_title = QLabel("<b>Library</b>")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(library_title)
        left_layout.addWidget(self.folder_list, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress_box)

        # query and options
        self.drop_zone = DropZone()
        self.drop_zone.file_chosen.connect(self.search_file)
        self.drop_zone.image_pasted.connect(self.search_image)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 1000)
        self.top_k.setValue(self.settings.top_k)
        self.top_k.setToolTip("How many results to show")
        self.top_k.setAccessibleName("Number of results")
        self.top_k.valueChanged.connect(self._on_options_changed)
        self.min_score = QSlider(Qt.Orientation.Horizontal)
        self.min_score.setRange(0, 100)
        self.min_score.setValue(round(self.settings.min_score * 100))
        self.min_score.setToolTip("Hide results less similar than this")
        self.min_score.setAccessibleName("Minimum similarity")
        self.min_score_value = QDoubleSpinBox()
        self.min_score_value.setRange(0.0, 1.0)
        self.min_score_value.setSingleStep(0.05)
        self.min_score_value.setDecimals(2)
        self.min_score_value.setValue(self.settings.min_score)
        self.min_score.valueChanged.connect(lambda v: self.min_score_value.setValue(v / 100))
        self.min_score_value.valueChanged.connect(self._on_min_score_value_changed)
        options = QHBoxLayout()
        options.addWidget(QLabel("Results:"))
        options.addWidget(self.top_k)
        options.addSpacing(16)
        options.addWidget(QLabel("Minimum similarity:"))
        options.addWidget(self.min_score, 1)
        options.addWidget(self.min_score_value)

        # results
        self.thumbnails = ThumbnailLoader(self)
        self.results_model = ResultsModel(self.thumbnails, self.settings.thumbnail_size, self)
        self.results_model.dataChanged.connect(self._check_settled)
        self.results_view = ResultsView()
        self.results_view.setModel(self.results_model)
        self.delegate = ResultDelegate(self.settings.thumbnail_size, self.results_view)
        self.results_view.setItemDelegate(self.delegate)
        self.results_view.doubleClicked.connect(self._on_results_view_double_clicked)
        self.results_view.activated.connect(self._on_results_view_double_clicked)
        self.results_view.customContextMenuRequested.connect(self._on_results_view_context_menu)

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
        self.empty_button.clicked.connect(self.choose_folder)
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch()
        empty_layout.addWidget(self.empty_title)
        empty_layout.addWidget(self.empty_hint)
        empty_layout.addWidget(self.empty_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch()
        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.results_view)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close_notice = QToolButton()
        close_notice.setText("✕")
        close_notice.setAutoRaise(True)
        close_notice.setToolTip("Dismiss")
        self.notice_bar = QFrame()
        self.notice_bar.setObjectName("notice")
        self.notice_bar.setStyleSheet(
            "#notice { background: #fdf2d0; border: 1px solid #e8d18a; border-radius: 4px; }"
            " #notice QLabel { color: #5c4400; }"
        )
        notice_layout = QHBoxLayout(self.notice_bar)
        notice_layout.setContentsMargins(8, 4, 4, 4)
        notice_layout.addWidget(self.notice, 1)
        notice_layout.addWidget(close_notice, 0, Qt.AlignmentFlag.AlignTop)
        close_notice.clicked.connect(self.notice_bar.hide)
        self.notice_bar.hide()

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.notice_bar)
        right_layout.addWidget(self.drop_zone)
        right_layout.addLayout(options)
        right_layout.addWidget(self.stack, 1)

        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 740])
        self.setCentralWidget(self.splitter)

        # status bar
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

    def _build_actions(self) -> None:
        def action(text: str, slot, shortcut=None, tip: str = "") -> QAction:
            act = QAction(text, self)
            act.triggered.connect(slot)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            if tip:
                act.setToolTip(tip)
            self.addAction(act)
            return act

        self.back_action = action(
            "Back", self.go_back, QKeySequence.StandardKey.Back, "Previous search (Alt+Left)"
        )
        self.forward_action = action(
            "Forward",
            self.go_forward,
            QKeySequence.StandardKey.Forward,
            "Next search (Alt+Right)",
        )
        self.paste_action = action(
            "Paste image",
            self.paste,
            QKeySequence.StandardKey.Paste,
            "Search with the image on the clipboard (Ctrl+V)",
        )
        self.open_query_action = action(
            "Open image…",
            self.drop_zone.browse,
            QKeySequence.StandardKey.Open,
            "Search with an image file",
        )
        self.add_folder_action = action("Add folder…", self.choose_folder, "Ctrl+Shift+O")
        self.rescan_action = action("Re-scan", self.rescan, QKeySequence.StandardKey.Refresh)
        self.settings_action = action(
            "Settings…", self.open_settings, QKeySequence.StandardKey.Preferences
        )
        self.copy_path_action = action("Copy path", self.copy_paths, QKeySequence.StandardKey.Copy)
        self.copy_path_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.removeAction(self.copy_path_action)
        self.results_view.addAction(self.copy_path_action)
        self.quit_action = action("Quit", self.close, QKeySequence.StandardKey.Quit)

        style = self.style()
        icons = {
            self.back_action: QStyle.StandardPixmap.SP_ArrowBack,
            self.forward_action: QStyle.StandardPixmap.SP_ArrowForward,
            self.open_query_action: QStyle.StandardPixmap.SP_DialogOpenButton,
            self.add_folder_action: QStyle.StandardPixmap.SP_FileDialogNewFolder,
            self.rescan_action: QStyle.StandardPixmap.SP_BrowserReload,
            self.settings_action: QStyle.StandardPixmap.SP_FileDialogDetailedView,
        }
        for qaction, pixmap in icons.items():
            qaction.setIcon(style.standardIcon(pixmap))
        self.about_action = action("About Image Finder", self.show_about)
        menus = self.menuBar()
        _add_entries(
            menus.addMenu("&File"),
            [
                self.open_query_action,
                self.paste_action,
                None,
                self.add_folder_action,
                self.rescan_action,
                None,
                self.quit_action,
            ],
        )
        edit_menu = menus.addMenu("&Edit")
        edit_menu.addAction(self.copy_path_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.settings_action)
        go_menu = menus.addMenu("&Go")
        go_menu.addAction(self.back_action)
        go_menu.addAction(self.forward_action)
        menus.addMenu("&Help").addAction(self.about_action)

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        _add_entries(
            toolbar,
            [
                self.back_action,
                self.forward_action,
                None,
                self.open_query_action,
                self.paste_action,
                None,
                self.add_folder_action,
                self.rescan_action,
                None,
                self.settings_action,
            ],
        )
        self.addToolBar(toolbar)
        self._update_buttons()

    def _start_workers(self) -> None:
        self.search_thread = QThread(self)
        self.search_thread.setObjectName("search")
        self.search_worker = SearchWorker(self.library)
        self.search_worker.moveToThread(self.search_thread)
        self._load_model_requested.connect(self.search_worker.load_model)
        self._search_requested.connect(self.search_worker.search)
        self.search_worker.model_loaded.connect(self._on_search_worker_model_loaded)
        self.search_worker.model_failed.connect(self._on_search_worker_model_failed)
        self.search_worker.results_ready.connect(self._on_search_worker_results_ready)
        self.search_worker.search_failed.connect(self._on_search_worker_search_failed)
        self.search_thread.finished.connect(self.search_worker.deleteLater)

        self.index_thread = QThread(self)
        self.index_thread.setObjectName("index")
        self.index_worker = IndexWorker(self.library)
        self.index_worker.moveToThread(self.index_thread)
        self._index_requested.connect(self.index_worker.index)
        self._remove_requested.connect(self.index_worker.remove_folder)
        self.index_worker.progress.connect(self._on_index_worker_progress)
        self.index_worker.finished.connect(self._on_index_worker_finished)
        self.index_worker.failed.connect(self._on_index_worker_failed)
        self.index_worker.library_changed.connect(self._on_index_worker_library_changed)
        self.index_thread.finished.connect(self.index_worker.deleteLater)

        self.search_thread.start()
        self.index_thread.start()
        self._load_model_requested.emit(self.settings, False)

    def _restore_state(self) -> None:
        geometry = self.qsettings.value("window/geometry", QByteArray())
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        splitter = self.qsettings.value("window/splitter", QByteArray())
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)

    def recent_folders(self) -> list[str]:
        value = self.qsettings.value("recent_folders", [])
        if isinstance(value, str):  # QSettings gives a lone string for a one-item list
            return [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def _remember_folder(self, folder: str) -> None:
        recent = [folder] + [f for f in self.recent_folders() if f != folder]
        self.qsettings.setValue("recent_folders", recent[:MAX_RECENT_FOLDERS])

    # ------------------------------------------------------------------------------------------
    # state shown to the user

    def _refresh_library_panel(self) -> None:
        selected = self.selected_folder()
        self.folder_list.clear()
        for folder in self._folders:
            text = f"{display_name(folder.path)}\n{folder.images:,} images"
            if not folder.online:
                text += " · offline"
            item = QListWidgetItem(
                self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon), text
            )
            item.setData(Qt.ItemDataRole.UserRole, folder.path)
            item.setToolTip(
                f"{display_name(folder.path)}\n{folder.images:,} images"
                + ("\nThe folder is offline; its images are kept." if not folder.online else "")
            )
            if not folder.online:
                item.setForeground(self.palette().placeholderText())
            self.folder_list.addItem(item)
            if folder.path == selected:
                item.setSelected(True)
        self._update_buttons()

    def selected_folder(self) -> str | None:
        items = self.folder_list.selectedItems()
        return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def _update_buttons(self) -> None:
        has_folders = bool(self._folders)
        self.remove_button.setEnabled(self.selected_folder() is not None)
        ready = self.model_state == "ready"
        self.rescan_button.setEnabled(has_folders and ready and not self._indexing)
        self.rescan_action.setEnabled(self.rescan_button.isEnabled())
        self.back_action.setEnabled(self._history_pos > 0)
        self.forward_action.setEnabled(0 <= self._history_pos < len(self._history) - 1)

    def _update_empty_state(self) -> None:
        if self.results_model.rowCount() > 0:
            self.stack.setCurrentIndex(1)
            return
        self.stack.setCurrentIndex(0)
        if not self._folders and not self._indexing:
            self.empty_title.setText(NO_LIBRARY_TEXT)
            self.empty_hint.setText(NO_LIBRARY_HINT)
            self.empty_button.show()
        elif self._current_query is None:
            self.empty_title.setText(NO_QUERY_TEXT)
            self.empty_hint.setText(
                f"{self._count:,} images indexed. Right-click a result to find images similar "
                "to it."
            )
            self.empty_button.hide()
        elif self._searching:
            self.empty_title.setText("Searching…")
            self.empty_hint.setText("")
            self.empty_button.hide()
        else:
            self.empty_title.setText("No similar images found")
            self.empty_hint.setText(
                "Try a lower minimum similarity, or add more folders."
                if self.min_score.value()
                else "Add more folders to search in."
            )
            self.empty_button.hide()

    def _update_status(self) -> None:
        folders = len(self._folders)
        self.status_library.setText(
            f"{self._count:,} images in {folders} folder{'' if folders == 1 else 's'}"
        )
        if self.model_state == "loading":
            self.status_model.setText("Loading model…")
            self.model_busy.show()
        elif self.model_state == "failed":
            self.status_model.setText("Model not loaded")
            self.model_busy.hide()
        else:
            extractor = self.extractor
            assert extractor is not None
            self.status_model.setText(f"Model: {extractor.spec.title} · {extractor.device.upper()}")
            self.model_busy.hide()
        if self.last_search_ms is not None:
            self.status_search.setText(f"Search: {self.last_search_ms:.0f} ms")

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice_bar.show()

    # ------------------------------------------------------------------------------------------
    # model

    def _on_search_worker_model_loaded(self, extractor) -> None:
        self.extractor = extractor
        self.index_worker.extractor = extractor
        self.model_state = "ready"
        if extractor.notice:
            self.show_notice(extractor.notice)
        self._update_status()
        self._update_buttons()
        self._run_next_index_job()
        if self._pending_query is not None and not self._indexing:
            query, self._pending_query = self._pending_query, None
            self._run_query(query, record=False)
        self._check_settled()

    def _on_search_worker_model_failed(self, message: str) -> None:
        self.model_state = "failed"
        self.show_notice(message)
        self.drop_zone.show_message(message)
        self._index_queue.clear()
        self._pending_query = None  # nothing can run it
        self._update_status()
        self._update_buttons()
        self._check_settled()

    # ------------------------------------------------------------------------------------------
    # indexing

    def choose_folder(self) -> None:
        recent = self.recent_folders()
        start = recent[0] if recent else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", start)
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: Sequence[str], rebuild: bool = False) -> None:
        folders = [os.path.abspath(f) for f in folders]
        for folder in folders:
            self._remember_folder(folder)
        self._index_queue.append((folders, rebuild))
        self._run_next_index_job()
        self._update_empty_state()

    def rescan(self) -> None:
        if self._folders:
            self.add_folders([f.path for f in self._folders])

    def _run_next_index_job(self) -> None:
        if self._indexing or not self._index_queue or self.model_state != "ready":
            return
        folders, rebuild = self._index_queue.pop(0)
        self._indexing = True
        self.progress_box.show()
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText("Scanning " + ", ".join(display_name(f) for f in folders))
        self.cancel_button.setEnabled(True)
        self._update_buttons()
        self._index_requested.emit(folders, rebuild)

    def cancel_indexing(self) -> None:
        self._index_queue.clear()
        if self._indexing:
            self.index_worker.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping after the current batch…")

    def _on_index_worker_progress(self, progress: IndexProgress) -> None:
        self.index_progress.emit(progress)
        if progress.phase is IndexPhase.EMBEDDING and progress.total:
            self.progress_bar.setRange(0, progress.total)
            self.progress_bar.setValue(progress.done)
            self.progress_bar.setFormat(f"{progress.done:,} / {progress.total:,}")
            if self.cancel_button.isEnabled():
                self.progress_label.setText(
                    f"Indexing · {progress.images_per_second:.1f} images/s · "
                    f"{_duration(progress.eta_seconds)} left"
                )
        elif progress.phase is IndexPhase.SCANNING:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText(f"Scanning… {progress.done:,} files found")
        elif progress.phase is IndexPhase.LAYOUTS and progress.total:
            self.progress_bar.setRange(0, progress.total)
            self.progress_bar.setValue(progress.done)
            self.progress_bar.setFormat(f"{progress.done:,} / {progress.total:,}")
            self.progress_label.setText("Updating entries from an earlier version…")
        elif progress.phase is IndexPhase.SAVING:
            self.progress_label.setText("Saving the index…")

    def _on_index_worker_library_changed(self, folders: list[FolderInfo], count: int) -> None:
        self._folders = folders
        self._count = count
        self._refresh_library_panel()
        self._update_status()
        if self.results_model.rowCount() == 0:
            self._update_empty_state()

    def _index_job_done(self) -> None:
        self._indexing = False
        self.progress_box.hide()
        self._update_buttons()
        self._run_next_index_job()
        if not self._indexing and self._pending_query is not None and self.model_state == "ready":
            query, self._pending_query = self._pending_query, None
            self._run_query(query, record=False)
        self._update_empty_state()
        self._check_settled()

    def _on_index_worker_finished(self, report: IndexReport) -> None:
        self.last_report = report
        parts = [f"{report.added:,} added"]
        if report.updated:
            parts.append(f"{report.updated:,} updated")
        if report.moved:
            parts.append(f"{report.moved:,} moved")
        if report.removed:
            parts.append(f"{report.removed:,} removed")
        if report.skipped:
            parts.append(f"{len(report.skipped):,} skipped")
        if report.cancelled:
            summary = "Indexing stopped: " + ", ".join(parts)
        elif report.added or report.updated or report.moved or report.removed or report.skipped:
            summary = "Indexing finished: " + ", ".join(parts)
        else:
            summary = "The library is up to date"
        self.statusBar().showMessage(summary, 10_000)
        if report.skipped:
            details = "\n".join(f"{display_name(s.path)}: {s.reason}" for s in report.skipped[:20])
            more = len(report.skipped) - 20
            self.folder_list.setToolTip(
                "Skipped files:\n" + details + (f"\n… and {more} more" if more > 0 else "")
            )
        if report.offline_folders:
            self.show_notice(
                "Offline folders (their images are kept until they return or you remove them): "
                + ", ".join(display_name(f) for f in report.offline_folders)
            )
        self._index_job_done()
        self.index_finished.emit(report)

    def _on_index_worker_failed(self, message: str) -> None:
        self.show_notice(message)
        self._index_job_done()

    def _on_remove_button_clicked(self) -> None:
        folder = self.selected_folder()
        if folder is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Take {display_name(folder)} out of the library?\n\nThe images stay on disk; "
            "only their entries in Image Finder are removed.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder(folder)

    def remove_folder(self, folder: str) -> None:
        self._remove_requested.emit(folder)

    # ------------------------------------------------------------------------------------------
    # searching

    def search_file(self, path: str) -> None:
        if not os.path.isfile(path):
            self.drop_zone.show_message(
                f"{display_name(os.path.basename(path) or path)}: not a file that can be read."
            )
            return
        self._run_query(Query.file(path))

    def search_image(self, image: QImage) -> None:
        from PySide6.QtCore import QBuffer, QIODevice

        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub says bytes; str works
        data = bytes(buffer.data().data())
        self._run_query(Query.image(data))

    def search_item(self, row: int) -> None:
        result = self.results_model.result(row)
        self._run_query(Query.item(result.item))

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.drop_zone.show_message("The clipboard is empty.")
            return
        self.drop_zone.accept_mime(mime)

    def _options(self) -> SearchOptions:
        return SearchOptions(
            top_k=self.top_k.value(),
            min_score=self.min_score_value.value() or None,
            nprobe=self.settings.nprobe or None,
            rotations=self.settings.rotations,
            crops=self.settings.crops,
        )

    def _run_query(self, query: Query, record: bool = True) -> None:
        self._search_started = time.perf_counter()
        if record:
            del self._history[self._history_pos + 1 :]
            self._history.append(query)
            self._history_pos = len(self._history) - 1
        self._current_query = query
        self._update_buttons()
        if self.model_state == "failed":
            self._show_query(query)
            self.drop_zone.show_message("The model could not be loaded, so searching is off.")
            return
        if self.model_state != "ready":
            self._pending_query = query
            self._show_query(query)
            self.drop_zone.show_message("Loading model… the search starts as soon as it is ready.")
            return
        self._generation += 1
        self._searching = True
        self.search_worker.supersede(self._generation)
        self._search_requested.emit(self._generation, query, self._options())
        self._show_query(query)  # while the worker embeds the query
        self._update_empty_state()

    def _show_query(self, query: Query) -> None:
        image: QImage | None = None
        try:
            if query.kind is QueryKind.IMAGE:
                image = QImage.fromData(query.data)
            else:
                image = make_thumbnail(query.path, DropZone.THUMB * 2)
        except Exception:
            image = None  # the worker reports why the file can't be used
        self.drop_zone.show_query(image, query.label)

    def _on_search_worker_results_ready(self, generation: int, outcome: SearchOutcome) -> None:
        if generation != self._generation:
            return  # an older search finished after a newer one was asked for
        self._searching = False
        self.drop_zone.clear_message()
        self.results_model.set_results(outcome.results)
        self.results_view.scrollToTop()
        if self._search_started is not None:
            self.last_search_ms = (time.perf_counter() - self._search_started) * 1000
            self._search_started = None
        self._update_empty_state()
        self._update_status()
        self._check_settled()

    def _on_search_worker_search_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._searching = False
        self._search_started = None
        self.drop_zone.show_message(message)
        self.results_model.set_results([])
        self._update_empty_state()
        self._check_settled()

    def _on_options_changed(self) -> None:
        if self._current_query is not None and self.model_state == "ready":
            self._run_query(self._current_query, record=False)

    def _on_min_score_value_changed(self, value: float) -> None:
        self.min_score.blockSignals(True)
        self.min_score.setValue(round(value * 100))
        self.min_score.blockSignals(False)
        self._on_options_changed()

    def go_back(self) -> None:
        if self._history_pos > 0:
            self._history_pos -= 1
            self._run_query(self._history[self._history_pos], record=False)

    def go_forward(self) -> None:
        if self._history_pos < len(self._history) - 1:
            self._history_pos += 1
            self._run_query(self._history[self._history_pos], record=False)

    # ------------------------------------------------------------------------------------------
    # result actions

    def _selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.results_view.selectionModel().selectedIndexes()})

    def _on_results_view_double_clicked(self, index: QModelIndex) -> None:
        self.open_file(self.results_model.result(index.row()).path)

    def _on_results_view_context_menu(self, pos) -> None:
        index = self.results_view.indexAt(pos)
        if not index.isValid():
            return
        if not self.results_view.selectionModel().isSelected(index):
            self.results_view.setCurrentIndex(index)
        path = self.results_model.result(index.row()).path
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_file(path))
        menu.addAction("Reveal in file manager", lambda: self.reveal_file(path))
        menu.addSeparator()
        menu.addAction(self.copy_path_action)
        menu.addAction("Copy image", lambda: self.copy_image(path))
        menu.addSeparator()
        menu.addAction("Find similar to this", lambda: self.search_item(index.row()))
        menu.exec(self.results_view.viewport().mapToGlobal(pos))

    def open_file(self, path: str) -> None:
        if not os.path.exists(path):
            self.statusBar().showMessage(f"{display_name(path)} is offline or was moved.", 8000)
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def reveal_file(self, path: str) -> None:
        from PySide6.QtCore import QProcess

        if sys.platform == "win32":
            QProcess.startDetached("explorer", ["/select,", os.path.normpath(path)])
        elif sys.platform == "darwin":
            QProcess.startDetached("open", ["-R", path])
        elif shutil.which("dbus-send"):
            url = QUrl.fromLocalFile(path).toString()
            QProcess.startDetached(
                "dbus-send",
                [
                    "--session",
                    "--dest=org.freedesktop.FileManager1",
                    "--type=method_call",
                    "/org/freedesktop/FileManager1",
                    "org.freedesktop.FileManager1.ShowItems",
                    f"array:string:{url}",
                    "string:",
                ],
            )
        else:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))

    def copy_paths(self) -> None:
        rows = self._selected_rows()
        if not rows:
            return
        paths = [self.results_model.result(r).path for r in rows]
        mime = self.results_model.mimeData([self.results_model.index(r) for r in rows])
        mime.setText("\n".join(display_name(p) for p in paths))
        QGuiApplication.clipboard().setMimeData(mime)
        self.statusBar().showMessage(f"Copied {len(paths)} path(s)", 4000)

    def copy_image(self, path: str) -> None:
        try:
            from image_finder.core.images import load_image
            from image_finder.ui.thumbnails import pil_to_qimage

            image = pil_to_qimage(load_image(path))
        except Exception as exc:
            self.statusBar().showMessage(f"Cannot copy the image: {exc}", 8000)
            return
        QGuiApplication.clipboard().setImage(image)
        self.statusBar().showMessage("Image copied", 4000)

    def show_about(self) -> None:
        from image_finder.ui.about import show_about

        device = self.extractor.device.upper() if self.extractor is not None else None
        self._about = show_about(self, device)

    # ------------------------------------------------------------------------------------------
    # window-level drop and settings

    def dragEnterEvent(self, event) -> None:
        self.drop_zone.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        self.drop_zone.dropEvent(event)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.library.model, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        self.apply_settings(
            dialog.settings(), reindex_ok=dialog.model_changed() and self._confirm_reindex()
        )

    def _confirm_reindex(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Re-index with the new model?",
            "Vectors of different models cannot be compared, so every image will be indexed "
            "again. Continue?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def apply_settings(self, new: Settings, reindex_ok: bool = False) -> None:
        """Use and save ``new``. A model other than the library's is only taken with
        ``reindex_ok``, and then every folder is re-indexed with it."""
        old = self.settings
        library_model = self.library.model
        if library_model and new.model != library_model and not reindex_ok:
            new = dataclasses.replace(new, model=library_model)
        self.settings = new
        new.save()
        self.top_k.setValue(new.top_k)
        self.delegate.thumbnail_size = new.thumbnail_size
        self.results_model.set_thumbnail_size(new.thumbnail_size)
        self.results_view.doItemsLayout()
        engine = ("model", "weights", "device", "precision")
        if any(getattr(new, f) != getattr(old, f) for f in engine):
            rebuild = bool(library_model) and new.model != library_model
            self.model_state = "loading"
            self._update_status()
            self._update_buttons()
            if rebuild:
                self._index_queue.append(([f.path for f in self._folders], True))
            self._load_model_requested.emit(new, rebuild)
        elif self._current_query is not None:
            self._run_query(self._current_query, record=False)

    # ------------------------------------------------------------------------------------------
    # settling (for --screenshot and tests) and shutdown

    def is_settled(self) -> bool:
        return (
            self.model_state != "loading"
            and not self._indexing
            and not self._index_queue
            and not self._searching
            and self._pending_query is None
            and self.results_model.thumbnails_pending() == 0
        )

    def _check_settled(self, *args) -> None:
        if self.is_settled():
            QTimer.singleShot(0, self._emit_if_settled)

    def _emit_if_settled(self) -> None:
        if self.is_settled():
            self.settled.emit()

    def shutdown(self) -> None:
        """Cancel jobs, stop the threads and wait for them; idempotent."""
        self.index_worker.cancel()
        self._index_queue.clear()
        self.thumbnails.clear()
        for thread in (self.index_thread, self.search_thread):
            thread.quit()
        for thread in (self.index_thread, self.search_thread):
            thread.wait()
        self.thumbnails.wait(10_000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/splitter", self.splitter.saveState())
        self.shutdown()
        event.accept()
