"""Tests of app.core.masks: brush strokes, dirty rectangles, fills and mask operations."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from app.core import masks as M
from app.core.errors import InvalidInputError
from app.core.masks import BrushStroke


@pytest.fixture
def mask() -> np.ndarray:
    return np.zeros((100, 120), np.float32)


@pytest.fixture
def square() -> np.ndarray:
    """64x64 mask with a 20x20 square of ones at rows/cols 22..41."""
    m = np.zeros((64, 64), np.float32)
    m[22:42, 22:42] = 1.0
    return m


def components(mask: np.ndarray, level: float = 0.5) -> int:
    count, _ = cv2.connectedComponents((mask >= level).astype(np.uint8), connectivity=8)
    return count - 1  # minus the background


def nonzero_rect(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


# --- strokes --------------------------------------------------------------------------


def test_stroke_paints_pixels_under_it(mask: np.ndarray) -> None:
    rect = M.apply_stroke(mask, BrushStroke(((10.0, 20.0), (50.0, 20.0)), radius=5.0))
    assert rect is not None
    np.testing.assert_array_equal(mask[17:23, 10:50], 1.0)  # centres within 4.5 px of y=20
    assert not mask[30:].any() and not mask[:, 60:].any()
    assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_erase_clears_what_was_painted(mask: np.ndarray) -> None:
    points = ((30.0, 30.0), (80.0, 60.0))
    M.apply_stroke(mask, BrushStroke(points, radius=8.0))
    painted = mask.sum()
    M.apply_stroke(mask, BrushStroke(points, radius=8.0, erase=True))
    assert painted > 500 and mask.max() <= 0.25  # antialiased rim: cov * (1 - cov)
    assert mask.sum() < 0.02 * painted and mask[30, 30] == 0.0 and mask[45, 55] == 0.0


def test_partial_erase_keeps_the_rest(mask: np.ndarray) -> None:
    M.fill_rect(mask, 0, 0, 100, 120)
    M.apply_stroke(mask, BrushStroke(((60.0, 50.0),), radius=10.0, erase=True))
    assert mask[50, 60] == 0.0 and mask[50, 80] == 1.0 and mask[0, 0] == 1.0


def test_soft_brush_falls_off_with_distance(mask: np.ndarray) -> None:
    M.apply_stroke(mask, BrushStroke(((60.5, 50.5),), radius=20.0, hardness=0.25))
    row = mask[50, 60:85]
    assert row[0] == 1.0 and row[5] == 1.0  # within radius * hardness
    assert np.all(np.diff(row) <= 0)
    assert 0.0 < row[12] < 1.0 and row[20:].max() == 0.0


def test_paint_takes_the_maximum(mask: np.ndarray) -> None:
    mask[50, 60] = 0.9
    M.apply_stroke(mask, BrushStroke(((70.5, 50.5),), radius=12.0, hardness=0.0))
    assert mask[50, 60] == pytest.approx(0.9)
    assert mask[50, 70] == 1.0


def test_interpolate_spacing_and_endpoints() -> None:
    pts = M.interpolate([(0, 0), (100, 0), (100, 7)], spacing=10.0)
    assert pts[0] == (0.0, 0.0) and pts[-1] == (100.0, 7.0) and (100.0, 0.0) in pts
    gaps = [math.dist(a, b) for a, b in zip(pts, pts[1:], strict=False)]
    assert max(gaps) <= 10.0 + 1e-9 and len(pts) == 12
    assert M.interpolate([(5, 5)], 2.0) == [(5.0, 5.0)] and M.interpolate([], 2.0) == []
    with pytest.raises(InvalidInputError):
        M.interpolate([(0, 0), (1, 1)], 0.0)


def test_fast_stroke_interpolated_dabs_have_no_gaps(mask: np.ndarray) -> None:
    radius = 4.0
    far = [(5.0, 5.0), (115.0, 95.0)]  # one mouse move across the whole image
    for x, y in M.interpolate(far, spacing=radius / 2):
        M.apply_stroke(mask, BrushStroke(((x, y),), radius=radius))
    assert components(mask) == 1
    stroke = np.zeros_like(mask)
    M.apply_stroke(stroke, BrushStroke(tuple(M.interpolate(far, radius / 2)), radius=radius))
    assert components(stroke) == 1
    assert np.all(stroke >= mask - 1e-6)  # the capsule covers the union of the dabs


def test_bounds_are_tight_and_contain_the_coverage(mask: np.ndarray) -> None:
    stroke = BrushStroke(((20.3, 30.7), (61.9, 44.2)), radius=6.5, hardness=0.5)
    rect = M.stroke_bounds(stroke, mask.shape)
    raster = M.rasterize_stroke(stroke, mask.shape)
    assert raster is not None and raster[1] == rect and rect is not None
    patch, (y0, x0, y1, x1) = raster
    assert patch.shape == (y1 - y0, x1 - x0) and patch.dtype == np.float32
    ny0, nx0, ny1, nx1 = nonzero_rect(patch)
    assert ny0 <= 1 and nx0 <= 1 and ny1 >= patch.shape[0] - 1 and nx1 >= patch.shape[1] - 1
    assert M.apply_stroke(mask, stroke) == rect
    assert not mask[:y0].any() and not mask[y1:].any()
    assert not mask[:, :x0].any() and not mask[:, x1:].any()
    np.testing.assert_array_equal(mask[y0:y1, x0:x1], patch)


def test_bounds_are_clipped_or_none_outside(mask: np.ndarray) -> None:
    edge = BrushStroke(((0.0, 0.0), (10.0, 0.0)), radius=5.0)
    assert M.stroke_bounds(edge, mask.shape) == (0, 0, 5, 15)
    outside = BrushStroke(((-50.0, -50.0), (-20.0, 200.0)), radius=5.0)
    assert M.stroke_bounds(outside, mask.shape) is None
    assert M.rasterize_stroke(outside, mask.shape) is None
    assert M.apply_stroke(mask, outside) is None and not mask.any()


def test_long_polyline_only_touches_its_dirty_rect() -> None:
    big = np.zeros((4000, 6000), np.float32)
    rect = M.apply_stroke(big, BrushStroke(((3000.0, 2000.0), (3020.0, 2000.0)), radius=30.0))
    assert rect == (1970, 2970, 2030, 3050)  # centres strictly within 30.5 px (1 px AA ramp)
    assert big.sum() == pytest.approx(big[1970:2030, 2970:3050].sum())
    assert big[1970, 3010] > 0 and big[2029, 3010] > 0 and big[2000, 2970] > 0


def test_brush_stroke_validation() -> None:
    stroke = BrushStroke([[1, 2], [3, 4]], radius=2)  # type: ignore[arg-type]
    assert stroke.points == ((1.0, 2.0), (3.0, 4.0)) and hash(stroke) == hash(stroke)
    for kwargs in (
        {"points": ((1.0, 1.0),), "radius": 0.0},
        {"points": ((1.0, 1.0),), "radius": 2.0, "hardness": 1.5},
        {"points": (), "radius": 2.0},
        {"points": ((1.0, float("nan")),), "radius": 2.0},
    ):
        with pytest.raises(InvalidInputError):
            BrushStroke(**kwargs)  # type: ignore[arg-type]


def test_in_place_operations_need_float32_2d() -> None:
    stroke = BrushStroke(((1.0, 1.0),), radius=2.0)
    with pytest.raises(InvalidInputError, match="float32"):
        M.apply_stroke(np.zeros((8, 8), np.uint8), stroke)
    with pytest.raises(InvalidInputError, match="2-D"):
        M.fill_rect(np.zeros((8, 8, 3), np.float32), 0, 0, 2, 2)


# --- fills ----------------------------------------------------------------------------


def test_fill_rect(mask: np.ndarray) -> None:
    assert M.fill_rect(mask, 40, 30, 10, 5) == (10, 5, 40, 30)  # corners in any order
    assert mask.sum() == 30 * 25 and mask[10:40, 5:30].all()
    assert M.fill_rect(mask, 90, 100, 200, 300, value=0.5) == (90, 100, 100, 120)
    assert mask[95, 110] == 0.5
    assert M.fill_rect(mask, 200, 200, 300, 300) is None
    assert M.fill_rect(mask, 15, 10, 25, 20, value=0.0) == (15, 10, 25, 20)
    assert not mask[15:25, 10:20].any()


def test_fill_polygon_lasso(mask: np.ndarray) -> None:
    rect = M.fill_polygon(mask, [(10, 10), (40, 10), (40, 30), (10, 30)])
    assert rect == (10, 10, 30, 40)
    np.testing.assert_array_equal(mask[10:30, 10:40], 1.0)
    assert mask.sum() == 30 * 20
    concave = np.zeros((40, 40), np.float32)  # a "U": the notch stays empty
    M.fill_polygon(
        concave, [(5, 5), (15, 5), (15, 25), (25, 25), (25, 5), (35, 5), (35, 35), (5, 35)]
    )
    assert concave[10, 10] == 1.0 and concave[10, 20] == 0.0 and concave[30, 20] == 1.0
    assert concave.sum() == 30 * 30 - 10 * 20
    M.fill_polygon(mask, [(60.0, 60.0), (110.0, 60.0), (85.0, 95.0)])
    assert mask[70, 85] == 1.0 and mask[90, 65] == 0.0
    assert mask.sum() == pytest.approx(600 + 50 * 35 / 2, rel=0.03)
    assert M.fill_polygon(mask, [(60, 60), (110, 60), (85, 95)], value=0.0) is not None
    assert mask[70, 85] == 0.0
    assert M.fill_polygon(mask, [(1, 1), (5, 5)]) is None
    assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_clear(square: np.ndarray) -> None:
    assert M.clear(square) == (0, 0, 64, 64) and not square.any()


# --- morphology and friends -----------------------------------------------------------


def test_grow_and_shrink(square: np.ndarray) -> None:
    grown, shrunk = M.grow(square, 3), M.grow(square, -3)
    assert grown.dtype == np.float32 and shrunk.dtype == np.float32
    assert np.all(grown >= square) and grown.sum() > square.sum()
    assert nonzero_rect(grown) == (19, 19, 45, 45)
    assert np.all(shrunk <= square) and nonzero_rect(shrunk) == (25, 25, 39, 39)
    np.testing.assert_array_equal(M.grow(square, 0), square)
    np.testing.assert_array_equal(M.dilate(square, 3), grown)
    np.testing.assert_array_equal(M.erode(square, 3), shrunk)
    assert square.sum() == 400  # inputs are not modified


def test_large_dilation_is_close_to_a_disk() -> None:
    dot = np.zeros((81, 81), np.float32)
    dot[40, 40] = 1.0
    disk = M.dilate(dot, 20)
    assert disk.sum() == pytest.approx(math.pi * 20**2, rel=0.1)
    assert disk[40, 60] == 1.0 and disk[40, 62] == 0.0
    assert disk[53, 53] == 1.0 and disk[56, 56] == 0.0  # radius 18.4 in, 22.6 out


def test_erode_keeps_the_image_border() -> None:
    full = np.ones((16, 16), np.float32)
    assert M.erode(full, 4).all()


def test_feather_stays_in_unit_range_and_softens(square: np.ndarray) -> None:
    soft = M.feather(square, 4.0)
    assert soft.dtype == np.float32 and soft.min() >= 0.0 and soft.max() <= 1.0
    assert 0.0 < soft[22, 31] < 1.0 and 0.0 < soft[20, 31] < 1.0
    assert soft[31, 31] == pytest.approx(1.0, abs=1e-3)
    assert soft.sum() == pytest.approx(square.sum(), rel=0.01)
    np.testing.assert_array_equal(M.feather(square, 0), square)
    with pytest.raises(InvalidInputError):
        M.feather(square, -1)


def test_invert_is_an_involution(square: np.ndarray) -> None:
    soft = M.feather(square, 3.0)
    inverted = M.invert(soft)
    assert inverted[0, 0] == 1.0 and inverted[31, 31] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(M.invert(inverted), soft, atol=1e-7)


def test_threshold() -> None:
    prob = np.array([[0.1, 0.5], [0.49, 0.9]], np.float32)
    out = M.threshold(prob, 0.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0, 1.0], [0.0, 1.0]])
