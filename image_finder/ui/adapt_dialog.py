"""Settings ▸ Adapt to my pictures…: tune the library on labelled folders (each sub-folder a
label) or on the saved concepts, see the held-out figures before and after, and switch between
the adapted and the original features."""

from __future__ import annotations

import time

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from image_finder.core.common.records import display_name
from image_finder.ui.learning import Learning

INTRO = (
    "Teach Image Finder what tells your pictures apart. Give a folder whose sub-folders each "
    "hold one kind of picture (a species, a product line, a style), or use your saved "
    "concepts. A projection of the stored features is trained on 80% of each kind and "
    "measured on the other 20%; it is applied only if it finds those pictures better. Nothing "
    "is indexed again, and the original features stay."
)


class AdaptDialog(QDialog):
    def __init__(self, learning: Learning, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adapt to my pictures")
        self.learning = learning
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.from_folders = QRadioButton("Labels from the sub-folders of:")
        self.from_folders.setChecked(True)
        self.root = QLineEdit()
        self.root.setPlaceholderText("a folder of the library whose sub-folders are the labels")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose)
        names = learning.concept_names()
        self.from_concepts = QRadioButton(
            f"Labels from the saved concepts ({', '.join(names)})" if names
            else "Labels from the saved concepts (none yet)"
        )  # fmt: skip
        self.from_concepts.setEnabled(len(names) >= 2)
        self.start = QPushButton("Train and measure")
        self.start.setDefault(True)
        self.start.clicked.connect(self.run)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(learning.cancel_tuning)
        self.cancel.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setObjectName("adaptOutcome")
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.original = QCheckBox("Use original features")
        self.original.setToolTip("Search with the model's own features; the adapter is kept")
        self.original.toggled.connect(lambda on: learning.use_adapter(not on))
        self._lay_out(intro, browse)
        learning.tune_progress.connect(self._on_progress)
        learning.tune_done.connect(self._on_done)
        learning.failed.connect(self._on_failed)
        learning.adapter_changed.connect(self.show_state)
        self.resize(560, 0)
        self.show_state()

    def _lay_out(self, intro: QLabel, browse: QPushButton) -> None:
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        root_row = QHBoxLayout()
        root_row.addWidget(self.root, 1)
        root_row.addWidget(browse)
        run_row = QHBoxLayout()
        run_row.addWidget(self.start)
        run_row.addWidget(self.cancel)
        run_row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.from_folders)
        layout.addLayout(root_row)
        layout.addWidget(self.from_concepts)
        layout.addLayout(run_row)
        widgets: tuple[QWidget, ...] = (self.outcome, self.state, self.original, buttons)
        for widget in widgets:
            layout.addWidget(widget)

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of labelled sub-folders")
        if folder:
            self.root.setText(folder)

    def run(self) -> None:
        root = self.root.text().strip() if self.from_folders.isChecked() else ""
        if self.from_folders.isChecked() and not root:
            self.outcome.setText("Choose the folder whose sub-folders are the labels.")
            return
        self.start.setEnabled(False)
        self.cancel.show()
        self.progress.show()
        self.progress.setRange(0, 0)
        self.outcome.setText("Training…")
        self.learning.tune(root)

    def _on_progress(self, phase: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.outcome.setText("Training…" if phase == "training" else "Applying to every picture…")

    def _finish(self) -> None:
        self.start.setEnabled(True)
        self.cancel.hide()
        self.progress.hide()

    def _on_done(self, report: object) -> None:
        from image_finder.core.learning.adapter import TuneReport

        assert isinstance(report, TuneReport)
        self._finish()
        figures = (
            f"{len(report.labels)} labels, {report.trained_on:,} pictures trained on, "
            f"{report.held_out:,} held out. Finding the held-out pictures' kind (mAP@R): "
            f"{report.map_before:.3f} before, {report.map_after:.3f} after "
            f"({report.gain:+.3f}), trained in {report.seconds:.0f} s."
        )
        if report.applied:
            outcome = "Applied: the library is now searched through the adapter."
        else:
            outcome = f"Not applied: {report.reason}."
        skipped = (f" Left out (fewer than 5 pictures): {', '.join(report.skipped)}."
                   if report.skipped else "")  # fmt: skip
        self.outcome.setText(f"{figures}\n{outcome}{skipped}")
        self.show_state()

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.outcome.setText(message)

    def show_state(self) -> None:
        adapter = self.learning.adapter
        self.original.setVisible(adapter is not None)
        if adapter is None:
            self.state.setText("This library has no adapter: it is searched with the model's "
                               "own features.")  # fmt: skip
            return
        when = time.strftime("%Y-%m-%d", time.localtime(adapter.created))
        labels = ", ".join(display_name(n) for n in adapter.labels[:6])
        more = f" and {len(adapter.labels) - 6} more" if len(adapter.labels) > 6 else ""
        self.state.setText(
            f"Adapter of {when}: {len(adapter.labels)} labels ({labels}{more}); held-out mAP@R "
            f"{adapter.map_before:.3f} → {adapter.map_after:.3f}. "
            + ("Searched now." if adapter.active else "Kept; the original features are searched.")
        )
        self.original.blockSignals(True)
        self.original.setChecked(not adapter.active)
        self.original.blockSignals(False)
