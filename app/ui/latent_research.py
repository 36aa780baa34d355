"""The Latent dock's research actions, mixed into the window with LatentActions.

Uncertainty (N sampled restorations -> a spread layer), the sweep sheet and the
embedding view. The model work runs on the window's Background thread; results land on
the GUI thread. Needs the window's ``document``, ``background``, ``restore_panel``,
``area``, ``latent_panel`` and LatentActions' ``base_service`` and ``current_edit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.history import SetLayerData
from app.core.layers import Layer, LayerKind
from app.ml.steering.edit import CROP_ALIGN

Rect = tuple[int, int, int, int]
UNCERTAINTY_LAYER = "Uncertainty"


class LatentResearch:
    """Uncertainty layer, sweep sheet and embedding view of the current VDIR model."""

    document: Any
    highlight: Any

    # -- uncertainty -----------------------------------------------------------------
    def run_uncertainty(self, n: int, seed: int) -> None:
        """Restore ``n`` sampled latents in the background; the spread becomes a layer."""
        choice = self.restore_panel.selection()  # type: ignore[attr-defined]
        if not self.latent_active() or choice is None:
            return
        from app.ml.steering import uncertainty

        base = self.base_service(choice[0], choice[1])
        image = self.document.original.data
        edit = self.current_edit()
        doc = self.document
        self.statusBar().showMessage(f"Restoring {n} sampled latents…")  # type: ignore[attr-defined]
        self.background.run(  # type: ignore[attr-defined]
            lambda: uncertainty(base, image, n, seed, edit=edit),
            lambda spread: self._put_uncertainty(doc, spread, n, seed),
            lambda message, details: self.show_error("Uncertainty failed", message, details),  # type: ignore[attr-defined]
        )

    def _put_uncertainty(self, doc: Any, spread: np.ndarray, n: int, seed: int) -> None:
        if doc is not self.document:
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
        self._refresh_latent_readouts()
        self.latent_panel.layer_combo.setCurrentIndex(
            self.latent_panel.layer_combo.findData(UNCERTAINTY_LAYER)
        )
        self.statusBar().showMessage(f"Uncertainty of {n} samples: max spread {hi:.3f}", 5000)  # type: ignore[attr-defined]

    # -- research views ------------------------------------------------------------
    def visible_crop(self) -> tuple[np.ndarray, Rect]:
        """The visible region of the original (corner on the 8x8 JPEG grid) and its box."""
        doc = self.document
        h, w = doc.size
        roi = self.area.view.visible_rect() or (0, 0, h, w)  # type: ignore[attr-defined]
        y0, x0, y1, x1 = roi
        y0, x0 = y0 - y0 % CROP_ALIGN, x0 - x0 % CROP_ALIGN
        return doc.original.data[y0:y1, x0:x1].copy(), (y0, x0, y1, x1)

    def open_sweep(self) -> None:
        from app.ui.dialogs.sweep import SweepDialog

        choice = self.restore_panel.selection()  # type: ignore[attr-defined]
        if not self.latent_active() or choice is None:
            return
        crop, _ = self.visible_crop()
        dialog = SweepDialog(self.base_service(choice[0], choice[1]), crop,
                             self.current_edit(), self.background, self)  # type: ignore[arg-type, attr-defined]  # fmt: skip
        self.sweep_dialog = dialog
        dialog.show()

    def open_embedding(self) -> None:
        from app.ui.dialogs.embedding import EmbeddingDialog

        choice = self.restore_panel.selection()  # type: ignore[attr-defined]
        if not self.latent_active() or choice is None:
            return
        base = self.base_service(choice[0], choice[1])
        dialog = EmbeddingDialog(base, self.document.original.data, self.background, self)  # type: ignore[arg-type, attr-defined]
        dialog.patch_clicked.connect(self.highlight_patch)
        self.embedding_dialog = dialog
        dialog.show()

    def highlight_patch(self, rect: Rect) -> None:
        """Outline ``rect`` (y0, x0, y1, x1) on the canvas and bring it into view."""
        from PySide6.QtGui import QColor, QPen

        self._clear_highlight()
        y0, x0, y1, x1 = rect
        pen = QPen(QColor(120, 220, 255), 2.0)
        pen.setCosmetic(True)
        scene = self.area.scene  # type: ignore[attr-defined]
        self.highlight = scene.addRect(x0, y0, x1 - x0, y1 - y0, pen)
        self.highlight.setZValue(10_000)
        self.area.view.ensureVisible(self.highlight)  # type: ignore[attr-defined]

    def _clear_highlight(self) -> None:
        if self.highlight is not None and self.highlight.scene() is not None:
            self.highlight.scene().removeItem(self.highlight)
        self.highlight = None
