"""Damage panel: the widgets of the Damage dock (Detect, threshold and grow sliders,
Inpaint, and the one-click pipeline: Repair all, its Detect check box, Restore for and
Upscale factor). It knows nothing of workers: it emits requests and the slider values;
:class:`~app.ui.controllers.damage.DamageController` does the work.
"""

from __future__ import annotations

from typing import Any

import qtawesome as qta
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from app.core import masks

# the pipeline's ``restore`` choices (app.ml.services.old_photo.RESTORERS), as shown
RESTORE_CHOICES = (("Print (fading, blur, fine grain)", "print"),
                   ("Film grain / camera noise", "grain"))  # fmt: skip


class DamagePanel(QWidget):
    """Widgets only; emits requests and the slider values."""

    detect_requested = Signal()
    inpaint_requested = Signal()
    pipeline_requested = Signal()
    mask_params_changed = Signal(float, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.detect_button = QPushButton(qta.icon("mdi6.magnify-scan", color="#e0e0e0"), "Detect")
        self.detect_button.setToolTip("Find scratches, dust and tears (probability layer + mask)")
        self.threshold = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self)
        self.threshold.setRange(0.05, 0.95)
        self.threshold.setDecimals(2)
        self.threshold.setValue(masks.DAMAGE_THRESHOLD)
        self.threshold.setToolTip("Damage probability above which a pixel is masked")
        self.grow = QLabeledSlider(Qt.Orientation.Horizontal, self)
        self.grow.setRange(0, 10)
        self.grow.setValue(masks.DAMAGE_GROW)
        self.grow.setToolTip("Grow the detected mask by this many pixels")
        self.inpaint_button = QPushButton(qta.icon("mdi6.auto-fix", color="#ffffff"), "Inpaint")
        self.inpaint_button.setToolTip("Fill the masked pixels (result layer)")
        self._pipeline_widgets()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setObjectName("hint")
        self._layout()
        self.detect_button.clicked.connect(self.detect_requested)
        self.inpaint_button.clicked.connect(self.inpaint_requested)
        self.pipeline_button.clicked.connect(self.pipeline_requested)
        self.threshold.valueChanged.connect(self._emit_params)
        self.grow.valueChanged.connect(self._emit_params)

    def _pipeline_widgets(self) -> None:
        icon = qta.icon("mdi6.image-auto-adjust", color="#ffffff")
        self.pipeline_button = QPushButton(icon, "Repair all (one click)")
        self.pipeline_button.setObjectName("primary")
        self.pipeline_button.setToolTip(
            "Detect -> inpaint -> restore -> upscale; each stage a layer and an undo step"
        )
        self.detect_check = QCheckBox("Detect damage (merged with the mask)", self)
        self.detect_check.setChecked(True)
        self.detect_check.setToolTip("Off: repair only the mask as it is (e.g. after correcting)")
        self.upscale = QSpinBox(self)
        self.upscale.setRange(1, 4)
        self.upscale.setPrefix("\u00d7")
        self.upscale.setToolTip("Final upscaling factor (\u00d71: none)")
        self.restore_kind = QComboBox(self)
        for label, value in RESTORE_CHOICES:
            self.restore_kind.addItem(label, value)
        self.restore_kind.setToolTip(
            "Print: the old-photo model (fading, blur, fine grain, noise, JPEG).\n"
            "Film grain / camera noise: the real-noise model, for scans whose trouble is "
            "coarse grain or sensor noise"
        )

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Threshold", self.threshold)
        form.addRow("Grow (px)", self.grow)
        repair = QFormLayout()
        repair.addRow(self.detect_check)
        repair.addRow("Restore for", self.restore_kind)
        repair.addRow("Upscale", self.upscale)
        layout = QVBoxLayout(self)
        layout.addWidget(self.detect_button)
        layout.addLayout(form)
        layout.addWidget(self.inpaint_button)
        layout.addSpacing(8)
        layout.addLayout(repair)
        layout.addWidget(self.pipeline_button)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def values(self) -> tuple[float, int]:
        """(threshold, grow) as set on the sliders."""
        return float(self.threshold.value()), int(self.grow.value())

    def pipeline_params(self) -> dict[str, Any]:
        """The old-photo pipeline's parameters as set (detect, threshold, grow, restore,
        upscale)."""
        threshold, grow = self.values()
        return {"detect": self.detect_check.isChecked(), "threshold": round(threshold, 3),
                "grow": grow, "restore": str(self.restore_kind.currentData()),
                "upscale": int(self.upscale.value())}  # fmt: skip

    def _emit_params(self, *_: Any) -> None:
        self.mask_params_changed.emit(*self.values())

    def set_enabled_for(self, doc: Any) -> None:
        """Enable the buttons when there is a document."""
        widgets = (self.detect_button, self.inpaint_button, self.threshold, self.grow,
                   self.pipeline_button, self.detect_check, self.upscale)  # fmt: skip
        for w in widgets:
            w.setEnabled(doc is not None)

    def set_status(self, text: str) -> None:
        self.status.setText(text)
