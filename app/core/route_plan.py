"""Region routing plans: which path restores each region, and how the pieces are merged.

A *route map* is an int array ``(rows, cols)`` over square cells of ``cell`` pixels (the
last row/column may be cut by the image border); each value indexes :data:`PATHS`.
:func:`rectangles` groups same-path cells into rectangles so each path runs once per
rectangle (a region of one path has no seams inside and costs no overlap), on the
rectangle grown by ``halo`` pixels of context where it meets another path.
:func:`merge_weight` gives each rectangle's output a weight that is 1 inside and ramps
linearly to 0 over ``2 * blend`` pixels across every edge shared with another path, so
neighbouring outputs are averaged over the band (Path-Restore averages its overlapping
63-pixel regions the same way) and a change of path leaves no seam.

Pure numpy: the restorers themselves are in :mod:`app.ml.routing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATHS = ("bypass", "quick", "full")
"""Path names by route value: 0 bypass (the input unchanged), 1 quick, 2 full."""
BYPASS, QUICK, FULL = 0, 1, 2
PATH_COSTS = (0.0, 0.47, 1.0)
"""Restorer CPU time of each path per pixel, in units of the full restorer's (measured:
docs/routing.md); the pathfinder's reward charges these."""
CELL = 64
HALO = 8  # context pixels computed around a rectangle where it meets another path
BLEND = 8  # the outputs are cross-faded over BLEND pixels either side of such an edge


@dataclass(frozen=True)
class Rect:
    """Cells ``[r0, r1) x [c0, c1)`` of a route map, all taking ``path``."""

    path: int
    r0: int
    c0: int
    r1: int
    c1: int


def grid_shape(height: int, width: int, cell: int = CELL) -> tuple[int, int]:
    """(rows, cols) of cells covering a ``height x width`` image."""
    return -(-height // cell), -(-width // cell)


def rectangles(route: np.ndarray) -> list[Rect]:
    """Same-path rectangles tiling ``route`` (rows, cols): runs along each row, merged
    with the runs right below when they span the same columns. Row-major order."""
    open_: dict[tuple[int, int, int], Rect] = {}
    done: list[Rect] = []
    for r in range(route.shape[0]):
        still: dict[tuple[int, int, int], Rect] = {}
        for c0, c1, path in _runs(route[r]):
            key = (c0, c1, path)
            prev = open_.pop(key, None)
            still[key] = Rect(path, prev.r0 if prev else r, c0, r + 1, c1)
        done.extend(open_.values())
        open_ = still
    done.extend(open_.values())
    return sorted(done, key=lambda t: (t.r0, t.c0))


def tidy(route: np.ndarray, size: tuple[int, int], cell: int = CELL) -> np.ndarray:
    """``route`` made cheaper to run: a 3x3 median (paths are ordered by cost, so an
    isolated cell takes its neighbours' path: fewer, larger rectangles, less context to
    recompute), then a last row/column cut to under half a cell by the image border
    takes the path of the one before it (no rectangle a few pixels thin)."""
    out = _median3(route)
    if out.shape[0] > 1 and size[0] - (out.shape[0] - 1) * cell < cell // 2:
        out[-1] = out[-2]
    if out.shape[1] > 1 and size[1] - (out.shape[1] - 1) * cell < cell // 2:
        out[:, -1] = out[:, -2]
    return out


def _median3(route: np.ndarray) -> np.ndarray:
    """3x3 median of an int map (edges replicated)."""
    padded = np.pad(route, 1, mode="edge")
    rows, cols = route.shape
    stack = [padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)]
    return np.median(np.stack(stack), axis=0).astype(route.dtype)


def plan_cost(
    route: np.ndarray, size: tuple[int, int], cell: int = CELL, halo: int = HALO
) -> float:
    """Restorer time of running ``route`` relative to the full path everywhere: each
    rectangle's grown box times its path's :data:`PATH_COSTS` (context pixels included)."""
    rects = rectangles(route)
    if len(rects) == 1:
        return PATH_COSTS[rects[0].path]
    total = 0.0
    for rect in rects:
        y0, x0, y1, x1 = grown_box(core_box(rect, size, cell), size, halo)
        total += (y1 - y0) * (x1 - x0) * PATH_COSTS[rect.path]
    return total / (size[0] * size[1])


def _runs(row: np.ndarray) -> list[tuple[int, int, int]]:
    """(c0, c1, value) of the maximal runs of equal values in a 1-D int array."""
    edges = np.flatnonzero(np.diff(row)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [row.size]])
    return [(int(a), int(b), int(row[a])) for a, b in zip(starts, ends, strict=True)]


def core_box(rect: Rect, size: tuple[int, int], cell: int = CELL) -> tuple[int, int, int, int]:
    """Pixels ``(y0, x0, y1, x1)`` of ``rect``'s cells, clipped to the image ``size``."""
    h, w = size
    return rect.r0 * cell, rect.c0 * cell, min(rect.r1 * cell, h), min(rect.c1 * cell, w)


def grown_box(
    box: tuple[int, int, int, int], size: tuple[int, int], margin: int
) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` pixels on every side, clipped to the image ``size``."""
    y0, x0, y1, x1 = box
    return (
        max(y0 - margin, 0),
        max(x0 - margin, 0),
        min(y1 + margin, size[0]),
        min(x1 + margin, size[1]),
    )


def _ramp_1d(lo: int, hi: int, start: int, end: int, length: int, blend: int) -> np.ndarray:
    """Weights over ``[lo, hi)``: 1 on ``[start, end)``, linear over ``blend`` pixels either
    side of an inner edge (an edge at 0 or ``length`` stays sharp), 0 beyond."""
    pos = np.arange(lo, hi, dtype=np.float64) + 0.5
    weight = np.ones(hi - lo, dtype=np.float64)
    if start > 0:
        weight = np.minimum(weight, np.clip(0.5 + (pos - start) / (2 * blend), 0.0, 1.0))
    if end < length:
        weight = np.minimum(weight, np.clip(0.5 + (end - pos) / (2 * blend), 0.0, 1.0))
    return weight


def merge_weight(
    core: tuple[int, int, int, int],
    grown: tuple[int, int, int, int],
    size: tuple[int, int],
    blend: int = BLEND,
) -> np.ndarray:
    """(h, w, 1) float64 weights over the ``grown`` box of a rectangle whose cells are
    ``core``: 1 inside, ramping to 0 over ``blend`` pixels on both sides of each inner
    edge. Two rectangles sharing an edge get weights summing to 1 along it."""
    ys = _ramp_1d(grown[0], grown[2], core[0], core[2], size[0], blend)
    xs = _ramp_1d(grown[1], grown[3], core[1], core[3], size[1], blend)
    return (ys[:, None] * xs[None, :])[:, :, None]


def route_pixels(route: np.ndarray, size: tuple[int, int], cell: int = CELL) -> np.ndarray:
    """The route map blown up to float32 (H, W) pixels (nearest cell)."""
    big = np.repeat(np.repeat(route.astype(np.float32), cell, axis=0), cell, axis=1)
    return np.ascontiguousarray(big[: size[0], : size[1]])


def path_shares(route: np.ndarray, size: tuple[int, int], cell: int = CELL) -> dict[str, float]:
    """Fraction of the image's pixels on each path (cut border cells count their pixels)."""
    pixels = route_pixels(route, size, cell)
    return {name: float(np.mean(pixels == i)) for i, name in enumerate(PATHS)}
