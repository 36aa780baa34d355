"""Status bar: zoom, cursor pixel and value, image size and bit depth, device, job progress."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from app.ui.canvas.convert import value_text
from app.workers import DeviceProbe


def _label(parent: QWidget, name: str, min_width: int = 0) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    if min_width:
        label.setMinimumWidth(min_width)
    return label


class StatusBar(QStatusBar):
    """Permanent fields on the right; transient messages on the left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.cursor_label = _label(self, "statusCursor", 250)
        self.zoom_label = _label(self, "statusZoom", 64)
        self.size_label = _label(self, "statusSize", 140)
        self.device_label = _label(self, "statusDevice")
        self.device_label.setToolTip("Where restoration models run")
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("statusProgress")
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setMaximumHeight(14)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setVisible(False)
        for widget in (
            self.progress_bar,
            self.cursor_label,
            self.size_label,
            self.zoom_label,
            self.device_label,
        ):
            self.addPermanentWidget(widget)
        self.set_device("detecting…")
        self._probe = DeviceProbe(self)
        self._probe.found.connect(self.set_device)
        self._probe.start()
        self.set_zoom(None)
        self.set_image(None)

    def stop(self) -> None:
        """Stop the device probe if it is still running (window shutdown)."""
        self._probe.stop()

    def set_zoom(self, zoom: float | None) -> None:
        self.zoom_label.setText("" if zoom is None else f"{zoom * 100:.0f}%")

    def set_device(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def set_image(self, doc: Any) -> None:
        """Size and bit depth of ``doc``'s original (blank with None)."""
        if doc is None:
            self.size_label.setText("")
            self.cursor_label.setText("")
            return
        h, w = doc.size
        depth = getattr(doc.meta, "bit_depth", None) if doc.meta is not None else None
        mp = w * h / 1e6
        depth_text = f" · {depth}-bit" if depth else ""
        self.size_label.setText(f"{w} × {h} ({mp:.1f} MP){depth_text}")

    def set_cursor(self, doc: Any, x: int, y: int) -> None:
        """Cursor pixel and the value of the top visible image layer there."""
        if doc is None or x < 0:
            self.cursor_label.setText("")
            return
        pixels = _top_pixels(doc)
        h, w = pixels.shape[:2]
        sy, sx = y * h // doc.size[0], x * w // doc.size[1]
        self.cursor_label.setText(f"x {x}  y {y}   {value_text(pixels, sx, sy)}")

    def set_progress(self, busy: bool, fraction: float = 0.0) -> None:
        self.progress_bar.setVisible(busy)
        self.progress_bar.setValue(round(fraction * 100))


def _top_pixels(doc: Any) -> np.ndarray:
    result = doc.result_layer()
    if result is not None and result.visible:
        return result.data
    return doc.original.data
