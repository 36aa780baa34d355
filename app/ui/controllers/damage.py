"""DamageController: the Damage dock's work for a window.

- **Detect** runs the damage detector through the window's JobRunner (channel
  ``"detect"``); the probability lands as a PROBABILITY layer (hidden) and the mask as
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
services lazily, on first use. The widgets are :class:`~app.ui.panels.damage.DamagePanel`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from app.core import masks
from app.core.document import AppendRecipe
from app.core.layers import Layer, LayerKind
from app.ui.panels.damage import DamagePanel
from app.ui.stage_layers import PROBABILITY_NAME
from app.workers.jobs import Job, JobResult

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

PIPELINE_KEY = "old-photo/pipeline"
DETECTED_TEXT = "Detected damage"


def default_detect_service() -> Any:
    """The shipped detector (or the top-hat baseline) as a pool Service (imports torch)."""
    from app.ml import registry

    return registry.create_detect_service()


def default_inpaint_service() -> Any:
    """The shipped learned inpainting service, else Telea (imports torch)."""
    from app.ml import registry

    return registry.create_inpainter()


def default_pipeline_service() -> Any:
    """The old-photo pipeline of ``models/`` and the registry as a Service (imports torch)."""
    from app.ml import registry

    return registry.create_old_photo_service()


def pipeline_info() -> Any:
    """The pipeline's ServiceInfo (for the Restore dock; imports no torch)."""
    from app.ml.services.old_photo import PIPELINE_INFO

    return PIPELINE_INFO


class DamageController(QObject):
    """Owns the Damage panel of ``window``; runs detection, inpainting and the pipeline."""

    detected = Signal()  # the probability layer and mask are in the document

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel = DamagePanel(window)
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
        window.document_changed.connect(self._on_document)
        window.jobs.result_applied.connect(self._on_result)
        self._inpainting = False
        panel.set_enabled_for(window.document)
        window.restore.panel.add_service(pipeline_info())

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
        self._job = self.window.jobs.run(job, self._on_detected, self._on_failed)
        if self._job is not None:
            self.panel.set_status("Detecting damage…")
        return self._job

    def _on_detected(self, result: JobResult) -> None:
        if self.doc is None:
            return
        self._job = None
        prob = np.asarray(result.extra["layers"]["probability"], np.float32)
        self._put_probability(prob)
        self._step = None
        self.update_mask(*self.panel.values())
        self.panel.detect_check.setChecked(False)  # Repair all now uses this (corrected) mask
        self.panel.set_status(f"Damage found in {result.elapsed_s:.1f} s; adjust or paint")
        self.detected.emit()

    def _on_failed(self, message: str, details: str) -> None:
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
        layer: Layer | None = self.doc.layers.find(LayerKind.PROBABILITY, None)
        return layer

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
