"""Degrade panel: sliders for a DegradationSpec; Apply asks for a synthetic degraded copy.

The panel only builds the spec; the window runs ``degrade`` off the GUI thread and opens
the result as a new document whose ground truth is the clean image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import qtawesome as qta
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from app.core.degradations import DegradationSpec


@dataclass(frozen=True)
class SliderSpec:
    """One slider: spec field, label, range, default, decimals (0 = integer slider)."""

    name: str
    label: str
    minimum: float
    maximum: float
    default: float = 0.0
    decimals: int = 2
    help: str = ""


SLIDERS = (
    SliderSpec("sigma", "Noise σ", 0, 75, 0, 1, "Gaussian noise std on the 0..255 scale"),
    SliderSpec("poisson", "Shot noise", 0, 0.05, 0, 3, "Poisson (shot) noise gain"),
    SliderSpec("blur", "Blur", 0, 8, 0, 1, "Gaussian blur std in pixels"),
    SliderSpec("scale", "Downscale ×", 1, 4, 1, 0, "Integer downscaling factor"),
    SliderSpec("scratches", "Scratches", 0, 1, 0, 2, "Amount of scratches"),
    SliderSpec("dust", "Dust", 0, 1, 0, 2, "Amount of dust specks and hairs"),
    SliderSpec("grain", "Film grain", 0, 1, 0, 2, "Film grain strength"),
    SliderSpec("fade", "Fading", 0, 1, 0, 2, "Colour fading / yellowing"),
)


class DegradePanel(QWidget):
    """Emits ``apply_requested(DegradationSpec)`` when the user presses Apply."""

    apply_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._getters: dict[str, Callable[[], float]] = {}
        self._setters: dict[str, Callable[[float], None]] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for spec in SLIDERS:
            form.addRow(spec.label, self._slider(spec))
        form.addRow("JPEG quality", self._jpeg_row())
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same seed gives the same damage")
        form.addRow("Seed", self.seed)
        self.apply_button = QPushButton(qta.icon("mdi6.creation", color="#f0f0f0"), "Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Open a degraded copy of the clean image as a new document")
        self.apply_button.clicked.connect(lambda: self.apply_requested.emit(self.spec()))
        reset = QPushButton("Reset")
        reset.clicked.connect(self.reset)
        buttons = QHBoxLayout()
        buttons.addWidget(reset)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def _slider(self, spec: SliderSpec) -> QWidget:
        slider: QLabeledSlider | QLabeledDoubleSlider
        if spec.decimals == 0:
            slider = QLabeledSlider(Qt.Orientation.Horizontal, self)
            slider.setRange(int(spec.minimum), int(spec.maximum))
        else:
            slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self)
            slider.setRange(spec.minimum, spec.maximum)
            slider.setDecimals(spec.decimals)
        slider.setValue(spec.default)
        slider.setToolTip(spec.help)
        slider.setObjectName(f"degrade_{spec.name}")
        self._getters[spec.name] = lambda: float(slider.value())
        self._setters[spec.name] = slider.setValue
        return slider

    def _jpeg_row(self) -> QWidget:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.jpeg_on = QCheckBox(row)
        self.jpeg_on.setToolTip("Compress as JPEG at this quality (off: no JPEG)")
        self.jpeg = QLabeledSlider(Qt.Orientation.Horizontal, row)
        self.jpeg.setRange(1, 100)
        self.jpeg.setValue(30)
        self.jpeg.setEnabled(False)
        self.jpeg_on.toggled.connect(self.jpeg.setEnabled)
        layout.addWidget(self.jpeg_on)
        layout.addWidget(self.jpeg, 1)
        return row

    def spec(self) -> DegradationSpec:
        """The DegradationSpec the controls describe."""
        values = {name: get() for name, get in self._getters.items()}
        return DegradationSpec(
            sigma=values["sigma"],
            poisson=values["poisson"],
            jpeg=int(self.jpeg.value()) if self.jpeg_on.isChecked() else None,
            blur=values["blur"],
            scale=int(values["scale"]),
            scratches=values["scratches"],
            dust=values["dust"],
            grain=values["grain"],
            fade=values["fade"],
            seed=int(self.seed.value()),
        )

    def set_values(self, **values: float) -> None:
        """Set sliders by spec field name (``jpeg=None`` turns JPEG off)."""
        for name, value in values.items():
            if name == "jpeg":
                self.jpeg_on.setChecked(value is not None)
                if value is not None:
                    self.jpeg.setValue(int(value))
            elif name == "seed":
                self.seed.setValue(int(value))
            else:
                self._setters[name](value)

    def reset(self) -> None:
        for spec in SLIDERS:
            self._setters[spec.name](spec.default)
        self.jpeg_on.setChecked(False)
        self.seed.setValue(0)
