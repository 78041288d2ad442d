"""Application start-up: arguments, logging, Qt message routing, error dialogs, the window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import (
    QCoreApplication,
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QMessageBox

from image_finder import APP_ID, APP_NAME, __version__
from image_finder.core.common import paths
from image_finder.core.common.errors import ImageFinderError, LibraryDamagedError
from image_finder.core.common.heap import keep_freed_blocks
from image_finder.core.common.logsetup import log_file, setup_logging
from image_finder.core.config.settings import Settings
from image_finder.core.stores.backup import recovery_facts, restore_backup
from image_finder.core.stores.library import BACKUP_NAME, Library

log = logging.getLogger("image_finder.ui")
qt_log = logging.getLogger("image_finder.qt")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-finder", description="Find visually similar images."
    )
    parser.add_argument(
        "folders", nargs="*", metavar="FOLDER", help="folders to add (indexed if needed)"
    )
    parser.add_argument("--query", metavar="IMAGE", help="search with this image once ready")
    parser.add_argument("--data-dir", metavar="DIR", help="library folder")
    parser.add_argument(
        "--screenshot",
        metavar="PATH",
        help="save a PNG of the window once all work has settled, then exit",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _qt_message_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(mode, logging.WARNING)
    qt_log.log(level, "%s (%s:%s)", message, context.file, context.line)


def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """Log an unexpected exception and show it; the app keeps running."""
    if issubclass(kind, KeyboardInterrupt):
        QApplication.quit()
        return
    log.error("unexpected error", exc_info=(kind, value, tb))
    app = QApplication.instance()
    if app is None or os.environ.get("IMAGE_FINDER_NO_ERROR_DIALOG"):
        traceback.print_exception(kind, value, tb)
        return
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        f"{APP_NAME} – unexpected error",
        f"Something went wrong: {value}",
    )
    box.setInformativeText(f"The details are in the log file:\n{log_file()}")
    box.setDetailedText("".join(traceback.format_exception(kind, value, tb)))
    box.exec()


def create_application(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    QCoreApplication.setOrganizationName("image-finder")
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setApplicationVersion(__version__)
    QApplication.setDesktopFileName(APP_ID)
    from image_finder.ui.about import app_icon

    QApplication.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging()
    keep_freed_blocks()  # before any thread: the model's batches reuse memory
    log.info("image-finder %s starting", __version__)
    qInstallMessageHandler(_qt_message_handler)
    app = create_application(sys.argv[:1])
    sys.excepthook = excepthook

    from image_finder.ui.main_window import MainWindow

    folder = paths.data_dir(args.data_dir)
    try:
        library = Library(folder)
    except LibraryDamagedError as exc:
        if not offer_restore(folder, str(exc)):
            return 1
        library = Library(folder)
    except ImageFinderError as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 1
    settings = Settings.load()
    window = MainWindow(library, settings, QSettings())
    window.show()
    if args.folders:
        window.add_folders(args.folders)
    if args.query:
        window.search_file(args.query)
    exit_code = 0
    if args.screenshot:
        target = args.screenshot

        def save_and_quit() -> None:
            window.settled.disconnect(save_and_quit)
            QTimer.singleShot(300, lambda: _save_screenshot(window, target, app))

        window.settled.connect(save_and_quit)
        window.controller.check_settled()
    try:
        exit_code = app.exec()
    finally:
        window.shutdown()
        library.close()
    return exit_code


def offer_restore(folder: os.PathLike[str] | str, message: str) -> bool:
    """Tell the user the database is damaged; restore the backup if there is one and they
    agree. Returns True once a usable library is in place."""
    log.error("library damaged: %s", message)
    has_backup = (Path(folder) / BACKUP_NAME).exists()
    box = QMessageBox(QMessageBox.Icon.Critical, APP_NAME, "The library cannot be opened.")
    facts = recovery_facts(folder).summary() if has_backup else ""
    box.setInformativeText(message + ("\n\n" + facts if facts else ""))
    restore = (
        box.addButton("Restore backup", QMessageBox.ButtonRole.AcceptRole) if has_backup else None
    )
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if restore is None or box.clickedButton() is not restore:
        return False
    try:
        kept = restore_backup(folder)
    except ImageFinderError as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return False
    QMessageBox.information(
        None,
        APP_NAME,
        f"The backup was restored. The damaged database was kept as {kept}. Re-scan your "
        "folders to pick up what changed since the backup.",
    )
    return True


def _save_screenshot(window, target: str, app: QApplication) -> None:
    app.processEvents()
    ok = window.grab().save(target, "PNG")
    log.info("screenshot saved to %s: %s", target, ok)
    if not ok:
        print(f"image-finder: could not write {target}", file=sys.stderr)
    window.close()
    app.exit(0 if ok else 1)
