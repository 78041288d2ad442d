"""The About dialog and the application icon."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QMessageBox, QWidget

from image_finder import APP_NAME, __version__

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    icon = QIcon()
    folder = importlib.resources.files("image_finder.resources").joinpath("icons")
    for size in ICON_SIZES:
        data = folder.joinpath(f"image-finder-{size}.png").read_bytes()
        pixmap = QPixmap()
        pixmap.loadFromData(data, "PNG")
        icon.addPixmap(pixmap)
    return icon


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(device: str | None) -> list[tuple[str, str]]:
    """What the About dialog lists; read from package metadata (nothing heavy is imported)."""
    return [
        (APP_NAME, __version__),
        ("PyTorch", _version("torch")),
        ("timm", _version("timm")),
        ("FAISS", _version("faiss-cpu")),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
        ("Python", platform.python_version()),
        ("Device", device or "the model is loading"),
    ]


def show_about(parent: QWidget, device: str | None) -> QMessageBox:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in versions(device))
    box = QMessageBox(parent)
    box.setWindowTitle(f"About {APP_NAME}")
    box.setIconPixmap(app_icon().pixmap(96, 96))
    box.setText(
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Finds visually similar images in your folders, on your own computer.</p>"
        f"<table>{rows}</table>"
    )
    box.open()
    return box
