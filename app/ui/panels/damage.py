"""Damage panel: detect scratches and dust, tune the mask live, inpaint it, or repair all.

:class:`DamagePanel` holds the widgets (Detect, threshold and grow sliders, Inpaint, and
the one-click pipeline: Repair all, its Detect check box and Upscale factor);
:class:`DamageController` does the work for a window:

- **Detect** runs the damage detector on the worker pool (channel ``"detect"``); the
  probability lands as a PROBABILITY layer (hidden) and the mask as
  ``threshold(prob) grown by grow px`` in the mask layer — each one undo step.
- **Sliders** recompute the mask live from the probability. Consecutive slider moves
  replace their own undo step instead of piling up. The detector never overwrites a
  mask the user painted (or had before detecting) without asking: :attr:`ask` returns
  "replace", "merge" (keep the user's pixels, add the detection) or "cancel".
- **Inpaint** renders the ``inpaint`` service on the mask into the result layer (the
  window's normal render path: progress, cancel, undo).
- **Repair all** renders the old-photo pipeline (``old-photo/pipeline``, also listed in
  the Restore dock) with the sliders' threshold and grow: detect (merged with the mask
  the user has; unticking *Detect* uses only that mask) -> inpaint -> restore ->
  upscale. Every stage lands as its own layer and undo step
  (:mod:`app.ui.stage_layers`). After a detection or a repair *Detect* is unticked, so
  a second repair uses the corrected mask instead of re-adding what the user erased.

Services are made by factories (tests inject tiny ones); the defaults import the ML
services lazily, on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from app.core import masks
from app.core.document import AppendRecipe
from app.core.layers import Layer, LayerKind
from app.ui.stage_layers import PROBABILITY_NAME
from app.workers.jobs import Job

PIPELINE_KEY = "old-photo/pipeline"
# the pipeline's ``restore`` choices (app.ml.services.old_photo.RESTORERS), as shown
RESTORE_CHOICES = (("Print (fading, blur, fine grain)", "print"),
                   ("Film grain / camera noise", "grain"))  # fmt: skip
DETECTED_TEXT = "Detected damage"


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


def default_detect_service() -> Any:
    """The shipped detector (or the top-hat baseline) as a pool Service (imports torch)."""
    from app.ml.services.detect import DetectService

    return DetectService()


def default_inpaint_service() -> Any:
    """The shipped learned inpainting service, else Telea (imports torch)."""
    from app.ml.services.old_photo import default_inpainter

    return default_inpainter()


def default_pipeline_service() -> Any:
    """The old-photo pipeline of ``models/`` and the registry as a Service (imports torch)."""
    from app.ml.services.old_photo import OldPhotoService, default_pipeline

    return OldPhotoService(default_pipeline())


def pipeline_info() -> Any:
    """The pipeline's ServiceInfo (for the Restore dock; imports no torch)."""
    from app.ml.services.old_photo import PIPELINE_INFO

    return PIPELINE_INFO


