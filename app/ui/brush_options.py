"""Brush tool options in the toolbar: size (px) and hardness (%).

:class:`BrushOptions` is widgets only: it emits ``radius_changed`` (image pixels) and
``hardness_changed`` (0..1) when the user edits a control, and :meth:`show_values` mirrors
the brush without emitting (the window calls it from ``set_brush_radius`` /
``set_brush_hardness``, so shortcuts, settings and the controls stay in step).
:func:`step_hardness` is the Shift+[ / Shift+] step: 10 % on a 10 % grid, clamped to 0..1.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QWidget

RADIUS_RANGE = (1, 800)
HARDNESS_STEP = 0.1


def step_hardness(hardness: float, direction: int) -> float:
    """``hardness`` moved one 10 % step up (``direction`` > 0) or down, snapped to the grid
    of 10 % steps and clamped to [0, 1]."""
    steps = round(hardness / HARDNESS_STEP) + (1 if direction > 0 else -1)
    return max(0.0, min(1.0, round(steps * HARDNESS_STEP, 6)))


class BrushOptions(QWidget):
    """Size spin box and a labelled hardness slider for the toolbar."""

    radius_changed = Signal(float)
    hardness_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("brushOptions")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.size_box = QSpinBox(self)
        self.size_box.setObjectName("brushSize")
        self.size_box.setRange(*RADIUS_RANGE)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Brush radius in image pixels ([ smaller, ] larger)")
        self.size_box.setKeyboardTracking(False)
        self.size_box.setFixedWidth(self.size_box.fontMetrics().horizontalAdvance("800 px") + 36)
        self.size_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.size_box.editingFinished.connect(self.size_box.clearFocus)  # B, E, [ … work again
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.hardness_slider.setObjectName("brushHardness")
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setSingleStep(5)
        self.hardness_slider.setPageStep(10)
        self.hardness_slider.setFixedWidth(96)
        self.hardness_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # never swallows shortcuts
        self.hardness_slider.setToolTip(
            "Brush hardness: 100 % is a hard edge (Shift+[ softer, Shift+] harder)"
        )
        self.hardness_label = QLabel(self)
        self.hardness_label.setObjectName("brushHardnessValue")
        self.hardness_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("100 %") + 4)
        self._layout()
        self.size_box.valueChanged.connect(lambda v: self.radius_changed.emit(float(v)))
        self.hardness_slider.valueChanged.connect(self._on_hardness)

    def _layout(self) -> None:
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        for text, widget in (("Size", self.size_box), ("Hardness", self.hardness_slider)):
            label = QLabel(text, self)
            label.setObjectName("toolOptionLabel")
            label.setBuddy(widget)
            layout.addWidget(label)
            layout.addWidget(widget)
        layout.addWidget(self.hardness_label)

    def _on_hardness(self, percent: int) -> None:
        self.hardness_label.setText(f"{percent} %")
        self.hardness_changed.emit(percent / 100.0)

    def show_values(self, radius: float | None = None, hardness: float | None = None) -> None:
        """Show the brush's radius (px) and/or hardness (0..1) without emitting."""
        if radius is not None:
            self.size_box.blockSignals(True)
            self.size_box.setValue(round(radius))
            self.size_box.blockSignals(False)
        if hardness is not None:
            percent = round(hardness * 100)
            self.hardness_slider.blockSignals(True)
            self.hardness_slider.setValue(percent)
            self.hardness_slider.blockSignals(False)
            self.hardness_label.setText(f"{percent} %")
