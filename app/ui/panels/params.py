"""Widgets for a service's ParamSpecs: one control per parameter, read back as a dict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from app.ml.services.base import ParamSpec

SLIDER_MAX_STEPS = 1000


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class ParamForm(QObject):
    """Builds controls for ParamSpecs into a QFormLayout; ``changed`` on any edit."""

    changed = Signal()

    def __init__(self, layout: QFormLayout, parent: QWidget) -> None:
        super().__init__(parent)
        self._layout = layout
        self._parent = parent
        self._getters: dict[str, Callable[[], Any]] = {}
        self._setters: dict[str, Callable[[Any], None]] = {}
        self.widgets: dict[str, QWidget] = {}

    def set_specs(self, specs: tuple[ParamSpec, ...]) -> None:
        """Replace the controls by ones for ``specs`` (defaults selected)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._getters.clear()
        self._setters.clear()
        self.widgets.clear()
        for spec in specs:
            widget = self._make(spec)
            widget.setToolTip(spec.help)
            widget.setObjectName(f"param_{spec.name}")
            self.widgets[spec.name] = widget
            self._layout.addRow(_label(spec.name), widget)

    def values(self) -> dict[str, Any]:
        """Current values by parameter name."""
        return {name: get() for name, get in self._getters.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Set the controls whose names appear in ``values``."""
        for name, value in values.items():
            if name in self._setters:
                self._setters[name](value)

    # -- factories -----------------------------------------------------------------
    def _make(self, spec: ParamSpec) -> QWidget:
        if isinstance(spec.default, bool):
            return self._checkbox(spec)
        if spec.choices:
            return self._combo(spec)
        bounded = spec.minimum is not None and spec.maximum is not None
        if isinstance(spec.default, int):
            if bounded and (spec.maximum or 0) - (spec.minimum or 0) <= SLIDER_MAX_STEPS:
                return self._int_slider(spec)
            return self._int_spin(spec)
        if isinstance(spec.default, float) and bounded:
            return self._float_slider(spec)
        return self._float_spin(spec)

    def _register(
        self, spec: ParamSpec, get: Callable[[], Any], put: Callable[[Any], None]
    ) -> None:
        self._getters[spec.name] = get
        self._setters[spec.name] = put

    def _checkbox(self, spec: ParamSpec) -> QWidget:
        box = QCheckBox(self._parent)
        box.setChecked(bool(spec.default))
        box.toggled.connect(self.changed)
        self._register(spec, box.isChecked, lambda v: box.setChecked(bool(v)))
        return box

    def _combo(self, spec: ParamSpec) -> QWidget:
        combo = QComboBox(self._parent)
        combo.addItems(list(spec.choices))
        combo.setCurrentText(str(spec.default))
        combo.currentTextChanged.connect(self.changed)
        self._register(spec, combo.currentText, lambda v: combo.setCurrentText(str(v)))
        return combo

    def _int_slider(self, spec: ParamSpec) -> QWidget:
        slider = QLabeledSlider(Qt.Orientation.Horizontal, self._parent)
        slider.setRange(int(spec.minimum or 0), int(spec.maximum or 0))
        slider.setValue(int(spec.default))
        slider.valueChanged.connect(self.changed)
        self._register(spec, lambda: int(slider.value()), lambda v: slider.setValue(int(v)))
        return slider

    def _int_spin(self, spec: ParamSpec) -> QWidget:
        spin = QSpinBox(self._parent)
        spin.setRange(
            int(spec.minimum if spec.minimum is not None else -(2**31)),
            int(spec.maximum if spec.maximum is not None else 2**31 - 1),
        )
        spin.setValue(int(spec.default))
        spin.valueChanged.connect(self.changed)
        self._register(spec, spin.value, lambda v: spin.setValue(int(v)))
        return spin

    def _float_slider(self, spec: ParamSpec) -> QWidget:
        slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self._parent)
        lo, hi = float(spec.minimum or 0.0), float(spec.maximum or 1.0)
        slider.setRange(lo, hi)
        slider.setDecimals(_decimals(hi - lo))
        slider.setValue(float(spec.default))
        slider.valueChanged.connect(self.changed)
        self._register(spec, lambda: float(slider.value()), lambda v: slider.setValue(float(v)))
        return slider

    def _float_spin(self, spec: ParamSpec) -> QWidget:
        spin = QDoubleSpinBox(self._parent)
        spin.setDecimals(3)
        spin.setRange(
            spec.minimum if spec.minimum is not None else -1e9,
            spec.maximum if spec.maximum is not None else 1e9,
        )
        spin.setValue(float(spec.default))
        spin.valueChanged.connect(self.changed)
        self._register(spec, spin.value, lambda v: spin.setValue(float(v)))
        return spin


def _decimals(span: float) -> int:
    """Enough decimals for ~100 steps over ``span``."""
    if span >= 100:
        return 0
    if span >= 10:
        return 1
    if span >= 1:
        return 2
    return 3