class DamageController(QObject):
    """Runs detection and inpainting for ``window`` (a MainWindow) from ``panel``."""

    detected = Signal()  # the probability layer and mask are in the document

    def __init__(self, window: Any, panel: DamagePanel) -> None:
        super().__init__(window)
        self.window, self.panel = window, panel
        self.detect_factory: Callable[[], Any] = default_detect_service
        self.inpaint_factory: Callable[[], Any] = default_inpaint_service
        self.pipeline_factory: Callable[[], Any] = default_pipeline_service
        self.ask: Callable[[], str] = self._ask_user
        self._job: int | None = None
        self._set: np.ndarray | None = None  # the mask this controller last wrote
        self._base: np.ndarray | None = None  # user pixels kept by "merge"
        self._step: tuple[int, str] | None = None
        self._method = "detector"
        panel.detect_requested.connect(self.detect)
        panel.inpaint_requested.connect(self.inpaint)
        panel.pipeline_requested.connect(self.run_pipeline)
        window.jobs.factories[PIPELINE_KEY] = lambda: self.pipeline_factory()
        window.jobs.stages_applied.connect(self._on_stages)
        panel.mask_params_changed.connect(self.update_mask)
        window.pool.finished.connect(self._on_finished)
        window.pool.failed.connect(self._on_failed)
        window.document_changed.connect(self._on_document)
        window.jobs.result_applied.connect(self._on_result)
        self._inpainting = False
        panel.set_enabled_for(window.document)

    @property
    def doc(self) -> Any:
        return self.window.document

    def _on_document(self, doc: Any) -> None:
        self._job, self._set, self._base, self._step = None, None, None, None
        self.panel.set_enabled_for(doc)
        self.panel.detect_check.setChecked(True)

    # -- detection -------------------------------------------------------------------
    def detect(self) -> int | None:
        """Submit detection of the whole image; returns the job id (None: no document)."""
        if self.doc is None:
            return None
        service = self.detect_factory()
        self._method = str(getattr(getattr(service, "detector", None), "method", "detector"))
        job = Job(task="old-photo", method="detect", image=self.doc.original.data,
                  kind="render", channel="detect", service=service)  # fmt: skip
        self._job = self.window.pool.submit(job)
        self.panel.set_status("Detecting damage…")
        return self._job

    def _on_finished(self, job_id: int, result: Any) -> None:
        if job_id != self._job or self.doc is None:
            return
        self._job = None
        prob = np.asarray(result.extra["layers"]["probability"], np.float32)
        self._put_probability(prob)
        self._step = None
        self.update_mask(*self.panel.values())
        self.panel.detect_check.setChecked(False)  # Repair all now uses this (corrected) mask
        self.panel.set_status(f"Damage found in {result.elapsed_s:.1f} s; adjust or paint")
        self.detected.emit()

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        if job_id == self._job:
            self._job = None
            self.panel.set_status(f"Detection failed: {message}")

    def _put_probability(self, prob: np.ndarray) -> None:
        layer = self.probability_layer()
        if layer is not None:
            self.doc.remove_layer(layer)
        self.doc.add_layer(Layer(PROBABILITY_NAME, LayerKind.PROBABILITY, prob, visible=False))

    def probability_layer(self) -> Layer | None:
        """The document's damage-probability layer, if any."""
        if self.doc is None:
            return None
        return self.doc.layers.find(LayerKind.PROBABILITY, None)  # type: ignore[no-any-return]

    # -- live mask -------------------------------------------------------------------
    def update_mask(self, threshold: float, grow: int) -> None:
        """Write ``grow(prob >= threshold)`` into the mask (asking before replacing the
        user's own mask); consecutive updates share one undo step."""
        layer = self.probability_layer()
        if layer is None:
            return
        detected = masks.from_probability(layer.data, threshold, grow)
        if self._user_edited() and not self._resolve_conflict():
            return
        new = detected if self._base is None else np.maximum(self._base, detected)
        self._drop_own_step()
        entry = {"task": "detect", "method": self._method,
                 "params": {"threshold": round(threshold, 3), "grow": grow}}  # fmt: skip
        with self.doc.history.macro(DETECTED_TEXT):
            self.doc.set_mask(new, DETECTED_TEXT)
            self.doc.history.push(AppendRecipe(self.doc, entry))
        history = self.doc.history
        self._step = (len(history.undo_texts), history.undo_text)
        self._set = self.doc.mask_layer().data.copy()

    def _user_edited(self) -> bool:
        """True when the mask holds pixels this controller did not write."""
        mask = self.doc.mask_layer(create=False)
        if mask is None or not mask.data.any():
            return False
        return self._set is None or not np.array_equal(mask.data, self._set)

    def _resolve_conflict(self) -> bool:
        """Ask what to do with the user's mask; False when the update is cancelled."""
        choice = self.ask()
        if choice == "cancel":
            self.panel.set_status("Kept your mask (detection not applied)")
            return False
        mask = self.doc.mask_layer().data
        self._base = mask.copy() if choice == "merge" else None
        self._step = None
        return True

    def _drop_own_step(self) -> None:
        """Undo the previous slider update if it is still the newest undo step."""
        step, self._step = self._step, None
        history = self.doc.history
        if step is not None and (len(history.undo_texts), history.undo_text) == step:
            history.undo()

    def _ask_user(self) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Replace your mask?",
                          "The mask has pixels you painted. Replace it with the detected "
                          "damage, or merge both?", parent=self.window)  # fmt: skip
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        merge = box.addButton("Merge", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "replace" if clicked is replace else "merge" if clicked is merge else "cancel"

    # -- inpainting ------------------------------------------------------------------
    def inpaint(self) -> Any:
        """Render the inpainting service on the current mask into the result layer."""
        if self.doc is None or self.doc.mask_layer(create=False) is None:
            self.panel.set_status("Paint or detect a mask first")
            return None
        service = self.inpaint_factory()
        self.panel.set_status("Inpainting…")
        self._inpainting = True
        return self.window.jobs.render("inpaint", service.info.method, {}, service=service)

    def _on_result(self, kind: str) -> None:
        if self._inpainting and kind == "render":
            self._inpainting = False
            self.panel.set_status("Inpainted into the result layer (Undo goes back)")

    # -- one-click pipeline ----------------------------------------------------------
    def run_pipeline(self) -> Any:
        """Render the old-photo pipeline with the panel's parameters on the whole image
        (the mask, if any, goes with it); returns the job id, None when nothing ran."""
        if self.doc is None:
            return None
        params = self.panel.pipeline_params()
        mask = self.doc.mask_layer(create=False)
        if not params["detect"] and (mask is None or not mask.data.any()):
            self.panel.set_status("Paint or detect a mask first, or tick Detect")
            return None
        self._inpainting = False
        self.panel.set_status("Repairing: detect, inpaint, restore, upscale…")
        return self.window.jobs.render("old-photo", "pipeline", params)

    def _on_stages(self, stages: list[str]) -> None:
        """A pipeline landed: say what, and use its (correctable) mask next time."""
        if "mask" in stages:
            self.panel.detect_check.setChecked(False)
        names = ", ".join(stages)
        self.panel.set_status(f"Repaired: {names} (each a layer; Undo walks back a stage)")


def install(window: Any) -> DamageController:
    """Add the Damage dock (tabbed with Restore) and its controller to ``window``."""
    panel = DamagePanel(window)
    dock = QDockWidget("Damage", window)
    dock.setObjectName("damageDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.restore_dock, dock)
    window.restore_dock.raise_()
    window.damage_dock = dock
    window.restore_panel.add_service(pipeline_info())
    return DamageController(window, panel)
