"""The settings dialog: edits a copy of :class:`Settings` and saves it on OK."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from image_finder.core.models import DEVICES, MODELS
from image_finder.core.settings import Settings

DEVICE_LABELS = {
    "auto": "Automatic (GPU when available)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
}


class SettingsDialog(QDialog):
    def __init__(
        self, settings: Settings, library_model: str | None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._library_model = library_model
        self._original = settings

        self.model = QComboBox()
        for spec in MODELS.values():
            self.model.addItem(spec.title, spec.name)
        self.model.setCurrentIndex(max(0, self.model.findData(settings.model)))
        self.model_warning = QLabel()
        self.model_warning.setWordWrap(True)
        self.model_warning.setStyleSheet("color: #b9770e;")
        self.weights = QLineEdit(settings.weights)
        self.weights.setPlaceholderText("Automatic (download once, then cached)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)

        self.device = QComboBox()
        for name in DEVICES:
            self.device.addItem(DEVICE_LABELS[name], name)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))

        self._build_search_fields(settings)

        form = QFormLayout()
        form.addRow("Model:", self.model)
        form.addRow("", self.model_warning)
        form.addRow("Weights file:", weights_row)
        form.addRow("Device:", self.device)
        form.addRow("Regions searched (nprobe):", self.nprobe)
        form.addRow("Results per search:", self.top_k)
        form.addRow("Thumbnail size:", self.thumbnail_size)
        form.addRow("", self.rotations)
        form.addRow("", self.crops)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.model.currentIndexChanged.connect(self._update_warning)
        self._update_warning()

    def _build_search_fields(self, settings: Settings) -> None:
        self.nprobe = QSpinBox()
        self.nprobe.setRange(0, 4096)
        self.nprobe.setSpecialValueText("Automatic")
        self.nprobe.setValue(settings.nprobe)
        self.nprobe.setToolTip(
            "Regions searched in large libraries: higher finds more of the true nearest images, "
            "lower is faster. Automatic is calibrated for 95% recall."
        )
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 1000)
        self.top_k.setValue(settings.top_k)
        self.thumbnail_size = QSpinBox()
        self.thumbnail_size.setRange(64, 512)
        self.thumbnail_size.setSingleStep(16)
        self.thumbnail_size.setSuffix(" px")
        self.thumbnail_size.setValue(settings.thumbnail_size)
        self.rotations = QCheckBox("Also find rotated and mirrored copies (slower searches)")
        self.rotations.setChecked(settings.rotations)
        self.crops = QCheckBox("Also find the pictures a query was cropped from (slower searches)")
        self.crops.setChecked(settings.crops)

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a weights file", "", "Weights (*.pth *.pt *.bin *.safetensors)"
        )
        if path:
            self.weights.setText(path)

    def model_changed(self) -> bool:
        """True when the chosen model differs from the one the library was indexed with."""
        chosen = self.model.currentData()
        return bool(self._library_model) and chosen != self._library_model

    def _update_warning(self) -> None:
        if self.model_changed():
            self.model_warning.setText(
                "The library was indexed with another model. Changing it re-indexes every "
                "image, which can take a long time."
            )
            self.model_warning.show()
        else:
            self.model_warning.hide()

    def settings(self) -> Settings:
        return dataclasses.replace(
            self._original,
            model=self.model.currentData(),
            weights=self.weights.text().strip(),
            device=self.device.currentData(),
            nprobe=self.nprobe.value(),
            top_k=self.top_k.value(),
            thumbnail_size=self.thumbnail_size.value(),
            rotations=self.rotations.isChecked(),
            crops=self.crops.isChecked(),
        ).validated()
