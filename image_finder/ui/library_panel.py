"""The library panel: the indexed folders, adding, removing and re-scanning them, and the
progress of the indexing job."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from image_finder import text
from image_finder.core.common.records import FolderInfo, display_name
from image_finder.core.indexing.indexer import IndexPhase, IndexProgress, IndexReport
from image_finder.ui.controller import Controller, ModelState
from image_finder.ui.drop_zone import local_path

MAX_RECENT_FOLDERS = 10
MAX_SKIPPED_SHOWN = 20


class LibraryPanel(QWidget):
    sort_requested = Signal(str, str)  # folder, concept: its pictures, most likely first

    def __init__(
        self, controller: Controller, qsettings: QSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.qsettings = qsettings

        self.folder_list = QListWidget()
        self.folder_list.setAccessibleName("Indexed folders")
        self.folder_list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.folder_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.folder_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.folder_list.itemSelectionChanged.connect(self._update_buttons)
        self.folder_list.itemActivated.connect(self._on_folder_list_item_activated)
        self.folder_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.folder_list.customContextMenuRequested.connect(self._on_folder_list_context_menu)
        self.setAcceptDrops(True)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take the selected folder out of the library (files stay)")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.rescan_button = QPushButton("Re-scan")
        self.rescan_button.setToolTip("Pick up new, changed, moved and deleted images (F5)")
        self.rescan_button.clicked.connect(controller.rescan)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.rescan_button):
            buttons.addWidget(button)

        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        progress_layout = QVBoxLayout(self.progress_box)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addLayout(progress_row)
        progress_layout.addWidget(self.progress_label)
        self.progress_box.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Library</b>"))
        layout.addWidget(self.folder_list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_box)

        controller.library_changed.connect(self._refresh)
        controller.indexing_changed.connect(self._on_controller_indexing_changed)
        controller.index_progress.connect(self._on_controller_index_progress)
        controller.index_finished.connect(self._on_controller_index_finished)
        controller.model_state_changed.connect(self._update_buttons)
        self._refresh()

    # -- folders ------------------------------------------------------------------------------

    def _refresh(self) -> None:
        selected = self.selected_folder()
        self.folder_list.clear()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        for folder in self.controller.folders:
            summary = text.folder_summary(folder, self.controller.indexing)
            mode = self.controller.watch_mode(folder.path)
            if mode is not None and folder.online:
                summary += f" · {mode.value}"
            item = QListWidgetItem(icon, f"{text.home_path(folder.path)}\n{summary}")
            item.setData(Qt.ItemDataRole.UserRole, folder.path)
            item.setToolTip(
                f"{display_name(folder.path)}\n{summary}"
                + ("\nThe folder is offline; its images are kept." if not folder.online else "")
                + (
                    "\nIndexing did not finish: double-click to resume it."
                    if not folder.complete and not self.controller.indexing
                    else ""
                )
            )
            if not folder.online:
                item.setForeground(self.palette().placeholderText())
            self.folder_list.addItem(item)
            if folder.path == selected:
                item.setSelected(True)
        self._update_buttons()

    def folder(self, path: str) -> FolderInfo | None:
        return next((f for f in self.controller.folders if f.path == path), None)

    def _on_folder_list_item_activated(self, item: QListWidgetItem) -> None:
        info = self.folder(str(item.data(Qt.ItemDataRole.UserRole)))
        if info is not None and not info.complete:
            self.controller.resume([info.path])

    def _on_folder_list_context_menu(self, pos: QPoint) -> None:
        item = self.folder_list.itemAt(pos)
        info = self.folder(str(item.data(Qt.ItemDataRole.UserRole))) if item else None
        if info is None:
            return
        ready = self.controller.model_state is ModelState.READY and not self.controller.indexing
        menu = QMenu(self)
        if not info.complete:
            menu.addAction("Resume indexing", lambda: self.controller.resume([info.path]))
        menu.addAction("Re-scan this folder", lambda: self.controller.add_folders([info.path]))
        for action in menu.actions():
            action.setEnabled(ready)
        names = self.controller.learning.concept_names()
        if names:  # the folder's pictures, most likely to show the concept first
            sort = menu.addMenu("Sort by concept")
            sort.setEnabled(self.controller.model_state is ModelState.READY)
            for name in names:
                sort.addAction(name, partial(self.sort_requested.emit, info.path, name))
        menu.addSeparator()
        menu.addAction("Remove from the library…", self._on_remove_button_clicked)
        menu.exec(self.folder_list.viewport().mapToGlobal(pos))

    # folders dropped from a file manager are added
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(os.path.isdir(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [local_path(u) for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [f for f in folders if os.path.isdir(f)]
        if folders:
            self.add_folders(folders)
            event.acceptProposedAction()

    def selected_folder(self) -> str | None:
        items = self.folder_list.selectedItems()
        return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_folder() is not None)
        ready = self.controller.model_state is ModelState.READY
        self.rescan_button.setEnabled(
            bool(self.controller.folders) and ready and not self.controller.indexing
        )

    def choose_folder(self) -> None:
        recent = self.recent_folders()
        start = recent[0] if recent else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", start)
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        for folder in folders:
            self._remember_folder(os.path.abspath(folder))
        self.controller.add_folders(folders)

    def recent_folders(self) -> list[str]:
        value = self.qsettings.value("recent_folders", [])
        if isinstance(value, str):  # QSettings gives a lone string for a one-item list
            return [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def _remember_folder(self, folder: str) -> None:
        recent = [folder] + [f for f in self.recent_folders() if f != folder]
        self.qsettings.setValue("recent_folders", recent[:MAX_RECENT_FOLDERS])

    def _on_remove_button_clicked(self) -> None:
        folder = self.selected_folder()
        if folder is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove folder",
            f"Take {display_name(folder)} out of the library?\n\nThe images stay on disk; "
            "only their entries in Image Finder are removed.",
            parent=self,
        )
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is remove:
            self.controller.housekeeping.remove_folder(folder)

    # -- indexing -----------------------------------------------------------------------------

    def _on_controller_indexing_changed(self, running: bool) -> None:
        self.progress_box.setVisible(running)
        self._refresh()
        if running:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText("Scanning…")
            self.cancel_button.setEnabled(True)
        self._update_buttons()

    def _on_cancel_button_clicked(self) -> None:
        self.controller.cancel_indexing()
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Stopping after the current batch…")

    def _on_controller_index_progress(self, progress: IndexProgress) -> None:
        if not self.cancel_button.isEnabled():
            return  # "Stopping…" stays until the job ends
        counted = (
            progress.phase
            in (IndexPhase.EMBEDDING, IndexPhase.LAYOUTS, IndexPhase.FACTS, IndexPhase.TEXT)
            and progress.total
        )
        if counted:
            self.progress_bar.setRange(0, progress.total)
            self.progress_bar.setValue(progress.done)
            self.progress_bar.setFormat(f"{progress.done:,} / {progress.total:,}")
        elif progress.phase in (IndexPhase.SCANNING, IndexPhase.CHECKING):
            self.progress_bar.setRange(0, 0)
        self.progress_label.setText(text.progress_line(progress))

    def _on_controller_index_finished(self, report: IndexReport) -> None:
        if not report.skipped:
            return
        details = "\n".join(
            f"{display_name(s.path)}: {s.reason}" for s in report.skipped[:MAX_SKIPPED_SHOWN]
        )
        more = len(report.skipped) - MAX_SKIPPED_SHOWN
        self.folder_list.setToolTip(
            "Skipped files:\n" + details + (f"\n… and {more:,} more" if more > 0 else "")
        )
