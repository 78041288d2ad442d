"""What the desktop does with a result: open it, show it in the file manager, copy it."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QObject, QProcess, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication

from image_finder.core.common.records import display_name

MESSAGE_MS = 8000
# players that start a video at a time, and how they are told it
PLAYERS = (("mpv", "--start={:.2f}"), ("vlc", "--start-time={:.2f}"))
# document viewers that open at a page: the option and its number
VIEWERS = (("evince", "-i"), ("okular", "-p"), ("zathura", "-P"))
_on_clipboard: list[QMimeData] = []  # the data this process put there, while it may be there


def _hand_over_clipboard() -> None:
    """Before the interpreter ends: data a Python object made, still on the clipboard, would be
    freed by Qt only after Python is gone (a crash at exit). A copy Qt makes itself, of the
    text, stays on the clipboard instead; data someone else put there is left alone."""
    if QGuiApplication.instance() is None or not _on_clipboard:
        return
    clipboard = QGuiApplication.clipboard()
    if clipboard.mimeData() is _on_clipboard[-1]:
        clipboard.setText(_on_clipboard[-1].text())
    _on_clipboard.clear()


def _own_clipboard(data: QMimeData) -> None:
    if not _on_clipboard:
        atexit.register(_hand_over_clipboard)
    _on_clipboard[:] = [data]
    QGuiApplication.clipboard().setMimeData(data)


class DesktopActions(QObject):
    """Open, reveal and copy. Says what happened (or why not) through ``message``."""

    message = Signal(str, int)  # text, milliseconds to show it

    def open_file(self, path: str) -> bool:
        if not os.path.exists(path):
            self.message.emit(f"{display_name(path)} is offline or was moved.", MESSAGE_MS)
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
            self.offer_copy(
                f"No application is set up to open {display_name(os.path.basename(path))}.", path
            )
            return False
        return True

    def play_from(self, path: str, seconds: float, label: str) -> bool:
        """Play a video from a moment: in mpv or VLC (which take a start time) when one is
        installed, else in the system's player, saying the time to go to."""
        choices = [(player, [start.format(seconds), path]) for player, start in PLAYERS]
        return self._open_at(path, choices, f"the moment is at {label}")

    def open_page(self, path: str, number: int, label: str) -> bool:
        """Open a document at a page: in evince, okular or zathura (which take a page) when
        one is installed, else in the system's viewer, saying the page to go to."""
        choices = [(viewer, [option, str(number), path]) for viewer, option in VIEWERS]
        return self._open_at(path, choices, f"the result is on {label}")

    def open_saying(self, path: str, where: str) -> bool:
        """Open a file in the system's application, saying ``where`` in it to look."""
        return self._open_at(path, [], where)

    def _open_at(self, path: str, choices: list[tuple[str, list[str]]], where: str) -> bool:
        """Open ``path`` with the first of ``choices`` (a program, its arguments) installed,
        else with the system's application, saying ``where`` to go."""
        if not os.path.exists(path):
            self.message.emit(f"{display_name(path)} is offline or was moved.", MESSAGE_MS)
            return False
        for name, arguments in choices:
            program = shutil.which(name)
            if program and QProcess.startDetached(program, arguments)[0]:
                return True
        if not self.open_file(path):
            return False
        self.message.emit(f"Opened {display_name(os.path.basename(path))}: {where}.", MESSAGE_MS)
        return True

    def offer_copy(self, problem: str, path: str) -> None:
        """Say what could not be done, and offer the path to do it by hand."""
        from PySide6.QtWidgets import QMessageBox, QWidget

        parent = self.parent()
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Image Finder",
            problem,
            parent=parent if isinstance(parent, QWidget) else None,
        )
        box.setInformativeText(display_name(path))
        copy = box.addButton("Copy path", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.exec()
        if box.clickedButton() is copy:
            self.copy_paths([path])

    def reveal_file(self, path: str) -> bool:
        if not os.path.exists(path):
            self.message.emit(f"{display_name(path)} is offline or was moved.", MESSAGE_MS)
            return False
        started: object
        if sys.platform == "win32":
            started = QProcess.startDetached("explorer", ["/select,", os.path.normpath(path)])
        elif sys.platform == "darwin":
            started = QProcess.startDetached("open", ["-R", path])
        elif shutil.which("dbus-send"):
            url = QUrl.fromLocalFile(path).toString()
            started = QProcess.startDetached(
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
            started = QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
        ok = started[0] if isinstance(started, tuple) else bool(started)
        if not ok:
            self.offer_copy("No file manager could be started to show the file.", path)
        return ok

    def copy_paths(self, paths: Sequence[str], mime: QMimeData | None = None) -> None:
        if not paths:
            return
        data = mime or QMimeData()
        data.setText("\n".join(display_name(p) for p in paths))
        _own_clipboard(data)
        self.message.emit(
            "Copied the path" if len(paths) == 1 else f"Copied {len(paths):,} paths", 4000
        )

    def copy_image(self, path: str) -> None:
        try:
            from image_finder.core.pictures.images import load_image
            from image_finder.ui.thumbnails import pil_to_qimage

            image = pil_to_qimage(load_image(path))
        except Exception as exc:
            self.message.emit(f"Cannot copy the image: {exc}", MESSAGE_MS)
            return
        QGuiApplication.clipboard().setImage(image)
        self.message.emit("Image copied", 4000)
