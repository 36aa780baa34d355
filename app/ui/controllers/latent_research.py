"""The Latent dock's research views, for a :class:`~.latent.LatentController`.

Uncertainty (N sampled restorations -> a spread layer), the sweep sheet and the
embedding view of the current VDIR model. The model work runs on the window's Background
thread; results land on the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from app.core.history import SetLayerData
from app.core.layers import Layer, LayerKind
from app.ml.steering.edit import CROP_ALIGN
from app.workers.function_job import device_of

if TYPE_CHECKING:
    from app.core.document import Document
    from app.ui.controllers.latent import LatentController
    from app.ui.dialogs.embedding import EmbeddingDialog
    from app.ui.dialogs.sweep import SweepDialog

Rect = tuple[int, int, int, int]
UNCERTAINTY_LAYER = "Uncertainty"


class LatentResearch:
    """Uncertainty layer, sweep sheet and embedding view for ``latent``'s window."""

    def __init__(self, latent: LatentController) -> None:
        self.latent = latent
        self.window = latent.window
        self.highlight: QGraphicsRectItem | None = None
        self.sweep_dialog: SweepDialog | None = None
        self.embedding_dialog: EmbeddingDialog | None = None

    def _base(self) -> Any:
        """The plain VDIR service chosen in the Restore panel, None when inactive."""
        choice = self.latent.restore_panel.selection()
        if not self.latent.active() or choice is None:
            return None
        return self.latent.base_service(choice[0], choice[1])

    # -- uncertainty -----------------------------------------------------------------
    def run_uncertainty(self, n: int, seed: int) -> None:
        """Restore ``n`` sampled latents in the background; the spread becomes a layer."""
        base = self._base()
        if base is None:
            return
        from app.ml.steering import uncertainty

        doc = self.window.document
        assert doc is not None
        image, edit = doc.original.data, self.latent.current_edit()
        self.window.status.showMessage(f"Restoring {n} sampled latents…")
        self.window.background.run(
            lambda: uncertainty(base, image, n, seed, edit=edit),
            lambda spread: self._put_uncertainty(doc, spread, n, seed),
            lambda message, details: self.window.show_error("Uncertainty failed", message, details),
            device=device_of(base),
        )

    def _put_uncertainty(self, doc: Document, spread: np.ndarray, n: int, seed: int) -> None:
        if doc is not self.window.document:
            return
        hi = float(spread.max()) or 1e-6
        meta = {"scale": 1, "range": [0.0, hi], "samples": n, "seed": seed}
        layer = doc.layers.find(LayerKind.LATENT, UNCERTAINTY_LAYER)
        if layer is None:
            doc.add_layer(
                Layer(UNCERTAINTY_LAYER, LayerKind.LATENT, spread, visible=False, meta=meta)
            )
        else:
            doc.history.push(SetLayerData(layer, spread, "Replace uncertainty", meta=meta))
        self.latent.refresh_readouts()
        self.latent.panel.show_layer(UNCERTAINTY_LAYER)
        self.window.status.showMessage(f"Uncertainty of {n} samples: max spread {hi:.3f}", 5000)

    # -- research views ------------------------------------------------------------
    def visible_crop(self) -> tuple[np.ndarray, Rect]:
        """The visible region of the original (corner on the 8x8 JPEG grid) and its box."""
        doc = self.window.document
        assert doc is not None
        h, w = doc.size
        roi = self.window.area.view.visible_rect() or (0, 0, h, w)
        y0, x0, y1, x1 = roi
        y0, x0 = y0 - y0 % CROP_ALIGN, x0 - x0 % CROP_ALIGN
        return doc.original.data[y0:y1, x0:x1].copy(), (y0, x0, y1, x1)

    def open_sweep(self) -> None:
        from app.ui.dialogs.sweep import SweepDialog

        base = self._base()
        if base is None:
            return
        crop, _ = self.visible_crop()
        dialog = SweepDialog(base, crop, self.latent.current_edit(), self.window.background,
                             self.window)  # fmt: skip
        self.sweep_dialog = dialog
        dialog.show()

    def open_embedding(self) -> None:
        from app.ui.dialogs.embedding import EmbeddingDialog

        base = self._base()
        doc = self.window.document
        if base is None or doc is None:
            return
        dialog = EmbeddingDialog(base, doc.original.data, self.window.background, self.window)
        dialog.patch_clicked.connect(self.highlight_patch)
        self.embedding_dialog = dialog
        dialog.show()

    def highlight_patch(self, rect: Rect) -> None:
        """Outline ``rect`` (y0, x0, y1, x1) on the canvas and bring it into view."""
        self.clear_highlight()
        y0, x0, y1, x1 = rect
        pen = QPen(QColor(120, 220, 255), 2.0)
        pen.setCosmetic(True)
        highlight = self.window.area.scene.addRect(x0, y0, x1 - x0, y1 - y0, pen)
        highlight.setZValue(10_000)
        self.highlight = highlight
        self.window.area.view.ensureVisible(highlight)

    def clear_highlight(self) -> None:
        if self.highlight is not None and self.highlight.scene() is not None:
            self.highlight.scene().removeItem(self.highlight)
        self.highlight = None
