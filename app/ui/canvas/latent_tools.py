"""Canvas tools of the latent panel: the latent brush's editor, a rectangle picker.

The latent brush reuses the mask machinery unchanged: :class:`StrengthEditor` is a
:class:`~app.ui.canvas.mask_edit.MaskEditor` on the document's STRENGTH layer (created
filled with 0.5 = neutral on first use), so strokes are painted live, recorded as one undo
step each and saved in the project like the mask. Painting raises the map toward 1
("clean more"), erasing (Alt, or the tool's ``erase`` flag) lowers it toward 0 ("keep
more").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPen, QTransform

from app.core.layers import Layer, LayerKind
from app.ui.canvas.mask_edit import MaskEditor
from app.ui.canvas.tools import RectDragTool

STRENGTH_LAYER = "Latent strength"
NEUTRAL = 0.5
Rect = tuple[int, int, int, int]


def strength_layer(doc: Any, create: bool = True) -> Layer | None:
    """The document's STRENGTH layer; with ``create`` a neutral one is added (an undo
    step) when there is none."""
    if doc is None:
        return None
    layer: Layer | None = doc.layers.find(LayerKind.STRENGTH)
    if layer is None and create:
        layer = Layer(STRENGTH_LAYER, LayerKind.STRENGTH, np.full(doc.size, NEUTRAL, np.float32))
        doc.add_layer(layer)
    return layer


class StrengthEditor(MaskEditor):
    """A MaskEditor whose target is the STRENGTH layer (see the module docstring)."""

    def layer(self) -> Any:
        return strength_layer(self._doc(), create=True)

    def clear(self) -> None:
        self.replace("Clear strength map", np.full_like(self.layer().data, NEUTRAL))

    def end_stroke(self) -> None:
        erase = self._erase
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        cmd = recorder.command("Latent brush: keep more" if erase else "Latent brush: clean more")
        if cmd is not None:
            self._doc().history.push(cmd, already_done=True)


class PickRectTool(RectDragTool):
    """Drag a rectangle and hand it to ``on_pick((y0, x0, y1, x1))``; paints nothing."""

    name = "pick"
    min_size = 4.0

    def __init__(self, editor: MaskEditor, on_pick: Callable[[Rect], None] | None = None) -> None:
        super().__init__(editor)
        self.on_pick = on_pick

    def finish(self, box: tuple[int, int, int, int]) -> None:
        if self.on_pick is not None:
            self.on_pick(box)

    def paint(self, painter: QPainter, to_view: QTransform) -> None:
        r = self.rect()
        if r is None:
            return
        pen = QPen(QColor(120, 220, 255), 1.5)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QColor(120, 220, 255, 40))
        painter.drawRect(to_view.mapRect(r))
