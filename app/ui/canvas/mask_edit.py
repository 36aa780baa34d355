"""MaskEditor: paints on the document's mask layer and records each edit as one undo step.

A stroke is applied segment by segment as the mouse moves (core ``apply_stroke`` on the
mask in place, then ``notify_data(rect)`` so only that rectangle is redrawn). To build
the undo patch without copying a whole 24 MP mask at every press, a core
``PatchRecorder`` saves the blocks each dab may touch; on release it yields one
``MaskPatchEdit`` that is pushed with ``already_done=True`` (the core History drives
the Edit menu directly; there is no QUndoStack).

Rectangles are ``(y0, x0, y1, x1)`` in mask pixels, end-exclusive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core import masks
from app.core.history import MaskPatchEdit, PatchRecorder

Rect = tuple[int, int, int, int]


@dataclass
class BrushSettings:
    """Brush radius in image pixels and hardness in [0, 1] (1 = hard edge)."""

    radius: float = 24.0
    hardness: float = 0.7


class MaskEditor:
    """Edits ``document.mask_layer()``; ``history`` receives one command per edit."""

    def __init__(self, document_getter: Callable[[], Any]) -> None:
        self._doc = document_getter
        self.brush = BrushSettings()
        self._recorder: PatchRecorder | None = None
        self._last: tuple[float, float] | None = None
        self._erase = False

    # -- helpers -----------------------------------------------------------------
    def layer(self) -> Any:
        """The mask layer, created (empty) if the document has none."""
        return self._doc().mask_layer(create=True)

    def _push(self, text: str, rect: Rect, before: np.ndarray, after: np.ndarray) -> None:
        cmd = MaskPatchEdit(self.layer(), rect, before, after, text)
        self._doc().history.push(cmd, already_done=True)

    # -- strokes -----------------------------------------------------------------
    def begin_stroke(self, x: float, y: float, erase: bool = False) -> None:
        """Start a stroke at image position (x, y) and paint the first dab."""
        self._recorder = PatchRecorder(self.layer())
        self._erase = erase
        self._last = None
        self.stroke_to(x, y)

    def stroke_to(self, x: float, y: float) -> Rect | None:
        """Continue the stroke to (x, y), interpolating from the last point; dirty rect."""
        if self._recorder is None:
            return None
        points = ((x, y),) if self._last is None else (self._last, (x, y))
        self._last = (x, y)
        layer = self.layer()
        stroke = masks.BrushStroke(
            points=points,
            radius=self.brush.radius,
            hardness=self.brush.hardness,
            erase=self._erase,
        )
        bounds = masks.stroke_bounds(stroke, layer.data.shape)
        if bounds is None:
            return None
        self._recorder.save(bounds)
        rect = masks.apply_stroke(layer.data, stroke)
        if rect is not None:
            layer.notify_data(tuple(int(v) for v in rect))
        return rect

    def end_stroke(self) -> None:
        """Finish the stroke: one undo step covering every pixel it changed."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        cmd = recorder.command("Erase mask" if self._erase else "Brush stroke")
        if cmd is not None:
            self._doc().history.push(cmd, already_done=True)

    def abort_stroke(self) -> None:
        """Abandon the stroke: restore the pixels it changed, record nothing."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.restore()

    @property
    def painting(self) -> bool:
        return self._recorder is not None

    # -- shapes and whole-mask operations ------------------------------------------
    def fill_rect(self, rect: Rect, erase: bool = False) -> None:
        """Fill (or clear with ``erase``) rectangle ``rect``."""
        value = 0.0 if erase else 1.0
        self._region_edit("Fill rectangle", rect, lambda m: masks.fill_rect(m, *rect, value=value))

    def fill_polygon(self, points: Sequence[tuple[float, float]], erase: bool = False) -> None:
        """Fill (or clear) the polygon through image points (x, y)."""
        if len(points) < 3:
            return
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        rect = (int(min(ys)) - 1, int(min(xs)) - 1, int(max(ys)) + 2, int(max(xs)) + 2)
        value = 0.0 if erase else 1.0
        self._region_edit("Lasso fill", rect, lambda m: masks.fill_polygon(m, points, value))

    def _region_edit(self, text: str, rect: Rect, fn: Callable[[np.ndarray], Any]) -> None:
        layer = self.layer()
        h, w = layer.data.shape
        rect = (max(0, rect[0]), max(0, rect[1]), min(h, rect[2]), min(w, rect[3]))
        if rect[2] <= rect[0] or rect[3] <= rect[1]:
            return
        y0, x0, y1, x1 = rect
        before = layer.data[y0:y1, x0:x1].copy()
        fn(layer.data)
        after = layer.data[y0:y1, x0:x1].copy()
        layer.notify_data(rect)
        if not np.array_equal(before, after):
            self._push(text, rect, before, after)

    def replace(self, text: str, new_mask: np.ndarray) -> None:
        """Replace the whole mask with ``new_mask`` (H, W) float32 as one undo step."""
        layer = self.layer()
        h, w = layer.data.shape
        before = layer.data.copy()
        after = np.clip(new_mask.astype(np.float32), 0, 1)
        if after.shape != (h, w):
            raise ValueError(f"mask is {after.shape[1]}x{after.shape[0]}, image is {w}x{h}")
        layer.data[...] = after
        layer.notify_data(None)
        self._push(text, (0, 0, h, w), before, after)

    def clear(self) -> None:
        self.replace("Clear mask", np.zeros_like(self.layer().data))

    def invert(self) -> None:
        self.replace("Invert mask", 1.0 - self.layer().data)

    def grow(self, pixels: int) -> None:
        """Dilate (``pixels`` > 0) or erode (< 0) the mask."""
        text = "Grow mask" if pixels > 0 else "Shrink mask"
        self.replace(text, masks.grow(self.layer().data.copy(), pixels))

    def feather(self, pixels: float) -> None:
        self.replace("Feather mask", masks.feather(self.layer().data.copy(), pixels))
