"""Tests for app.core.tiling: tile plans, exact reassembly, seamless blending, extras."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.core.progress import Progress, drive
from app.core.tiling import axis_starts, pad_to_multiple, plan_tiles, process_tiled

# (height, width, tile, overlap): several sizes, images smaller than a tile, 1-px-thin ones,
# and a plan whose last tile overlaps two earlier ones (1000 = 480 + 488 + 32).
CASES = [
    (64, 64, 32, 8),
    (100, 77, 32, 16),
    (5, 7, 16, 4),
    (1, 50, 16, 8),
    (50, 1, 16, 8),
    (1, 1, 8, 0),
    (130, 41, 40, 0),
    (20, 1000, 512, 32),
]


def _image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, channels)).astype(np.float32)


def _identity(tile: np.ndarray) -> np.ndarray:
    return tile.copy()


@pytest.mark.parametrize(("height", "width", "tile", "overlap"), CASES)
def test_identity_reproduces_input_exactly(
    height: int, width: int, tile: int, overlap: int
) -> None:
    image = _image(height, width)
    out = drive(process_tiled(image, _identity, tile=tile, overlap=overlap))
    assert out.dtype == np.float32
    assert np.array_equal(out, image)


def test_plan_covers_image_and_tiles_stay_inside() -> None:
    for height, width, tile, overlap in CASES:
        rows = plan_tiles(height, width, tile, overlap)
        covered = np.zeros((height, width), bool)
        for box in itertools.chain.from_iterable(rows):
            assert 0 <= box.y0 < box.y1 <= height and 0 <= box.x0 < box.x1 <= width
            covered[box.y0 : box.y1, box.x0 : box.x1] = True
        assert covered.all()


@pytest.mark.parametrize(("length", "align"), [(1024, 1), (4000, 4), (3000, 4), (520, 1), (513, 8)])
def test_balanced_plan_does_less_work_with_the_same_tile_count(length: int, align: int) -> None:
    tile, overlap = 512, 32
    flush = len(axis_starts(length, tile, overlap))
    rows = plan_tiles(length, length, tile, overlap, align)
    sizes = {box.shape for box in itertools.chain.from_iterable(rows)}
    assert len(rows) == flush and len(sizes) == 1
    ((side, _),) = sizes
    assert side <= tile and side % align == 0 and side >= 2 * overlap
    if length % align == 0:
        assert all(box.x0 % align == 0 for box in rows[0])
    assert side < tile or flush == 1
    starts = [row[0].y0 for row in rows]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(side - gap >= overlap for gap in gaps)  # neighbours still share the overlap


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize(("height", "width", "tile", "overlap"), CASES[:6])
def test_nearest_upscale_matches_cv2(
    height: int, width: int, tile: int, overlap: int, scale: int
) -> None:
    image = _image(height, width, seed=1)

    def upscale(t: np.ndarray) -> np.ndarray:
        return cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST).reshape(
            t.shape[0] * scale, t.shape[1] * scale, -1
        )

    out = drive(process_tiled(image, upscale, tile=tile, overlap=overlap, scale=scale))
    expected = cv2.resize(
        image, (width * scale, height * scale), interpolation=cv2.INTER_NEAREST
    ).reshape(height * scale, width * scale, 3)
    assert out.shape == (height * scale, width * scale, 3)
    assert np.array_equal(out, expected)


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [(200, 170, 64, 16), (96, 96, 48, 24), (40, 1000, 512, 32), (150, 150, 64, 8)],
)
def test_tile_dependent_offset_leaves_no_seam(
    height: int, width: int, tile: int, overlap: int
) -> None:
    """Each tile adds its own constant in [0, 0.1] to a flat image.

    With linear ramps across an overlap of ``overlap`` pixels, two tiles whose offsets differ
    by at most ``offset_range`` change the blend by at most ``offset_range / overlap`` per
    pixel along one axis; where four tiles meet the product of two ramps at most doubles
    that. Bound: every difference between adjacent pixels is below
    ``offset_range / overlap * 2``. A hard seam would show the full offset difference.
    """
    offset_range = 0.1
    rng = np.random.default_rng(7)

    def add_offset(t: np.ndarray) -> np.ndarray:
        return t + np.float32(rng.uniform(0.0, offset_range))

    image = np.full((height, width, 3), 0.5, np.float32)
    out = drive(process_tiled(image, add_offset, tile=tile, overlap=overlap))
    bound = offset_range / overlap * 2
    assert np.abs(np.diff(out, axis=0)).max() < bound
    assert np.abs(np.diff(out, axis=1)).max() < bound
    assert out.min() >= 0.5 - 1e-6 and out.max() <= 0.5 + offset_range + 1e-6


def test_extras_are_cropped_alongside() -> None:
    image = _image(70, 90)
    mask = np.random.default_rng(2).random((70, 90)).astype(np.float32)
    guide = _image(70, 90, channels=2, seed=3)
    seen: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = []

    def combine(t: np.ndarray, m: np.ndarray, g: np.ndarray) -> np.ndarray:
        seen.append((t.shape, m.shape, g.shape))
        return t * m[:, :, None] + g.sum(axis=2, keepdims=True)

    out = drive(process_tiled(image, combine, tile=32, overlap=8, extras=(mask, guide)))
    expected = image * mask[:, :, None] + guide.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    for t_shape, m_shape, g_shape in seen:
        assert m_shape == t_shape[:2] and g_shape[:2] == t_shape[:2]


def test_wrong_size_extra_raises() -> None:
    image = _image(20, 30)
    work = process_tiled(image, _identity, tile=16, overlap=4, extras=(np.zeros((20, 29)),))
    with pytest.raises(InvalidInputError):
        drive(work)


def test_bad_overlap_raises() -> None:
    with pytest.raises(InvalidInputError):
        drive(process_tiled(_image(20, 20), _identity, tile=16, overlap=9))


def test_progress_counts_one_to_n() -> None:
    image = _image(100, 70)
    reports: list[Progress] = []
    drive(process_tiled(image, _identity, tile=32, overlap=8, stage="x"), reports.append)
    n = sum(len(row) for row in plan_tiles(100, 70, 32, 8))
    assert n > 1
    assert [r.done for r in reports] == list(range(1, n + 1))
    assert all(r.total == n and r.stage == "x" for r in reports)
    assert reports[-1].fraction == 1.0


def test_closing_midway_stops_calling_the_operator() -> None:
    calls = 0

    def counting(t: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return t

    work = process_tiled(_image(100, 100), counting, tile=32, overlap=8)
    next(work)
    next(work)
    work.close()
    assert calls == 2


@pytest.mark.parametrize(
    ("shape", "multiple"), [((13, 17, 3), 8), ((16, 8), 8), ((1, 3, 3), 4), ((5, 2), 16)]
)
def test_pad_to_multiple(shape: tuple[int, ...], multiple: int) -> None:
    array = np.random.default_rng(4).random(shape).astype(np.float32)
    padded, (height, width) = pad_to_multiple(array, multiple)
    assert (height, width) == shape[:2]
    assert padded.shape[0] % multiple == 0 and padded.shape[1] % multiple == 0
    assert padded.shape[2:] == shape[2:]
    assert padded.dtype == array.dtype
    assert np.array_equal(padded[:height, :width], array)
    if padded.shape == array.shape:
        assert padded is array
