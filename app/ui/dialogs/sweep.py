"""Sweep sheet: a grid of restorations of the visible region over one latent parameter.

Cells share zoom and pan (scroll or drag one, all follow). The sheet can be exported as
one image (:func:`app.ml.steering.views.contact_sheet`, labelled with the values). The
restorations run through the window's :class:`~app.ui.background.Background` runner, on
the model's device (a GPU sweep waits for the one GPU job at a time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core import image_io
from app.core.errors import PatinaError
from app.ml.steering.edit import STRENGTH_RANGE, LatentEdit
from app.ml.steering.views import contact_sheet
from app.ui.canvas.convert import rgb_image
from app.workers.function_job import device_of

PARAMS = {
    "strength": ("Strength", *STRENGTH_RANGE),
    **{f"gain{k}": (f"Gain of c{k}", 0.0, 3.0) for k in range(4)},
    **{f"offset{k}": (f"Offset of c{k}", -2.0, 2.0) for k in range(4)},
}


class CellView(QGraphicsView):
    """One cell: a picture with wheel zoom and drag pan; ``moved`` after either."""

    moved = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setMinimumSize(160, 120)
        self.caption = QLabel(self)
        self.caption.setStyleSheet("background: rgba(20,20,22,190); color: #eee; padding: 2px 5px;")
        self.item = QGraphicsPixmapItem()
        self.scene().addItem(self.item)
        self.horizontalScrollBar().valueChanged.connect(self.moved)
        self.verticalScrollBar().valueChanged.connect(self.moved)

    def set_picture(self, pixels: np.ndarray, caption: str) -> None:
        self.item.setPixmap(QPixmap.fromImage(rgb_image(pixels)))
        self.scene().setSceneRect(self.item.boundingRect())
        self.caption.setText(caption)
        self.caption.adjustSize()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        factor = 1.25 ** (event.angleDelta().y() / 120.0)
        self.scale(factor, factor)
        self.moved.emit()

    def centre(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())


class SweepDialog(QDialog):
    """Choose a parameter and values, run, look, export. ``finished_sweep`` after a run."""

    finished_sweep = Signal()

    def __init__(
        self,
        service: Any,
        crop: np.ndarray,
        edit: LatentEdit,
        background: Any,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Latent sweep sheet")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.service, self.crop, self.edit, self.background = service, crop, edit, background
        self.images: list[np.ndarray] = []
        self.labels: list[str] = []
        self.cells: list[CellView] = []
        self._syncing = False
        self.param = QComboBox(self)
        for key, (title, _, _) in PARAMS.items():
            self.param.addItem(title, key)
        self.param.currentIndexChanged.connect(self._on_param)
        self.lo, self.hi = QDoubleSpinBox(self), QDoubleSpinBox(self)
        for spin in (self.lo, self.hi):
            spin.setRange(-5.0, 5.0)
            spin.setSingleStep(0.25)
        self.count = QSpinBox(self)
        self.count.setRange(2, 12)
        self.count.setValue(6)
        self.run_button = QPushButton("Run", self)
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.run)
        self.export_button = QPushButton("Export sheet…", self)
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        self.status = QLabel(f"Visible region: {crop.shape[1]}×{crop.shape[0]} px", self)
        self.status.setObjectName("hint")
        self.grid = QGridLayout()
        self._build()
        self._on_param()
        self.resize(980, 700)

    def _build(self) -> None:
        top = QHBoxLayout()
        for label, widget in (("Parameter", self.param), ("from", self.lo), ("to", self.hi),
                              ("cells", self.count)):  # fmt: skip
            top.addWidget(QLabel(label, self))
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.run_button)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(self.grid, 1)

    def _on_param(self) -> None:
        _, lo, hi = PARAMS[self.param.currentData()]
        self.lo.setValue(lo)
        self.hi.setValue(hi)

    def values(self) -> list[float]:
        return [float(v) for v in np.linspace(self.lo.value(), self.hi.value(), self.count.value())]

    def run(self) -> None:
        """Compute the sweep in the background; the cells fill in when it is done."""
        from app.ml.steering import sweep

        param, values = self.param.currentData(), self.values()
        service, crop, edit = self.service, self.crop, self.edit
        self.run_button.setEnabled(False)
        self.status.setText(f"Restoring {len(values)} variants of the visible region…")
        self.background.run(
            lambda: sweep(service, crop, param, values, edit=edit),
            lambda images: self._show(param, values, images),
            self._failed,
            device=device_of(service),
        )

    def _failed(self, message: str, details: str) -> None:
        self.run_button.setEnabled(True)
        self.status.setText(f"Sweep failed: {message}")

    def _show(self, param: str, values: list[float], images: list[np.ndarray]) -> None:
        self.images = images
        self.labels = [f"{param} {v:.2f}" for v in values]
        for cell in self.cells:
            cell.deleteLater()
        self.cells = []
        cols = int(np.ceil(np.sqrt(len(images))))
        for i, (image, label) in enumerate(zip(images, self.labels)):
            cell = CellView(self)
            cell.set_picture(image, label)
            cell.moved.connect(lambda c=cell: self._sync(c))
            self.grid.addWidget(cell, i // cols, i % cols)
            self.cells.append(cell)
        self.run_button.setEnabled(True)
        self.export_button.setEnabled(True)
        self.status.setText("Scroll to zoom, drag to pan: all cells follow.")
        self.finished_sweep.emit()

    def _sync(self, source: CellView) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            for cell in self.cells:
                if cell is not source:
                    cell.setTransform(source.transform())
                    cell.centerOn(source.centre())
        finally:
            self._syncing = False

    def sheet(self) -> np.ndarray:
        """The cells as one labelled image (float32 (H, W, 3))."""
        return contact_sheet(self.images, self.labels)

    def export_sheet(self, path: Path) -> Path | None:
        try:
            return image_io.save(path, self.sheet(), overwrite=True)
        except PatinaError as err:
            self.status.setText(str(err))
            return None

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export sweep sheet", "sweep.png", "PNG (*.png)"
        )
        if path:
            self.export_sheet(Path(path))
