"""Export options: format (PNG, TIFF, JPEG), bit depth, JPEG quality, destination."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledSlider

FORMATS = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg"}


@dataclass(frozen=True)
class ExportOptions:
    """Where and how to write: ``bit_depth`` 8 or 16 (JPEG is always 8)."""

    path: Path
    bit_depth: int
    quality: int


def suggest_path(source: Path | None, folder: Path | None, suffix: str = ".png") -> Path:
    """``<name>-restored<suffix>`` next to the source (never the source itself)."""
    stem = source.stem if source is not None else "untitled"
    base = folder or (source.parent if source is not None else Path.home())
    return base / f"{stem}-restored{suffix}"


class ExportDialog(QDialog):
    """Collects ExportOptions; :meth:`options` reads them after ``exec()``."""

    def __init__(self, suggested: Path, bit_depth: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export result")
        self.setMinimumWidth(520)
        self.format = QComboBox(self)
        self.format.addItems(list(FORMATS))
        self.depth_combo = QComboBox(self)
        self.depth_combo.addItems(["8-bit", "16-bit"])
        self.depth_combo.setCurrentIndex(1 if bit_depth == 16 else 0)
        self.quality = QLabeledSlider(Qt.Orientation.Horizontal, self)
        self.quality.setRange(1, 100)
        self.quality.setValue(92)
        self.path = QLineEdit(str(suggested), self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        suffix = suggested.suffix.lower()
        for name, ext in FORMATS.items():
            if suffix in (
                ext,
                ".tiff" if ext == ".tif" else ext,
                ".jpeg" if ext == ".jpg" else ext,
            ):
                self.format.setCurrentText(name)
        self.format.currentTextChanged.connect(self._on_format)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Bit depth", self.depth_combo)
        form.addRow("JPEG quality", self.quality)
        form.addRow("File", row)
        note = QLabel(
            "The original's colour profile and EXIF are kept. An existing file is "
            "never replaced without asking; the original never.",
            self,
        )
        note.setWordWrap(True)
        note.setObjectName("hint")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self._on_format(self.format.currentText())

    def _on_format(self, name: str) -> None:
        jpeg = name == "JPEG"
        self.quality.setEnabled(jpeg)
        self.depth_combo.setEnabled(not jpeg)
        if jpeg:
            self.depth_combo.setCurrentIndex(0)
        path = Path(self.path.text())
        self.path.setText(str(path.with_suffix(FORMATS[name])))

    def _browse(self) -> None:
        ext = FORMATS[self.format.currentText()]
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.path.text(), f"{self.format.currentText()} (*{ext})"
        )
        if chosen:
            self.path.setText(chosen)

    def options(self) -> ExportOptions:
        depth = 16 if self.depth_combo.currentIndex() == 1 and self.depth_combo.isEnabled() else 8
        return ExportOptions(Path(self.path.text()), depth, int(self.quality.value()))
