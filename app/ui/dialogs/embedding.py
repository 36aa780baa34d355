"""Embedding view: patch codes of the image (and optionally a folder) projected to 2-D.

Each point is one ``patch``-pixel square, its latent average-pooled and projected by PCA
(default) or t-SNE (VDIR Fig. 7); colour = the EST estimate of the patch (noise sigma or JPEG
quality) or its position in the image. Clicking a point of the open image emits
``patch_clicked(rect)`` and the window outlines that patch on the canvas. Encoding runs
through the window's :class:`~app.ui.background.Background` runner, on the model's device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGraphicsEllipseItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.ui.canvas.convert import HEAT_LUT
from app.workers.function_job import device_of

PLOT = 520.0  # scene units of the plot square
DOT = 7.0
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


def colours(values: np.ndarray) -> list[QColor]:
    """One colour per value through the heat LUT over the values' range."""
    lo, hi = float(np.min(values)), float(np.max(values))
    t = (values - lo) / max(hi - lo, 1e-9)
    rgb = HEAT_LUT[np.clip(np.rint(0.15 * 255 + t * 0.85 * 255), 0, 255).astype(int)]
    return [QColor(int(r), int(g), int(b)) for r, g, b in rgb]


def position_values(boxes: np.ndarray) -> np.ndarray:
    """A scalar per patch that varies with its position (row-major order, 0..1)."""
    ys, xs = boxes[:, 1].astype(float), boxes[:, 2].astype(float)
    return (ys / max(ys.max(), 1.0)) * 0.7 + (xs / max(xs.max(), 1.0)) * 0.3


def axes_caption(result: Any) -> str:
    """What the plot's axes are: PCA with its explained variance, or t-SNE."""
    if getattr(result, "method", "pca") == "tsne":
        return "t-SNE of the patch codes"
    ex = result.explained
    return f"PC1 {ex[0]:.0%} · PC2 {ex[1]:.0%} of variance"


class ScatterView(QGraphicsView):
    """Points in a square; emits ``picked(index)`` when one is clicked."""

    picked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setBackgroundBrush(QColor(30, 31, 34))
        self.dots: list[QGraphicsEllipseItem] = []
        self.selected: int | None = None

    def set_points(self, points: np.ndarray, values: np.ndarray, caption: str) -> None:
        """Plot (N, 2) ``points`` coloured by ``values``; ``caption`` names the axes."""
        scene = self.scene()
        scene.clear()
        self.dots, self.selected = [], None
        lo, hi = points.min(axis=0), points.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        scene.addRect(QRectF(0, 0, PLOT, PLOT), QPen(QColor(80, 84, 90)))
        for i, (p, colour) in enumerate(zip(points, colours(values))):
            x = (p[0] - lo[0]) / span[0] * (PLOT - 20) + 10
            y = PLOT - ((p[1] - lo[1]) / span[1] * (PLOT - 20) + 10)
            dot = scene.addEllipse(x - DOT / 2, y - DOT / 2, DOT, DOT, QPen(Qt.PenStyle.NoPen),
                                   QBrush(colour))  # fmt: skip
            dot.setData(0, i)
            self.dots.append(dot)
        text = scene.addText(caption)
        text.setDefaultTextColor(QColor(200, 200, 200))
        text.setPos(0, PLOT + 4)
        self.setSceneRect(scene.itemsBoundingRect().adjusted(-10, -10, 10, 10))
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def dot_position(self, index: int) -> QPointF:
        """Viewport position of dot ``index`` (for tests)."""
        return QPointF(self.mapFromScene(self.dots[index].sceneBoundingRect().center()))

    def select(self, index: int) -> None:
        if self.selected is not None:
            self.dots[self.selected].setPen(QPen(Qt.PenStyle.NoPen))
        self.selected = index
        self.dots[index].setPen(QPen(QColor(120, 220, 255), 2.0))
        self.dots[index].setZValue(1)
        self.picked.emit(index)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, QGraphicsEllipseItem) and item.data(0) is not None:
            self.select(int(item.data(0)))

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001
        super().resizeEvent(event)
        if not self.sceneRect().isEmpty():
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def to_image(self, size: int = 640) -> QImage:
        """The plot rendered offscreen (for export and docs)."""
        image = QImage(size, size + 40, QImage.Format.Format_RGB32)
        image.fill(QColor(30, 31, 34))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.scene().render(painter, QRectF(0, 0, size, size + 40), self.sceneRect())
        painter.end()
        return image


