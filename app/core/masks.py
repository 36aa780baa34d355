"""Damage masks: brush strokes rasterised into the dirty rectangle only, plus mask operations.

Masks are float32 ``(H, W)`` arrays in [0, 1], 1 = damaged / to be filled. Coordinates
``(x, y)`` are image coordinates in pixels where pixel ``(row i, col j)`` covers
``[j, j+1) x [i, i+1)``, so its centre is ``(j + 0.5, i + 0.5)`` (Qt scene coordinates
of an image item at the origin). Rectangles are ``(y0, x0, y1, x1)`` with exclusive ends.

Functions that paint (:func:`apply_stroke`, :func:`fill_rect`, :func:`fill_polygon`,
:func:`clear`) change the mask in place and return the dirty rectangle; the others
return a new mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from app.core.errors import InvalidInputError

Rect = tuple[int, int, int, int]
Point = tuple[float, float]
_MORPH_STEP = 6  # largest disk radius per morphology pass; bigger radii chain passes


@dataclass(frozen=True)
class BrushStroke:
    """A polyline of ``points`` (x, y) painted with a round brush of ``radius`` px.

    ``hardness`` in [0, 1]: coverage is 1 within ``radius * hardness`` of the line and falls
    smoothly (smoothstep) to 0 at ``radius``. A ramp narrower than 1 px is widened to 1 px
    about its middle, so a hard brush is antialiased: 1 up to ``radius - 0.5``, 0 from
    ``radius + 0.5``. ``erase`` removes coverage instead of adding it.
    """

    points: tuple[tuple[float, float], ...]
    radius: float
    hardness: float = 1.0
    erase: bool = False

    def __post_init__(self) -> None:
        try:
            pts = tuple((float(x), float(y)) for x, y in self.points)
        except (TypeError, ValueError):
            raise InvalidInputError("brush stroke points must be (x, y) pairs") from None
        if not pts or not all(math.isfinite(v) for p in pts for v in p):
            raise InvalidInputError("a brush stroke needs at least one finite (x, y) point")
        if not (math.isfinite(self.radius) and self.radius > 0):
            raise InvalidInputError(f"brush radius must be positive, got {self.radius!r}")
        if not 0.0 <= self.hardness <= 1.0:
            raise InvalidInputError(f"brush hardness must be in [0, 1], got {self.hardness!r}")
        object.__setattr__(self, "points", pts)

    @property
    def ramp(self) -> tuple[float, float]:
        """(inner, outer) distances in px: coverage 1 up to ``inner``, 0 from ``outer`` on."""
        inner, outer = self.radius * self.hardness, self.radius
        if outer - inner < 1.0:
            mid = 0.5 * (inner + outer)
            inner, outer = max(0.0, mid - 0.5), max(0.0, mid - 0.5) + 1.0
        return inner, outer


def _clip_rect(y0: int, x0: int, y1: int, x1: int, size: tuple[int, ...]) -> Rect | None:
    y0, x0 = max(y0, 0), max(x0, 0)
    y1, x1 = min(y1, int(size[0])), min(x1, int(size[1]))
    return (y0, x0, y1, x1) if y0 < y1 and x0 < x1 else None


def _points_rect(pts: np.ndarray, reach: float, size: tuple[int, ...]) -> Rect | None:
    """Pixels whose centre lies strictly within ``reach`` of the bounding box of ``pts``."""
    (xmin, ymin), (xmax, ymax) = pts.min(axis=0), pts.max(axis=0)
    return _clip_rect(
        math.floor(ymin - reach - 0.5) + 1,
        math.floor(xmin - reach - 0.5) + 1,
        math.ceil(ymax + reach - 0.5),
        math.ceil(xmax + reach - 0.5),
        size,
    )


def stroke_bounds(stroke: BrushStroke, size: tuple[int, ...]) -> Rect | None:
    """Dirty rectangle ``(y0, x0, y1, x1)`` of ``stroke`` in a mask of ``size = (H, W)``.

    Clipped to the mask; None when the stroke lies entirely outside it.
    """
    return _points_rect(np.asarray(stroke.points, np.float64), stroke.ramp[1], size)


def _segment_dist2(a: np.ndarray, b: np.ndarray, rect: Rect) -> np.ndarray:
    """Squared distance from the pixel centres of ``rect`` to the segment ``a``-``b``."""
    y0, x0, y1, x1 = rect
    dx = (np.arange(x0, x1, dtype=np.float32) + np.float32(0.5 - a[0]))[None, :]
    dy = (np.arange(y0, y1, dtype=np.float32) + np.float32(0.5 - a[1]))[:, None]
    ex, ey = float(b[0] - a[0]), float(b[1] - a[1])
    length2 = ex * ex + ey * ey
    if length2 < 1e-12:
        return dx * dx + dy * dy
    t = np.clip((dx * (ex / length2) + dy * (ey / length2)), 0.0, 1.0)
    px, py = dx - t * ex, dy - t * ey
    return px * px + py * py


def rasterize_stroke(stroke: BrushStroke, size: tuple[int, ...]) -> tuple[np.ndarray, Rect] | None:
    """Coverage of ``stroke`` over its dirty rectangle in a mask of ``size = (H, W)``.

    Returns ``(patch, rect)``: float32 coverage in [0, 1] of shape ``(y1-y0, x1-x0)`` and the
    rectangle, or None when the stroke is outside the mask. Work is proportional to the
    area swept by each segment, independent of the mask size.
    """
    inner, outer = stroke.ramp
    rect = stroke_bounds(stroke, size)
    if rect is None:
        return None
    y0, x0, y1, x1 = rect
    dist2 = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    pts = np.asarray(stroke.points, np.float64)
    for a, b in zip(pts, pts[1:] if len(pts) > 1 else pts, strict=False):
        seg = _points_rect(np.stack([a, b]), outer, size)
        if seg is None:
            continue
        view = dist2[seg[0] - y0 : seg[2] - y0, seg[1] - x0 : seg[3] - x0]
        np.minimum(view, _segment_dist2(a, b, seg), out=view)
    t = np.clip((outer - np.sqrt(dist2)) / (outer - inner), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t), rect


def apply_stroke(mask: np.ndarray, stroke: BrushStroke) -> Rect | None:
    """Paint (``max(mask, cov)``) or erase (``mask * (1 - cov)``) ``stroke`` in place.

    Returns the dirty rectangle, or None when nothing was touched.
    """
    _check_mask(mask, writable=True)
    raster = rasterize_stroke(stroke, mask.shape)
    if raster is None:
        return None
    cov, (y0, x0, y1, x1) = raster
    view = mask[y0:y1, x0:x1]
    if stroke.erase:
        view *= 1.0 - cov
    else:
        np.maximum(view, cov, out=view)
    return y0, x0, y1, x1


def interpolate(points: Sequence[Sequence[float]], spacing: float) -> list[Point]:
    """``points`` with evenly spaced points inserted so neighbours are <= ``spacing`` apart.

    The input points are kept; raises InvalidInputError when ``spacing`` is not positive.
    """
    if not spacing > 0:
        raise InvalidInputError(f"point spacing must be positive, got {spacing!r}")
    pts = [(float(p[0]), float(p[1])) for p in points]
    out = pts[:1]
    for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
        n = max(1, math.ceil(math.hypot(bx - ax, by - ay) / spacing))
        out.extend((ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(1, n + 1))
    return out


def fill_rect(
    mask: np.ndarray, y0: int, x0: int, y1: int, x1: int, value: float = 1.0
) -> Rect | None:
    """Set ``mask[y0:y1, x0:x1] = value`` in place (corners in any order, clipped).

    Returns the filled rectangle, or None when it is empty or outside the mask.
    """
    _check_mask(mask, writable=True)
    (y0, y1), (x0, x1) = sorted((int(y0), int(y1))), sorted((int(x0), int(x1)))
    rect = _clip_rect(y0, x0, y1, x1, mask.shape)
    if rect is not None:
        mask[rect[0] : rect[2], rect[1] : rect[3]] = value
    return rect


def fill_polygon(
    mask: np.ndarray, points: Sequence[Sequence[float]], value: float = 1.0
) -> Rect | None:
    """Set the pixels whose centre lies inside the closed polygon ``points`` (lasso) to ``value``.

    Even-odd rule, no antialiasing (feather afterwards for a soft edge). In place; returns
    the dirty rectangle, or None when there are fewer than 3 points or nothing is inside.
    """
    _check_mask(mask, writable=True)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    rect = _points_rect(pts, 0.0, mask.shape) if len(pts) >= 3 else None
    if rect is None:
        return None
    y0, x0, y1, x1 = rect
    inside = _polygon_inside(pts - (x0, y0), y1 - y0, x1 - x0)
    mask[y0:y1, x0:x1][inside] = value
    return rect


def _polygon_inside(pts: np.ndarray, h: int, w: int) -> np.ndarray:
    """Boolean (h, w): pixel centres inside the polygon (even-odd), by scanline parity."""
    a, b = pts, np.roll(pts, -1, axis=0)
    lo, hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    slope = (b[:, 0] - a[:, 0]) / np.where(hi > lo, b[:, 1] - a[:, 1], 1.0)
    toggles = np.zeros((h, w + 1), np.int32)
    for r0 in range(0, h, 256):  # bounded memory for long lassos over tall regions
        yc = np.arange(r0, min(r0 + 256, h), dtype=np.float64)[:, None] + 0.5
        rows, edges = np.nonzero((yc >= lo) & (yc < hi))
        x = a[edges, 0] + (yc[rows, 0] - a[edges, 1]) * slope[edges]
        cols = np.clip(np.ceil(x - 0.5), 0, w).astype(np.intp)  # first centre at or past x
        np.add.at(toggles, (rows + r0, cols), 1)
    return (np.cumsum(toggles[:, :w], axis=1) & 1).astype(bool)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _morph(mask: np.ndarray, radius: float, op: int) -> np.ndarray:
    """Grey dilation/erosion by a disk of ``radius`` px, chained in passes of <= 6 px."""
    out = _check_mask(mask).copy()
    if not radius >= 0:
        raise InvalidInputError(f"radius must be >= 0, got {radius!r}")
    left = int(round(radius))
    while left > 0:
        step = min(left, _MORPH_STEP)
        out = cv2.morphologyEx(out, op, _disk(step))
        left -= step
    return out


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """New mask: maximum over a disk of ``radius`` px (rounded to whole pixels)."""
    return _morph(mask, radius, cv2.MORPH_DILATE)


def erode(mask: np.ndarray, radius: float) -> np.ndarray:
    """New mask: minimum over a disk of ``radius`` px; the image border does not erode."""
    return _morph(mask, radius, cv2.MORPH_ERODE)


def grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """New mask grown by ``radius`` px (dilate), or shrunk when ``radius`` is negative."""
    return dilate(mask, radius) if radius >= 0 else erode(mask, -radius)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """New mask with edges softened by a Gaussian of std ``radius / 2`` px; stays in [0, 1]."""
    out = _check_mask(mask)
    if not radius >= 0:
        raise InvalidInputError(f"feather radius must be >= 0, got {radius!r}")
    if radius == 0:
        return out.copy()
    blurred = cv2.GaussianBlur(out, (0, 0), radius / 2.0, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(blurred, 0.0, 1.0)


def invert(mask: np.ndarray) -> np.ndarray:
    """New mask ``1 - mask``."""
    return 1.0 - _check_mask(mask)


def threshold(prob: np.ndarray, t: float) -> np.ndarray:
    """Binary float32 mask: 1 where ``prob >= t``."""
    return (np.asarray(prob) >= t).astype(np.float32)


DAMAGE_THRESHOLD = 0.5  # default probability threshold of damage detection
DAMAGE_GROW = 1  # default growth (px) of a detected damage mask


def from_probability(
    prob: np.ndarray, threshold: float = DAMAGE_THRESHOLD, grow: float = 0
) -> np.ndarray:
    """Binary float32 (H, W) mask: ``prob >= threshold`` grown by ``grow`` px (negative
    shrinks): a detector's probability map -> a damage mask."""
    mask = (np.asarray(prob) >= threshold).astype(np.float32)
    if grow > 0:
        return dilate(mask, grow)
    return erode(mask, -grow) if grow < 0 else mask


def clear(mask: np.ndarray) -> Rect | None:
    """Set the whole mask to 0 in place; returns the full rectangle (None if empty)."""
    _check_mask(mask, writable=True)
    mask[...] = 0.0
    return _clip_rect(0, 0, mask.shape[0], mask.shape[1], mask.shape)


def _check_mask(mask: np.ndarray, writable: bool = False) -> np.ndarray:
    """``mask`` as float32 (H, W); in-place operations need it to be float32 already."""
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        shape = getattr(mask, "shape", None)
        raise InvalidInputError(f"a mask must be a 2-D (H, W) array, got shape {shape}")
    if writable and mask.dtype != np.float32:
        raise InvalidInputError(f"a mask to paint on must be float32, got {mask.dtype}")
    return mask.astype(np.float32, copy=False)
