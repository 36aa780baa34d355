"""Latent panel: see and steer a VDIR model's latent code (issue 5).

The panel holds the controls and turns them into a :class:`~app.ml.steering.edit.LatentEdit`
(:meth:`LatentPanel.edit`); it knows nothing of workers or the document. It emits
``edit_changed`` on every change (the window debounces a preview of the visible area),
and requests for the window to carry out: ``render_requested``, ``pick_requested(what)``
(drag a rectangle on the canvas: "transplant", "target" or "interpolation"),
``brush_requested(erase)``, ``clear_map_requested``, ``uncertainty_requested(n, seed)``,
``sweep_requested``, ``embedding_requested`` and ``layer_requested(name)`` (show one
latent layer, "" for none).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ml.steering.edit import (
    CHANNELS,
    STRENGTH_NEUTRAL,
    STRENGTH_RANGE,
    Interpolation,
    LatentEdit,
    LatentRef,
    Transplant,
)
from app.ui.panels.latent_widgets import Legend, NeutralSlider

Rect = tuple[int, int, int, int]
GAIN_RANGE = (0.0, 3.0)
OFFSET_RANGE = (-2.0, 2.0)
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp)"


def describe(ref: LatentRef | None) -> str:
    """A short text for a latent source."""
    if ref is None:
        return "none"
    if ref.source == "image":
        return Path(str(ref.path)).name
    y0, x0, y1, x1 = ref.rect or (0, 0, 0, 0)
    return f"region {x1 - x0}×{y1 - y0} at ({x0}, {y0})"


class LatentPanel(QWidget):
    """Controls for the latent of a VDIR model; see the module docstring for signals."""

    edit_changed = Signal()
    render_requested = Signal()
    pick_requested = Signal(str)
    brush_requested = Signal(bool)
    clear_map_requested = Signal()
    uncertainty_requested = Signal(int, int)
    sweep_requested = Signal()
    embedding_requested = Signal()
    layer_requested = Signal(str)
    strength_released = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transplant_ref: LatentRef | None = None
        self.target: Rect | None = None
        self.other_ref: LatentRef | None = None
        self._quiet = False
        body = QWidget(self)
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._build_header()
        self._build_view()
        self._build_strength()
        self._build_brush()
        self._build_channels()
        self._build_transplant()
        self._build_interpolation()
        self._build_sampling()
        self._build_research()
        self._layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.set_active(False)

    # -- layout --------------------------------------------------------------------
    def _group(self, title: str, checkable: bool = False) -> QGroupBox:
        box = QGroupBox(title, self)
        box.setCheckable(checkable)
        if checkable:
            box.setChecked(False)
            box.toggled.connect(self._changed)
        self._layout.addWidget(box)
        return box

    def _build_header(self) -> None:
        self.inactive_hint = QLabel(
            "Choose a VDIR model in the Restore panel to see and steer its latent code.", self
        )
        self.inactive_hint.setWordWrap(True)
        self.inactive_hint.setObjectName("hint")
        self.est_label = QLabel(self)
        self.est_label.setObjectName("metrics")
        self.est_label.setWordWrap(True)
        self.cursor_label = QLabel(self)
        self.cursor_label.setObjectName("hint")
        for widget in (self.inactive_hint, self.est_label, self.cursor_label):
            self._layout.addWidget(widget)
        self.set_estimate(None)

    def _build_strength(self) -> None:
        box = self._group("Strength")
        self.strength = NeutralSlider(*STRENGTH_RANGE, neutral=STRENGTH_NEUTRAL, steps=300)
        self.strength.setObjectName("latent_strength")
        self.strength.setToolTip("1 = the image's own code (neutral, marked); higher cleans "
                                 "more, lower keeps more texture and grain")  # fmt: skip
        self.strength.value_changed.connect(self._changed)
        self.strength.released.connect(self.strength_released)
        ends = QHBoxLayout()
        for text, align in (("◀ keeps more", Qt.AlignmentFlag.AlignLeft),
                            ("cleans more ▶", Qt.AlignmentFlag.AlignRight)):  # fmt: skip
            label = QLabel(text, self)
            label.setObjectName("hint")
            label.setAlignment(align)
            ends.addWidget(label)
        self.step = QDoubleSpinBox(self)
        self.step.setObjectName("latent_step")
        self.step.setRange(0.0, 75.0)
        self.step.setDecimals(1)
        self.step.setSingleStep(5.0)
        self.step.setSpecialValueText("auto")
        self.step.setToolTip("σ of the extra noise that defines the strength direction; "
                             "auto follows the image's estimated noise (15…40)")  # fmt: skip
        self.step.valueChanged.connect(self._changed)
        step_row = QHBoxLayout()
        step_row.addWidget(QLabel("Step σ", self))
        step_row.addWidget(self.step)
        step_row.addStretch(1)
        self.quick_preview = QCheckBox("Quick previews", self)
        self.quick_preview.setObjectName("latent_quick_preview")
        self.quick_preview.setChecked(True)
        self.quick_preview.toggled.connect(self._changed)
        self.set_quick_available(False)
        self.render_button = QPushButton("Render full image", self)
        self.render_button.setObjectName("primary")
        self.render_button.clicked.connect(self.render_requested)
        layout = QVBoxLayout(box)
        layout.addWidget(self.strength)
        layout.addLayout(ends)
        layout.addLayout(step_row)
        layout.addWidget(self.quick_preview)
        layout.addWidget(self.render_button)

    def _build_channels(self) -> None:
        box = self._group("Channels (gain × c + offset)")
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        self.gains: list[NeutralSlider] = []
        self.offsets: list[NeutralSlider] = []
        for k in range(CHANNELS):
            gain = NeutralSlider(*GAIN_RANGE, neutral=1.0, steps=300)
            offset = NeutralSlider(*OFFSET_RANGE, neutral=0.0, steps=400)
            gain.setToolTip(f"gain of latent channel c{k}")
            offset.setToolTip(f"offset added to latent channel c{k}")
            for slider in (gain, offset):
                slider.value_changed.connect(self._changed)
            reset = QToolButton(self)
            reset.setText("↺")
            reset.setToolTip(f"reset c{k}")
            reset.clicked.connect(lambda _=False, k=k: self.reset_channel(k))
            grid.addWidget(QLabel(f"c{k}", self), k, 0)
            grid.addWidget(gain, k, 1)
            grid.addWidget(offset, k, 2)
            grid.addWidget(reset, k, 3)
            self.gains.append(gain)
            self.offsets.append(offset)
        self.reset_channels_button = QPushButton("Reset channels", self)
        self.reset_channels_button.clicked.connect(self.reset_channels)
        grid.addWidget(self.reset_channels_button, CHANNELS, 0, 1, 4)

    def _source_row(self, what: str) -> tuple[QHBoxLayout, QLabel]:
        region = QPushButton("Region ▭", self)
        region.setToolTip("drag a rectangle on the image")
        region.clicked.connect(lambda: self.pick_requested.emit(what))
        file = QPushButton("Image…", self)
        file.clicked.connect(lambda: self._choose_file(what))
        label = QLabel("none", self)
        label.setObjectName("hint")
        row = QHBoxLayout()
        row.addWidget(region)
        row.addWidget(file)
        row.addWidget(label, 1)
        return row, label

    def _build_transplant(self) -> None:
        self.transplant_box = box = self._group("Transplant a latent", checkable=True)
        row, self.transplant_label = self._source_row("transplant")
        self.apply_global = QRadioButton("whole image", self)
        self.apply_region = QRadioButton("region ▭", self)
        self.apply_global.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.apply_global)
        group.addButton(self.apply_region)
        self.apply_region.clicked.connect(lambda: self.pick_requested.emit("target"))
        self.apply_global.toggled.connect(self._changed)
        targets = QHBoxLayout()
        targets.addWidget(QLabel("apply to", self))
        targets.addWidget(self.apply_global)
        targets.addWidget(self.apply_region)
        targets.addStretch(1)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addLayout(targets)

    def _build_interpolation(self) -> None:
        self.interp_box = box = self._group("Interpolate A ↔ B", checkable=True)
        row, self.other_label = self._source_row("interpolation")
        self.interp = NeutralSlider(0.0, 1.0, neutral=0.0, steps=100)
        self.interp.setToolTip("0 = this image's code (A), 1 = the other code (B)")
        self.interp.value_changed.connect(self._changed)
        form = QFormLayout()
        form.addRow("B", row)
        form.addRow("A ↔ B", self.interp)
        box.setLayout(form)

    def _build_sampling(self) -> None:
        box = self._group("Sampling")
        self.sample = QCheckBox("Sample the latent (else its mean)", self)
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 2**31 - 1)
        self.sample.toggled.connect(self._changed)
        self.seed.valueChanged.connect(self._changed)
        self.samples = QSpinBox(self)
        self.samples.setRange(2, 64)
        self.samples.setValue(8)
        self.uncertainty_button = QPushButton("Uncertainty → layer", self)
        self.uncertainty_button.setToolTip("restore N sampled latents; show the per-pixel spread")
        self.uncertainty_button.clicked.connect(
            lambda: self.uncertainty_requested.emit(self.samples.value(), self.seed.value())
        )
        form = QFormLayout(box)
        form.addRow(self.sample)
        form.addRow("Seed", self.seed)
        row = QHBoxLayout()
        row.addWidget(self.samples)
        row.addWidget(self.uncertainty_button, 1)
        form.addRow("N", row)

    def _build_brush(self) -> None:
        box = self._group("Latent brush")
        self.brush_more = QPushButton("Paint: clean more", self)
        self.brush_less = QPushButton("Paint: keep more", self)
        self.brush_more.clicked.connect(lambda: self.brush_requested.emit(False))
        self.brush_less.clicked.connect(lambda: self.brush_requested.emit(True))
        self.map_gain = NeutralSlider(0.0, 2.0, neutral=1.0, steps=200)
        self.map_gain.setToolTip("how far a fully painted area moves the strength (±)")
        self.map_gain.value_changed.connect(self._changed)
        self.clear_map = QPushButton("Clear map", self)
        self.clear_map.clicked.connect(self.clear_map_requested)
        self.use_map = QCheckBox("Use the painted map", self)
        self.use_map.setChecked(True)
        self.use_map.toggled.connect(self._changed)
        grid = QGridLayout(box)
        grid.addWidget(self.brush_more, 0, 0)
        grid.addWidget(self.brush_less, 0, 1)
        grid.addWidget(QLabel("Range ±", self), 1, 0)
        grid.addWidget(self.map_gain, 1, 1)
        grid.addWidget(self.use_map, 2, 0)
        grid.addWidget(self.clear_map, 2, 1)

    def _build_view(self) -> None:
        box = self._group("Show latent layer")
        self.layer_combo = QComboBox(self)
        self.layer_combo.addItem("none", "")
        self.layer_combo.currentIndexChanged.connect(
            lambda: self.layer_requested.emit(self.layer_combo.currentData() or "")
        )
        self.legend = Legend(self)
        self.legend.set_range(None)
        layout = QVBoxLayout(box)
        layout.addWidget(self.layer_combo)
        layout.addWidget(self.legend)

    def _build_research(self) -> None:
        box = self._group("Research")
        self.sweep_button = QPushButton("Sweep sheet…", self)
        self.embedding_button = QPushButton("Embedding…", self)
        self.sweep_button.clicked.connect(self.sweep_requested)
        self.embedding_button.clicked.connect(self.embedding_requested)
        row = QHBoxLayout(box)
        row.addWidget(self.sweep_button)
        row.addWidget(self.embedding_button)

    # -- state ---------------------------------------------------------------------
    def _changed(self, *_: object) -> None:
        if not self._quiet:
            self.edit_changed.emit()

    def set_active(self, active: bool) -> None:
        """Enable the controls (a VDIR model is chosen and an image is open)."""
        self.inactive_hint.setVisible(not active)
        for box in self.findChildren(QGroupBox):
            box.setEnabled(active)

    def is_active(self) -> bool:
        """Whether the controls are enabled (see :meth:`set_active`)."""
        return self.inactive_hint.isHidden()

    def quick_previews(self) -> bool:
        """Whether previews should run on the model's quick preview restorer."""
        return self.quick_preview.isEnabled() and self.quick_preview.isChecked()

    def show_layer(self, name: str) -> None:
        """Choose the latent layer ``name`` in the list (emits ``layer_requested``)."""
        self.layer_combo.setCurrentIndex(self.layer_combo.findData(name))

    def set_quick_available(self, available: bool) -> None:
        """Enable "Quick previews" when the chosen model ships a quick preview restorer."""
        self.quick_preview.setEnabled(available)
        self.quick_preview.setToolTip(
            "Previews use a distilled restorer, about 2x quicker on a CPU and a little "
            "less clean; Render full image always uses the full model"
            if available else "This model has no quick preview restorer"
        )  # fmt: skip

    def edit(self) -> LatentEdit:
        """The LatentEdit the controls describe (the map is named, not included)."""
        transplant = None
        if self.transplant_box.isChecked() and self.transplant_ref is not None:
            target = self.target if self.apply_region.isChecked() else None
            transplant = Transplant(self.transplant_ref, target)
        interpolation = None
        if self.interp_box.isChecked() and self.other_ref is not None:
            interpolation = Interpolation(self.other_ref, self.interp.value())
        return LatentEdit(
            strength=self.strength.value(),
            gains=tuple(s.value() for s in self.gains),
            offsets=tuple(s.value() for s in self.offsets),
            transplant=transplant,
            interpolation=interpolation,
            sample=self.sample.isChecked(),
            seed=self.seed.value(),
            map_gain=self.map_gain.value() if self.use_map.isChecked() else 0.0,
            steer_sigma=self.step.value() or None,
        )

    def set_edit(self, edit: LatentEdit, emit: bool = True) -> None:
        """Show ``edit`` in the controls (one ``edit_changed`` at the end when ``emit``)."""
        self._quiet = True
        try:
            self.strength.set_value(edit.strength)
            self.step.setValue(edit.steer_sigma or 0.0)
            for k in range(CHANNELS):
                self.gains[k].set_value(edit.gains[k])
                self.offsets[k].set_value(edit.offsets[k])
            self.sample.setChecked(edit.sample)
            self.seed.setValue(edit.seed)
            self.map_gain.set_value(edit.map_gain or 1.0)
            self.use_map.setChecked(edit.map_gain != 0.0)
            self._set_transplant(edit.transplant)
            self.set_source("interpolation", edit.interpolation.ref if edit.interpolation else None)
            self.interp_box.setChecked(edit.interpolation is not None)
            self.interp.set_value(edit.interpolation.t if edit.interpolation else 0.0)
        finally:
            self._quiet = False
        if emit:
            self._changed()

    def _set_transplant(self, part: Transplant | None) -> None:
        self.set_source("transplant", part.ref if part else None)
        self.target = part.apply_to if part else None
        self.apply_region.setChecked(self.target is not None)
        self.apply_global.setChecked(self.target is None)
        self.transplant_box.setChecked(part is not None)

    def set_source(self, what: str, ref: LatentRef | None) -> None:
        """Set the transplant ("transplant") or B ("interpolation") source; checks its box."""
        if what == "transplant":
            self.transplant_ref = ref
            self.transplant_label.setText(describe(ref))
            box = self.transplant_box
        else:
            self.other_ref = ref
            self.other_label.setText(describe(ref))
            box = self.interp_box
        if ref is not None and not box.isChecked():
            box.setChecked(True)  # emits edit_changed
        else:
            self._changed()

    def set_target(self, rect: Rect | None) -> None:
        """Where the transplant applies (None: the whole image)."""
        self.target = rect
        (self.apply_region if rect is not None else self.apply_global).setChecked(True)
        text = "region ▭" if rect is None else f"region {rect[3] - rect[1]}×{rect[2] - rect[0]}"
        self.apply_region.setText(text)
        self._changed()

    def _choose_file(self, what: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Latent from image", "", IMAGE_FILTER)
        if path:
            self.set_source(what, LatentRef("image", path=path))

    def reset_channel(self, k: int) -> None:
        self.gains[k].reset()
        self.offsets[k].reset()

    def reset_channels(self) -> None:
        self._quiet = True
        try:
            for k in range(CHANNELS):
                self.reset_channel(k)
        finally:
            self._quiet = False
        self._changed()

    # -- readouts ------------------------------------------------------------------
    def set_estimate(self, text: str | None) -> None:
        """The global EST readout (None: nothing rendered yet)."""
        self.est_label.setText(text or "Render once to see the latent code and its estimate.")

    def set_cursor_estimate(self, text: str) -> None:
        self.cursor_label.setText(text)

    def set_layers(self, names: list[str]) -> None:
        """The latent layers that can be shown (keeps the current choice when possible)."""
        current = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem("none", "")
        for name in names:
            self.layer_combo.addItem(name, name)
        index = self.layer_combo.findData(current)
        self.layer_combo.setCurrentIndex(max(0, index))
        self.layer_combo.blockSignals(False)

    def set_legend(self, value_range: tuple[float, float] | None, title: str = "") -> None:
        self.legend.set_range(value_range, title)
