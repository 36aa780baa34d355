"""Tests for app.core.metrics: PSNR, SSIM, Y conversion, masked PSNR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from app.core.errors import InvalidInputError
from app.core.metrics import masked_psnr, mse, psnr, ssim, ssim_map, to_y


def _pair(shape: tuple[int, ...], noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    r = rng.random(shape)
    # smooth a little so SSIM sees structure, then add noise
    a = (r + np.roll(r, 1, axis=0) + np.roll(r, 1, axis=1)) / 3
    b = np.clip(a + rng.normal(0, noise, shape), 0, 1).astype(np.float32)
    return a.astype(np.float32), b


def test_psnr_of_known_mse() -> None:
    a = np.zeros((8, 9, 3), np.float32)
    b = np.full_like(a, 0.1)  # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    assert mse(a, b) == pytest.approx(0.01, rel=1e-6)
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-4)
    assert psnr(a * 255, b * 255, data_range=255.0) == pytest.approx(20.0, abs=1e-4)


def test_psnr_crop_ignores_borders() -> None:
    a = np.zeros((20, 20), np.float32)
    b = a.copy()
    b[0, :] = 1.0
    b[5, 5] = 0.1  # only error left after cropping 2 px: MSE = 0.01 / 256
    assert psnr(a, b, crop=2) == pytest.approx(10 * math.log10(256 / 0.01), abs=1e-3)


def test_identical_images() -> None:
    a, _ = _pair((32, 40, 3), 0.1)
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert psnr(a, a, y_channel=True) == math.inf


def test_y_channel_psnr_against_hand_computation() -> None:
    a = np.zeros((4, 4, 3), np.float32)
    b = a.copy()
    b[..., 0] = 0.5  # red only
    # MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B (on 0..255)
    # -> dY = 65.481 * 0.5 / 255 on the 0..1 scale, everywhere.
    dy = 65.481 * 0.5 / 255.0
    expected = 10 * math.log10(1.0 / dy**2)
    assert psnr(a, b, y_channel=True) == pytest.approx(expected, abs=1e-4)
    assert to_y(np.ones((1, 1, 3), np.float32))[0, 0] == pytest.approx(235 / 255)
    assert to_y(np.zeros((1, 1, 3), np.float32))[0, 0] == pytest.approx(16 / 255)


@pytest.mark.parametrize(
    ("shape", "crop"),
    [((48, 64, 3), 0), ((48, 64, 3), 4), ((31, 45), 0), ((31, 45), 4), ((11, 11, 3), 0)],
)
def test_ssim_matches_skimage(shape: tuple[int, ...], crop: int) -> None:
    """skimage is the independent reference.

    skimage filters the whole image with reflect padding and then averages the SSIM map
    after dropping (win_size - 1) // 2 = 5 px at each border; that is exactly the 'valid'
    region our MATLAB-style filtering computes, so with the same Gaussian window (sigma 1.5,
    truncate 3.5 -> 11 taps) and population covariance the two agree. skimage has no
    ``crop`` argument: we crop its inputs by hand for the comparison.
    """
    a, b = _pair(shape, 0.08, seed=3)
    c = slice(crop, shape[0] - crop), slice(crop, shape[1] - crop)
    expected = structural_similarity(
        a[c].astype(np.float64),
        b[c].astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
        channel_axis=-1 if len(shape) == 3 else None,
    )
    assert ssim(a, b, crop=crop) == pytest.approx(expected, abs=1e-3)


def test_ssim_y_channel_matches_skimage_on_y() -> None:
    a, b = _pair((40, 40, 3), 0.05, seed=1)
    expected = structural_similarity(
        to_y(a),
        to_y(b),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
    )
    assert ssim(a, b, y_channel=True) == pytest.approx(expected, abs=1e-3)


def test_ssim_map_shape_and_order() -> None:
    a, b = _pair((30, 41, 3), 0.05)
    assert ssim_map(a, b).shape == (20, 31, 3)
    assert ssim_map(a, b, y_channel=True).shape == (20, 31)
    _, worse = _pair((30, 41, 3), 0.2)
    assert ssim(a, worse) < ssim(a, b) < 1.0


def test_mismatched_shapes_raise() -> None:
    a = np.zeros((10, 12, 3), np.float32)
    with pytest.raises(InvalidInputError):
        psnr(a, a[:, :11])
    with pytest.raises(InvalidInputError):
        ssim(a, a[..., 0])
    with pytest.raises(InvalidInputError):
        ssim(a, a)  # smaller than the 11x11 window


def test_masked_psnr_counts_only_masked_pixels() -> None:
    a = np.zeros((10, 10, 3), np.float32)
    b = a.copy()
    b[:5] = 0.1  # error inside the mask
    b[5:] = 0.9  # large error outside: ignored
    mask = np.zeros((10, 10), np.float32)
    mask[:5] = 1.0
    assert masked_psnr(a, b, mask) == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(InvalidInputError):
        masked_psnr(a, b, np.zeros((10, 10), np.float32))
    with pytest.raises(InvalidInputError):
        masked_psnr(a, b, mask[:9])
