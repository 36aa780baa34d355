"""Degrade panel: sliders for a DegradationSpec; Apply asks for a synthetic degraded copy.

The panel only builds the spec; the window runs ``degrade`` off the GUI thread and opens
the result as a new document whose ground truth is the clean image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import qtawesome as qta
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from app.core.camera_noise import DEMOSAIC_METHODS, ISO_PRESETS
from app.core.degradations import DegradationSpec


def _heading(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setObjectName("section")
    return label


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
    SliderSpec("poisson", "Poisson", 0, 0.05, 0, 3, "Poisson (shot) noise gain on sRGB values"),
    SliderSpec("blur", "Blur", 0, 8, 0, 1, "Gaussian blur std in pixels"),
    SliderSpec("scale", "Downscale ×", 1, 4, 1, 0, "Integer downscaling factor"),
    SliderSpec("scratches", "Scratches", 0, 1, 0, 2, "Amount of scratches"),
    SliderSpec("dust", "Dust", 0, 1, 0, 2, "Amount of dust specks and hairs"),
    SliderSpec("fade", "Fading", 0, 1, 0, 2, "Colour fading / yellowing"),
)
CAMERA_SLIDERS = (
    SliderSpec("shot", "Shot", 0, 0.3, 0, 3,
               "Camera shot noise: linear-light std is shot·√L (signal-dependent)"),
    SliderSpec("read", "Read", 0, 0.1, 0, 3, "Camera read noise: constant linear-light std"),
)  # fmt: skip
GRAIN_SLIDERS = (
    SliderSpec("grain", "Amount", 0, 1, 0, 2, "Film grain strength"),
    SliderSpec("grain_size", "Size", 0.3, 4, 0.8, 1, "Grain clump size in scan pixels"),
    SliderSpec("grain_color", "Colour", 0, 1, 0.3, 2, "0: monochrome grain; 1: per-channel"),
)
ALL_SLIDERS = SLIDERS + CAMERA_SLIDERS + GRAIN_SLIDERS
PRESET_OFF = "Off"
LIVE_DEBOUNCE_MS = 300


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
        form.addRow(_heading("Camera noise"))
        form.addRow("ISO preset", self._preset_box())
        for spec in CAMERA_SLIDERS:
            form.addRow(spec.label, self._slider(spec))
        form.addRow("Demosaic", self._demosaic_box())
        form.addRow(_heading("Film grain"))
        for spec in GRAIN_SLIDERS:
            form.addRow(spec.label, self._slider(spec))
        form.addRow("JPEG quality", self._jpeg_row())
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same seed gives the same damage")
        form.addRow("Seed", self.seed)
        self.apply_button = QPushButton(qta.icon("mdi6.creation", color="#f0f0f0"), "Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Open a degraded copy of the clean image as a new document")
        self.apply_button.clicked.connect(self._emit_apply)
        self.live = QCheckBox("Live", self)
        self.live.setToolTip(
            "Re-synthesise from the clean image whenever a control changes, so PSNR/SSIM "
            "follow the sliders"
        )
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._live_timer.timeout.connect(self._emit_apply)
        self._connect_live()
        self.metrics = QLabel(self)
        self.metrics.setObjectName("degradeMetrics")
        self.metrics.setVisible(False)
        reset = QPushButton("Reset")
        reset.clicked.connect(self.reset)
        buttons = QHBoxLayout()
        buttons.addWidget(reset)
        buttons.addWidget(self.live)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.metrics)
        layout.addStretch(1)

    def _emit_apply(self) -> None:
        self.apply_requested.emit(self.spec())

    def _connect_live(self) -> None:
        """Every control restarts the debounce timer while Live is on."""

        def changed(*_: object) -> None:
            if self.live.isChecked():
                self._live_timer.start()

        for widget in self.findChildren(QWidget):
            for name in ("valueChanged", "currentTextChanged", "toggled"):
                signal = getattr(widget, name, None)
                if signal is not None and widget is not self.live:
                    signal.connect(changed)
        self.live.toggled.connect(changed)

    def set_input_metrics(self, metrics: dict[str, float] | None) -> None:
        """Show the degraded copy's PSNR/SSIM against the clean image (hidden for None)."""
        self.metrics.setVisible(bool(metrics))
        if metrics:
            self.metrics.setText(
                f"Degraded vs clean:  PSNR <b>{metrics['psnr']:.2f}</b> dB   "
                f"SSIM <b>{metrics['ssim']:.4f}</b>"
            )

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

    def _preset_box(self) -> QComboBox:
        self.camera_preset = QComboBox(self)
        self.camera_preset.addItems([PRESET_OFF, *ISO_PRESETS])
        self.camera_preset.setToolTip(
            "Camera pipeline at a typical ISO: sets Shot and Read (inverse tone curve, "
            "Bayer mosaic, Poisson-Gaussian noise, demosaic, tone curve)"
        )
        self.camera_preset.currentTextChanged.connect(self._apply_preset)
        return self.camera_preset

    def _apply_preset(self, name: str) -> None:
        shot, read = ISO_PRESETS.get(name, (0.0, 0.0))
        self._setters["shot"](shot)
        self._setters["read"](read)

    def _demosaic_box(self) -> QComboBox:
        self.demosaic = QComboBox(self)
        self.demosaic.addItems(list(DEMOSAIC_METHODS))
        self.demosaic.setToolTip("bilinear: simple interpolation; ea: OpenCV's edge-aware")
        return self.demosaic

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
        values: dict[str, Any] = {name: get() for name, get in self._getters.items()}
        preset = self.camera_preset.currentText()
        values.update(
            scale=int(values["scale"]),
            jpeg=int(self.jpeg.value()) if self.jpeg_on.isChecked() else None,
            camera=preset if preset in ISO_PRESETS else None,
            demosaic=self.demosaic.currentText(),
            seed=int(self.seed.value()),
        )
        return DegradationSpec(**values)

    def set_values(self, **values: float) -> None:
        """Set sliders by spec field name (``jpeg=None`` turns JPEG off)."""
        for name, value in values.items():
            if name == "jpeg":
                self.jpeg_on.setChecked(value is not None)
                if value is not None:
                    self.jpeg.setValue(int(value))
            elif name == "seed":
                self.seed.setValue(int(value))
            elif name == "camera":
                self.camera_preset.setCurrentText(str(value) if value else PRESET_OFF)
            elif name == "demosaic":
                self.demosaic.setCurrentText(str(value))
            else:
                self._setters[name](value)

    def reset(self) -> None:
        self.camera_preset.setCurrentText(PRESET_OFF)
        self.demosaic.setCurrentIndex(0)
        for spec in ALL_SLIDERS:
            self._setters[spec.name](spec.default)
        self.jpeg_on.setChecked(False)
        self.seed.setValue(0)