class EmbeddingDialog(QDialog):
    """Compute and show the embedding; ``patch_clicked(rect)`` for the open image's patches."""

    patch_clicked = Signal(object)
    computed = Signal()

    def __init__(
        self, service: Any, image: np.ndarray, background: Any, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Latent embedding")
        self.service, self.image, self.background = service, image, background
        self.folder_images: list[np.ndarray] = []
        self.result: Any = None
        self.patch = QSpinBox(self)
        self.patch.setRange(16, 256)
        self.patch.setSingleStep(16)
        self.patch.setValue(32)
        self.projection = QComboBox(self)
        self.projection.addItem("PCA", "pca")
        self.projection.addItem("t-SNE", "tsne")
        self.projection.setToolTip("PCA: linear, axes ranked by variance; t-SNE (VDIR Fig. 7): "
                                   "keeps neighbours together, distances between clusters "
                                   "mean little")  # fmt: skip
        self.colour_by = QComboBox(self)
        self.colour_by.addItems(["estimate", "position"])
        self.colour_by.currentIndexChanged.connect(self._plot)
        self.folder_button = QPushButton("Add folder…", self)
        self.folder_button.clicked.connect(self._choose_folder)
        self.run_button = QPushButton("Compute", self)
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.run)
        self.export_button = QPushButton("Export PNG…", self)
        self.export_button.clicked.connect(self._export_dialog)
        self.view = ScatterView(self)
        self.view.picked.connect(self._on_pick)
        self.status = QLabel("", self)
        self.status.setObjectName("hint")
        top = QHBoxLayout()
        for label, widget in (
            ("Patch px", self.patch), ("Projection", self.projection), ("Colour by", self.colour_by)
        ):  # fmt: skip
            top.addWidget(QLabel(label, self))
            top.addWidget(widget)
        top.addStretch(1)
        for button in (self.folder_button, self.run_button, self.export_button):
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self.resize(640, 700)

    def add_images(self, images: list[np.ndarray]) -> None:
        """More images (a folder) whose patches join the plot (not clickable to the canvas)."""
        self.folder_images.extend(images)
        self.status.setText(f"{len(self.folder_images)} more image(s) added")

    def _choose_folder(self) -> None:
        from app.core import image_io

        folder = QFileDialog.getExistingDirectory(self, "Folder of images")
        if folder:
            files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in SUFFIXES)
            self.add_images([image_io.load(p).pixels for p in files[:200]])

    def run(self) -> None:
        from app.ml.steering import embedding

        images = [self.image, *self.folder_images]
        service, patch, method = self.service, self.patch.value(), self.projection.currentData()
        self.run_button.setEnabled(False)
        self.status.setText("Encoding patches…")
        self.background.run(
            lambda: embedding(service, images, patch, method=method),
            self._show,
            lambda message, details: self.status.setText(f"Failed: {message}"),
            device=device_of(service),
        )

    def _show(self, result: Any) -> None:
        self.result = result
        self.run_button.setEnabled(True)
        self._plot()
        self.computed.emit()

    def _plot(self) -> None:
        result = self.result
        if result is None:
            return
        by_est = self.colour_by.currentText() == "estimate"
        values = result.est if by_est else position_values(result.boxes)
        key = "quality" if getattr(self.service.info, "task", "") == "deblock" else "sigma"
        colour = f"{key} {values.min():.1f}…{values.max():.1f}" if by_est else "position"
        caption = f"{axes_caption(result)} · colour: {colour}"
        self.view.set_points(result.points, values, caption)
        self.status.setText(f"{len(result.points)} patches; click one to find it on the canvas")

    def _on_pick(self, index: int) -> None:
        image_index, y0, x0, y1, x1 = (int(v) for v in self.result.boxes[index])
        est = float(self.result.est[index])
        self.status.setText(f"patch at ({x0}, {y0}) of image {image_index}: estimate {est:.1f}")
        if image_index == 0:
            self.patch_clicked.emit((y0, x0, y1, x1))

    def export_png(self, path: Path) -> bool:
        return bool(self.view.to_image().save(str(path)))

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "embedding.png", "PNG (*.png)")
        if path:
            self.export_png(Path(path))
