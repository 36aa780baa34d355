"""DegradeController: the Degrade panel: open a synthetically degraded copy of the image.

The clean image (the ground truth when the document has one, else the original) is
degraded on the window's Background thread; the copy opens as a new document whose
ground truth is the clean image, so the Restore panel can show PSNR/SSIM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject

from app.core.degradations import DegradationSpec, degrade
from app.core.document import Document
from app.ui.panels.degrade import DegradePanel

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


class DegradeController(QObject):
    """Owns the Degrade panel of ``window`` and opens what it synthesises."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = DegradePanel(window)
        self.panel.apply_requested.connect(self.apply_degradation)

    def apply_degradation(self, spec: DegradationSpec) -> None:
        """Open a degraded copy of the clean image as a new document (ground truth kept)."""
        doc = self.window.document
        if doc is None:
            return
        truth = doc.ground_truth if doc.ground_truth is not None else doc.original.data
        clean = truth.copy()
        self.window.status.showMessage("Synthesising the degradation…")
        self.window.background.run(
            lambda: degrade(clean, spec),
            lambda result: self._open_degraded(doc, clean, result),
            self._degrade_failed,
        )

    def _degrade_failed(self, message: str, details: str) -> None:
        self.window.show_error("Degradation failed", message, details)

    def _open_degraded(self, parent: Document, clean: np.ndarray, degraded: Any) -> None:
        image = degraded.image
        truth = clean if clean.shape == image.shape else None
        recipe = [{"task": "degrade", "method": "synthetic", "params": degraded.spec.to_dict()}]
        doc = Document.from_image(
            image, parent.meta, source=None, ground_truth=truth, recipe=recipe
        )
        if float(degraded.mask.max(initial=0.0)) > 0:
            mask = doc.mask_layer(create=True)
            mask.set_data(degraded.mask)
        if not self.window.files.confirm_discard():
            return
        self.window.set_document(doc)
        self.window.status.showMessage(
            "Degraded copy opened; the clean image is its ground truth", 4000
        )
        self.window.background.run(
            doc.input_metrics, self.panel.set_input_metrics, lambda message, details: None
        )
