"""Tile plans and seamless blending for operators that are too big to run on a whole image.

An operator ``fn`` maps an ``(h, w, C)`` float32 tile (plus optional same-sized extra
arrays such as a mask) to an ``(h*scale, w*scale, C')`` array. :func:`process_tiled`
cuts the image into overlapping tiles, runs ``fn`` on each, and blends the results with
weights that ramp linearly across each overlap, so a tile-dependent bias leaves no seam.

Memory: besides the output array, only one row of tiles is held (in float64, so the
identity operator reproduces its input bit for bit after the float32 cast).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from app.core.errors import InvalidInputError
from app.core.progress import Progress, Work

TileFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Tile:
    """Input region ``[y0, y1) x [x0, x1)`` of one tile, in input pixels."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the tile."""
        return self.y1 - self.y0, self.x1 - self.x0


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``[0, length)``; the last tile ends exactly at ``length``.

    Every tile is ``tile`` long (or ``length`` if shorter) and neighbours share at least
    ``overlap`` pixels.
    """
    if tile >= length:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def balanced_length(length: int, tile: int, overlap: int, align: int = 1) -> int:
    """Tile length along one axis: at most ``tile``, as many tiles as ``tile`` would need,
    but the least total work.

    :func:`axis_starts` puts the last tile flush with the border, so cutting 1024 px into
    512 px tiles (overlap 32) costs 3 x 512 px; 3 tiles of 363 px cover it with 1089 px.
    The length is rounded up to a multiple of ``align`` (tile starts stay multiples of
    ``align`` when ``length`` and ``overlap`` are) and kept at least ``2 * overlap``.
    """
    if tile >= length:
        return length
    count = len(axis_starts(length, tile, overlap))
    even = -(-(length + (count - 1) * overlap) // count)
    even = -(-even // align) * align
    return min(tile, max(even, 2 * overlap))


def plan_tiles(
    height: int, width: int, tile: int = 512, overlap: int = 32, align: int = 1
) -> list[list[Tile]]:
    """Rows of tiles covering a ``height x width`` image, in row-major order.

    Tiles are at most ``tile`` on a side, balanced per axis (:func:`balanced_length`).
    Raises InvalidInputError when ``overlap`` is not in ``[0, tile/2]``.
    """
    if tile < 8 or not 0 <= overlap <= tile // 2:
        raise InvalidInputError(f"tile size {tile} with overlap {overlap} is not usable")
    tile_h = balanced_length(height, tile, overlap, align)
    tile_w = balanced_length(width, tile, overlap, align)
    ys = axis_starts(height, tile_h, overlap)
    xs = axis_starts(width, tile_w, overlap)
    return [[Tile(y, x, min(y + tile_h, height), min(x + tile_w, width)) for x in xs] for y in ys]


def ramp(length: int, left: int, right: int) -> np.ndarray:
    """1-D blend weights: rise over ``left`` samples, flat at 1, fall over ``right`` samples.

    All weights are strictly positive, so every output pixel has a defined average.
    """
    pos = np.arange(length, dtype=np.float64) + 0.5
    weight = np.ones(length, dtype=np.float64)
    if left > 0:
        weight = np.minimum(weight, pos / left)
    if right > 0:
        weight = np.minimum(weight, (length - pos) / right)
    return weight


def _overlaps(starts: Sequence[int], ends: Sequence[int], i: int) -> tuple[int, int]:
    """Overlap of tile ``i`` with its previous and next neighbour along one axis."""
    left = ends[i - 1] - starts[i] if i > 0 else 0
    right = ends[i] - starts[i + 1] if i + 1 < len(starts) else 0
    return max(left, 0), max(right, 0)


def tile_weights(rows: list[list[Tile]], r: int, c: int, scale: int) -> np.ndarray:
    """2-D ``(h*scale, w*scale, 1)`` blend weights of tile ``(r, c)`` of a plan."""
    tile = rows[r][c]
    y_starts = [row[0].y0 for row in rows]
    y_ends = [row[0].y1 for row in rows]
    x_starts = [t.x0 for t in rows[r]]
    x_ends = [t.x1 for t in rows[r]]
    top, bottom = _overlaps(y_starts, y_ends, r)
    left, right = _overlaps(x_starts, x_ends, c)
    h, w = tile.shape
    wy = ramp(h * scale, top * scale, bottom * scale)
    wx = ramp(w * scale, left * scale, right * scale)
    return (wy[:, None] * wx[None, :])[:, :, None]


def crop(array: np.ndarray, tile: Tile) -> np.ndarray:
    """The part of ``array`` (H, W[, C]) under ``tile``."""
    return array[tile.y0 : tile.y1, tile.x0 : tile.x1]


def _check_extras(image: np.ndarray, extras: Sequence[np.ndarray]) -> None:
    for extra in extras:
        if extra.shape[:2] != image.shape[:2]:
            raise InvalidInputError(
                f"an input of size {extra.shape[1]}x{extra.shape[0]} does not match the "
                f"image size {image.shape[1]}x{image.shape[0]}"
            )


def _run_tile(
    fn: TileFn, image: np.ndarray, extras: Sequence[np.ndarray], tile: Tile, scale: int
) -> np.ndarray:
    out = fn(crop(image, tile), *(crop(e, tile) for e in extras))
    expected = (tile.shape[0] * scale, tile.shape[1] * scale)
    if out.shape[:2] != expected:
        raise ValueError(f"tile operator returned {out.shape[:2]}, expected {expected}")
    return out if out.ndim == 3 else out[:, :, None]


def process_tiled(
    image: np.ndarray,
    fn: TileFn,
    *,
    tile: int = 512,
    overlap: int = 32,
    scale: int = 1,
    extras: Sequence[np.ndarray] = (),
    stage: str = "",
    align: int = 1,
) -> Work[np.ndarray]:
    """Apply ``fn`` tile by tile and blend; yields a Progress per tile, returns the result.

    ``image`` is (H, W, C) float32; ``extras`` are arrays of the same H, W cropped alongside
    and passed to ``fn`` after the image tile. The result is float32 of shape
    ``(H*scale, W*scale, C')`` where C' is the operator's channel count. Tiles follow
    :func:`plan_tiles` (``align``: tile starts and sizes are multiples of it).
    """
    _check_extras(image, extras)
    height, width = image.shape[:2]
    rows = plan_tiles(height, width, tile, overlap, align)
    total = sum(len(row) for row in rows)
    output: np.ndarray | None = None
    carry: tuple[np.ndarray, np.ndarray] | None = None
    done = 0
    for r, row in enumerate(rows):
        band_y0 = row[0].y0 * scale
        band_h = row[0].shape[0] * scale
        num: np.ndarray | None = None
        den = np.zeros((band_h, width * scale, 1), dtype=np.float64)
        for c, tile_box in enumerate(row):
            result = _run_tile(fn, image, extras, tile_box, scale)
            if num is None:
                num = np.zeros((band_h, width * scale, result.shape[2]), dtype=np.float64)
                if carry is not None:
                    num[: carry[0].shape[0]] += carry[0]
                    den[: carry[1].shape[0]] += carry[1]
            weight = tile_weights(rows, r, c, scale)
            xs = slice(tile_box.x0 * scale, tile_box.x1 * scale)
            num[:, xs] += result.astype(np.float64) * weight
            den[:, xs] += weight
            done += 1
            yield Progress(done, total, stage)
        assert num is not None
        if output is None:
            output = np.empty((height * scale, width * scale, num.shape[2]), dtype=np.float32)
        next_y0 = rows[r + 1][0].y0 * scale if r + 1 < len(rows) else band_y0 + band_h
        final = next_y0 - band_y0
        output[band_y0:next_y0] = (num[:final] / den[:final]).astype(np.float32)
        carry = (num[final:], den[final:])
    assert output is not None
    return output


def pad_to_multiple(array: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad ``array`` (H, W[, C]) at the bottom/right to multiples of ``multiple``.

    Returns the padded array and the original (H, W) to crop back to.
    """
    height, width = array.shape[:2]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return array, (height, width)
    widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2)
    if height > pad_h and width > pad_w:
        return np.pad(array, widths, mode="reflect"), (height, width)
    return np.pad(array, widths, mode="edge"), (height, width)
