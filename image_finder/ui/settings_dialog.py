"""The settings dialog: edits a copy of :class:`Settings`; the window saves it on OK."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
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

from image_finder.core.app.models import DEFAULT_CLIP
from image_finder.core.config.settings import MIN_MOMENT_SECONDS, Settings
from image_finder.core.embedding.models import DEVICES, MODELS, PRECISIONS

DEVICE_LABELS = {
    "auto": "Automatic (GPU when available, else the CPU)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
}
DEVICE_NAMES = {"cpu": "the CPU", "cuda": "the NVIDIA GPU (CUDA)", "mps": "the Apple GPU (MPS)"}
PRECISION_LABELS = {
    "auto": "Automatic (fastest that keeps the rankings, checked on your photos)",
    "fp32": "fp32 (full precision)",
    "bf16": "bf16 (16-bit; faster only where the processor has bf16 instructions)",
    "int8": "int8 (8-bit, CPU only; faster on some processors, slower on others)",
}


class SettingsDialog(QDialog):
    """``model_in_use``: the model the library is searched with now (it may be the bundled one
    standing in for the one the settings ask for, and ``fallback_reason`` then says why).
    ``unavailable``: devices that are not present, with the reason."""

    def __init__(
        self,
        settings: Settings,
        model_in_use: str | None,
        parent: QWidget | None = None,
        *,
        fallback_reason: str = "",
        unavailable: Mapping[str, str] | None = None,
        precision_in_use: tuple[str, str] | None = None,
        device_in_use: str | None = None,
        adapt: Callable[[], object] | None = None,
        adapter_state: str = "",
    ):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._in_use = model_in_use or settings.model
        self._original = settings
        self._build_model_fields(settings, fallback_reason)
        self._build_device_field(settings, unavailable or {})
        self.device_note = QLabel(
            f"In use: {DEVICE_NAMES.get(device_in_use, device_in_use)}." if device_in_use else ""
        )
        self.device_note.setVisible(bool(device_in_use))
        self._build_precision_field(settings, precision_in_use)
        self.text_model = QComboBox()
        self.text_model.addItem("ImageNet's 1,000 classes and the groups above them", "")
        self.text_model.addItem(
            "Any words: CLIP ViT-B/32 (downloads about 600 MB once)", DEFAULT_CLIP
        )
        self.text_model.setCurrentIndex(max(0, self.text_model.findData(settings.text_model)))
        self.text_model.setToolTip(
            "With CLIP, any phrase works (“a dog on a beach”), and an image can be changed "
            "by words; the library's pictures are indexed once more for it."
        )
        self._build_search_fields(settings)

        form = QFormLayout()
        form.addRow("Model:", self.model)
        form.addRow("", self.model_note)
        form.addRow("", self.model_warning)
        form.addRow("Weights file:", self._weights_row)
        form.addRow("Device:", self.device)
        form.addRow("", self.device_note)
        form.addRow("Precision:", self.precision)
        form.addRow("", self.precision_note)
        form.addRow("Search by words with:", self.text_model)
        form.addRow("Search breadth (large libraries):", self.nprobe)
        form.addRow("Results per search:", self.top_k)
        form.addRow("Thumbnail size:", self.thumbnail_size)
        form.addRow("", self.rotations)
        form.addRow("", self.crops)
        form.addRow("", self.resume)
        form.addRow("", self.watch)
        form.addRow("A video's moments, at least every:", self.moment_seconds)
        form.addRow("", self.every_moment)
        self._add_adapt_row(form, adapt, adapter_state)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(self.restore_defaults)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.model.currentIndexChanged.connect(self._on_model_changed)
        self._on_model_changed()

    def _add_adapt_row(
        self, form: QFormLayout, adapt: Callable[[], object] | None, state: str
    ) -> None:
        self.adapt = QPushButton("Adapt to my pictures…")
        self.adapt.setToolTip("Tune the features on folders of labelled pictures")
        self.adapt.setVisible(adapt is not None)
        if adapt is not None:
            self.adapt.clicked.connect(adapt)
        self.adapter_state = QLabel(state)
        self.adapter_state.setWordWrap(True)
        form.addRow("Domain:", self.adapt)
        form.addRow("", self.adapter_state)

    def _build_model_fields(self, settings: Settings, fallback_reason: str) -> None:
        self.model = QComboBox()
        for spec in MODELS.values():
            self.model.addItem(spec.title, spec.name)
        self.model.setCurrentIndex(max(0, self.model.findData(self._in_use)))
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        wanted = MODELS.get(settings.model)
        in_use = MODELS.get(self._in_use or "")
        if fallback_reason and wanted is not None and settings.model != self._in_use:
            self.model_note.setText(
                f"In use: {MODELS[self._in_use].title}, because {fallback_reason}. To use "
                f"{wanted.title}, connect to the internet once (its weights are then kept), or "
                f"select {wanted.title} above, then its weights file below."
            )
        elif in_use is not None and in_use.name != settings.model:
            self.model_note.setText(
                f"In use: {in_use.title}, the model this library was indexed with (vectors of "
                "two models cannot be compared)."
            )
        elif in_use is not None and in_use.bundled_weights:
            self.model_note.setText(
                f"In use: {in_use.title}, as chosen here; its weights come with Image Finder, "
                "so it works without a download."
            )
        else:
            self.model_note.hide()
        self.model_warning = QLabel()
        self.model_warning.setWordWrap(True)
        self.model_warning.setStyleSheet("color: #b9770e;")
        self.weights = QLineEdit(settings.weights)
        self.weights.setPlaceholderText("Automatic (download once, then kept)")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.addWidget(self.weights, 1)
        row.addWidget(self.browse)
        self._weights_row = row

    def _build_device_field(self, settings: Settings, unavailable: Mapping[str, str]) -> None:
        self.device = QComboBox()
        items = self.device.model()
        assert isinstance(items, QStandardItemModel)
        for row, name in enumerate(DEVICES):
            self.device.addItem(DEVICE_LABELS[name], name)
            if name in unavailable:
                item = items.item(row)
                item.setEnabled(False)
                item.setText(f"{DEVICE_LABELS[name]} – {unavailable[name]}")
                item.setData(unavailable[name], Qt.ItemDataRole.ToolTipRole)
        chosen = settings.device if settings.device not in unavailable else "auto"
        self.device.setCurrentIndex(max(0, self.device.findData(chosen)))

    def _build_precision_field(self, settings: Settings, in_use: tuple[str, str] | None) -> None:
        self.precision = QComboBox()
        for name in PRECISIONS:
            self.precision.addItem(PRECISION_LABELS[name], name)
        self.precision.setCurrentIndex(max(0, self.precision.findData(settings.precision)))
        self.precision_note = QLabel()
        self.precision_note.setWordWrap(True)
        if in_use:
            precision, reason = in_use
            self.precision_note.setText(f"In use: {precision} ({reason}).")
        else:
            self.precision_note.hide()

    def _build_search_fields(self, settings: Settings) -> None:
        self.nprobe = QSpinBox()
        self.nprobe.setRange(0, 4096)
        self.nprobe.setSpecialValueText("Automatic")
        self.nprobe.setValue(settings.nprobe)
        self.nprobe.setToolTip(
            "How many groups of similar images a search looks through in libraries of 20,000 "
            "images or more: more finds more of the truly closest images, fewer is faster. "
            "Automatic is measured on your library to find 95% of them."
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
        self.resume = QCheckBox("Continue interrupted indexing when Image Finder starts")
        self.resume.setChecked(settings.resume_interrupted)
        self.watch = QCheckBox("Watch the library's folders: index new and changed pictures")
        self.watch.setChecked(settings.watch_folders)
        self.moment_seconds = QSpinBox()
        self.moment_seconds.setObjectName("momentSeconds")
        self.moment_seconds.setRange(int(MIN_MOMENT_SECONDS), 600)
        self.moment_seconds.setSuffix(" s")
        self.moment_seconds.setValue(round(settings.moment_seconds))
        self.moment_seconds.setToolTip(
            "A video keeps a moment at every change of scene, and at least this often. "
            "Videos indexed before a change keep their moments until indexed again."
        )
        self.every_moment = QCheckBox("List every matching moment of a video, not the video once")
        self.every_moment.setChecked(settings.every_moment)

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a weights file", "", "Weights (*.pth *.pt *.bin *.safetensors)"
        )
        if path:
            self.weights.setText(path)

    def model_changed(self) -> bool:
        """True when the chosen model differs from the one in use."""
        return bool(self.model.currentData() != self._in_use)

    def _on_model_changed(self) -> None:
        bundled = MODELS[self.model.currentData()].bundled_weights
        for widget in (self.weights, self.browse):
            widget.setEnabled(not bundled)
            widget.setToolTip("This model's weights come with Image Finder." if bundled else "")
        self.weights.setPlaceholderText(
            "Comes with Image Finder (nothing to download)"
            if bundled
            else "Automatic (download once, then kept)"
        )
        if self.model_changed():
            self.model_warning.setText(
                "Vectors of two models cannot be compared: choosing this model indexes every "
                "image again, which can take a long time."
            )
            self.model_warning.show()
        else:
            self.model_warning.hide()

    def restore_defaults(self) -> None:
        """Every field back to its default; the model stays (changing it means indexing
        everything again)."""
        default = Settings()
        self.weights.clear()
        self.device.setCurrentIndex(self.device.findData(default.device))
        self.precision.setCurrentIndex(self.precision.findData(default.precision))
        self.text_model.setCurrentIndex(self.text_model.findData(default.text_model))
        self.nprobe.setValue(default.nprobe)
        self.top_k.setValue(default.top_k)
        self.thumbnail_size.setValue(default.thumbnail_size)
        self.rotations.setChecked(default.rotations)
        self.crops.setChecked(default.crops)
        self.resume.setChecked(default.resume_interrupted)
        self.watch.setChecked(default.watch_folders)
        self.moment_seconds.setValue(round(default.moment_seconds))
        self.every_moment.setChecked(default.every_moment)

    def settings(self) -> Settings:
        """The edited settings. The model in use left as it is keeps the settings' own choice
        (a model that could not be loaded is tried again next time)."""
        return dataclasses.replace(
            self._original,
            model=self.model.currentData() if self.model_changed() else self._original.model,
            weights=self.weights.text().strip(),
            device=self.device.currentData(),
            precision=self.precision.currentData(),
            text_model=self.text_model.currentData(),
            nprobe=self.nprobe.value(),
            top_k=self.top_k.value(),
            thumbnail_size=self.thumbnail_size.value(),
            rotations=self.rotations.isChecked(),
            crops=self.crops.isChecked(),
            resume_interrupted=self.resume.isChecked(),
            watch_folders=self.watch.isChecked(),
            moment_seconds=float(self.moment_seconds.value()),
            every_moment=self.every_moment.isChecked(),
        ).validated()
