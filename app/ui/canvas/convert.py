"""numpy arrays -> QImage, and the small colour maps the canvas needs (no matplotlib).

Every QImage returned here wraps a numpy buffer; the buffer is attached to the image
object as ``_patina_buffer`` (and returned alongside) so it outlives the QImage: a
QImage built on foreign memory does not own it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

# An "inferno"-like ramp, 9 anchors, interpolated to 256 entries (black -> purple ->
# orange -> pale yellow): perceptually ordered and readable on a dark UI.
_HEAT_ANCHORS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
        [255, 255, 255],
    ],
    dtype=np.float64,
)
# A diverging blue-white-red ramp for signed latent maps.
_DIVERGING_ANCHORS = np.array(
    [
        [33, 102, 172],
        [103, 169, 207],
        [209, 229, 240],
        [247, 247, 247],
        [253, 219, 199],
        [239, 138, 98],
        [178, 24, 43],
    ],
    dtype=np.float64,
)


def _ramp(anchors: np.ndarray) -> np.ndarray:
    """(256, 3) uint8 LUT linearly interpolated through ``anchors`` (N, 3)."""
    xs = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, xs, anchors[:, c]) for c in range(3)], axis=1)
    return np.round(lut).astype(np.uint8)


HEAT_LUT = _ramp(_HEAT_ANCHORS)
DIVERGING_LUT = _ramp(_DIVERGING_ANCHORS)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """float [0, 1] array (any shape) -> uint8 [0, 255], rounded, clipped."""
    out = np.empty(pixels.shape, dtype=np.uint8)
    np.multiply(np.clip(pixels, 0.0, 1.0), 255.0, out=out, casting="unsafe")
    return out


def rgb_image(pixels: np.ndarray) -> QImage:
    """float32 (H, W, 3) [0, 1] or (H, W) grey -> Format_RGB888 QImage owning its buffer."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    buf = np.ascontiguousarray(to_uint8(pixels[:, :, :3]))
    return wrap_rgb888(buf)


def wrap_rgb888(buf: np.ndarray) -> QImage:
    """Wrap a contiguous uint8 (H, W, 3) array (kept alive on the image)."""
    h, w = buf.shape[:2]
    image = QImage(buf.data, w, h, buf.strides[0], QImage.Format.Format_RGB888)
    image._patina_buffer = buf  # type: ignore[attr-defined]
    return image


def wrap_argb32(buf: np.ndarray) -> QImage:
    """Wrap a contiguous uint8 (H, W, 4) BGRA array as premultiplied ARGB32."""
    h, w = buf.shape[:2]
    image = QImage(buf.data, w, h, buf.strides[0], QImage.Format.Format_ARGB32_Premultiplied)
    image._patina_buffer = buf  # type: ignore[attr-defined]
    return image


def heat_rgb(values: np.ndarray, lut: np.ndarray = HEAT_LUT) -> np.ndarray:
    """(H, W) float in [0, 1] -> (H, W, 3) uint8 through a 256-entry LUT."""
    return np.ascontiguousarray(lut[to_uint8(values)])


ROUTE_COLOURS = np.array([[150, 150, 150], [60, 140, 255], [255, 140, 40]], np.uint8)
"""Route layer colours by path: bypass grey, quick blue, full orange."""
ROUTE_LEGEND = "grey = bypass (input kept), blue = quick restorer, orange = full restorer"


def route_rgb(route: np.ndarray) -> np.ndarray:
    """A route map (h, w) of path indices 0/1/2 -> (h, w, 3) uint8 in :data:`ROUTE_COLOURS`."""
    index = np.clip(np.rint(route), 0, len(ROUTE_COLOURS) - 1).astype(np.intp)
    return np.ascontiguousarray(ROUTE_COLOURS[index])


def route_summary(route: np.ndarray) -> str:
    """Share of each path in a route map, e.g. "bypass 0%, quick 71%, full 29%"."""
    index = np.clip(np.rint(route), 0, 2)
    names = ("bypass", "quick", "full")
    return ", ".join(f"{n} {np.mean(index == i):.0%}" for i, n in enumerate(names))


def latent_rgb(latent: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """A latent map (h, w) -> (h, w, 3) uint8 through the diverging colour map.

    ``value_range`` (lo, hi) maps to the ends of the ramp; without it the range is the
    2nd..98th percentile of the values.
    """
    lat = latent.astype(np.float32)
    if value_range is not None:
        lo, hi = float(value_range[0]), float(value_range[1])
    else:
        lo, hi = (float(v) for v in np.percentile(lat, [2, 98]))
    return heat_rgb((lat - lo) / max(hi - lo, 1e-6), DIVERGING_LUT)


def value_text(pixels: np.ndarray, x: int, y: int) -> str:
    """Readable pixel value at (x, y): ``R 0.52 G 0.41 B 0.33`` or ``0.75`` for grey."""
    v = pixels[y, x]
    if np.ndim(v) == 0:
        return f"{float(v):.3f}"
    vals = np.atleast_1d(v)[:3]
    if len(vals) == 3:
        return " ".join(f"{c} {int(round(float(a) * 255)):3d}" for c, a in zip("RGB", vals))
    return " ".join(f"{float(a):.3f}" for a in vals)
