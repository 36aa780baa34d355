"""Small widgets of the latent panel: a slider with its neutral value marked, a legend."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QWidget,
)

from app.ui.canvas.convert import DIVERGING_LUT

MARK = QColor(255, 200, 80)


class _MarkedSlider(QSlider):
    """A horizontal QSlider that draws a small marker at ``neutral`` (an int position)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.neutral = 0

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self
        )
        handle = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self
        )
        span = groove.width() - handle.width()
        x = (
            groove.x()
            + handle.width() / 2
            + QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), self.neutral, span)
        )
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(MARK, 1.5))
        painter.setBrush(MARK)
        bottom = self.height() - 1.0
        painter.drawPolygon(QPolygonF([QPointF(x, bottom - 5), QPointF(x - 4, bottom),
                                       QPointF(x + 4, bottom)]))  # fmt: skip
        painter.end()


class NeutralSlider(QWidget):
    """A float slider over [lo, hi] in ``steps`` steps whose ``neutral`` value is marked
    (a small triangle) and restored by double-clicking the value label.

    Signals: ``value_changed(float)`` on every change (also programmatic ones, unless
    blocked), ``released()`` when the user lets go of the handle.
    """

    value_changed = Signal(float)
    released = Signal()

    def __init__(
        self,
        lo: float,
        hi: float,
        neutral: float,
        steps: int = 300,
        decimals: int = 2,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.lo, self.hi, self.neutral_value, self.steps = lo, hi, neutral, steps
        self.decimals = decimals
        self.slider = _MarkedSlider(self)
        self.slider.setRange(0, steps)
        self.slider.neutral = self._to_int(neutral)
        self.slider.setValue(self.slider.neutral)
        self.label = QLabel(self)
        self.label.setMinimumWidth(38)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.label.setToolTip(f"double-click: back to {neutral:g} (neutral)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderReleased.connect(self.released)
        self._on_value(self.slider.value())

    def _to_int(self, value: float) -> int:
        t = (min(self.hi, max(self.lo, value)) - self.lo) / (self.hi - self.lo)
        return round(t * self.steps)

    def value(self) -> float:
        """The current value, rounded to the slider's step (exact at the neutral value)."""
        if self.slider.value() == self.slider.neutral:
            return self.neutral_value
        raw = self.lo + (self.hi - self.lo) * self.slider.value() / self.steps
        return round(raw, self.decimals + 1)

    def set_value(self, value: float) -> None:
        self.slider.setValue(self._to_int(value))

    def reset(self) -> None:
        self.set_value(self.neutral_value)

    def is_neutral(self) -> bool:
        return self.slider.value() == self.slider.neutral

    def _on_value(self, _: int) -> None:
        self.label.setText(f"{self.value():.{self.decimals}f}")
        self.value_changed.emit(self.value())

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802, ANN001
        self.reset()


class Legend(QWidget):
    """A horizontal colour bar of the diverging latent map with its value range."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(34)
        self._range: tuple[float, float] | None = None
        self._title = ""
        ramp = np.ascontiguousarray(DIVERGING_LUT[None, :, :].repeat(2, axis=0))
        self._ramp = ramp
        self._image = QImage(ramp.data, 256, 2, ramp.strides[0], QImage.Format.Format_RGB888)

    def set_range(self, value_range: tuple[float, float] | None, title: str = "") -> None:
        """Show ``(lo, hi)`` under the bar (hidden with None)."""
        self._range = value_range
        self._title = title
        self.setVisible(value_range is not None)
        self.update()

    def text(self) -> str:
        """What the legend says (for tests and accessibility)."""
        if self._range is None:
            return ""
        lo, hi = self._range
        return f"{self._title}: {lo:.3g} … {hi:.3g}"

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if self._range is None:
            return
        painter = QPainter(self)
        bar = QRectF(4, 2, self.width() - 8, 12)
        painter.drawImage(bar, self._image)
        painter.setPen(QColor(120, 120, 120))
        painter.drawRect(bar)
        painter.setPen(QColor(210, 210, 210))
        lo, hi = self._range
        text_box = QRect(4, 16, self.width() - 8, 16)
        painter.drawText(text_box, Qt.AlignmentFlag.AlignLeft, f"{lo:.3g}")
        painter.drawText(text_box, Qt.AlignmentFlag.AlignHCenter, self._title)
        painter.drawText(text_box, Qt.AlignmentFlag.AlignRight, f"{hi:.3g}")
        painter.end()
