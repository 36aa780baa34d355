"""Full-reference image quality metrics: MSE, PSNR, SSIM, and PSNR inside a mask.

Inputs are float arrays ``(H, W, 3)`` RGB or ``(H, W)`` grey with values in
``[0, data_range]`` (Patina images use ``data_range=1``). Both images must have the same
shape. ``crop`` removes that many pixels at every border before measuring (the usual
protocol for super-resolution, where the border is unreliable). ``y_channel=True`` measures
on the ITU-R BT.601 luma Y of YCbCr on the 16..235 scale, exactly as MATLAB's
``rgb2ycbcr`` and the super-resolution / JPEG-artifact literature do.

SSIM follows Wang et al. 2004 and their reference MATLAB code ``ssim_index.m``: an 11x11
Gaussian window with sigma 1.5, K1=0.01, K2=0.03, 'valid' filtering (the map is 10 px
smaller than the image in each dimension), the mean of the map; for RGB the mean over
channels.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.core.errors import InvalidInputError

_WINDOW = 11
_SIGMA = 1.5
_K1 = 0.01
_K2 = 0.03
# MATLAB rgb2ycbcr, Y row, for RGB in [0, 1] giving Y on the 0..255 scale (16..235).
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
_Y_OFFSET = 16.0


def to_y(img: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """BT.601 luma of an RGB image ``(H, W, 3)`` in ``[0, data_range]``, as float64 ``(H, W)``.

    Same convention as MATLAB ``rgb2ycbcr``: Y spans 16..235 of 255 (scaled to
    ``data_range``), so white maps to ``235/255 * data_range``. Grey ``(H, W)`` input is
    returned as float64 unchanged.
    """
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InvalidInputError(f"expected an RGB image (H, W, 3), got shape {img.shape}")
    rgb = img.astype(np.float64) / data_range
    y255 = rgb @ _Y_WEIGHTS + _Y_OFFSET
    return y255 / 255.0 * data_range


def _prepare(
    a: np.ndarray, b: np.ndarray, crop: int, y_channel: bool, data_range: float
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, convert to float64, optionally take Y, then crop the borders."""
    if a.shape != b.shape:
        raise InvalidInputError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    if a.ndim not in (2, 3) or min(a.shape[:2]) < 1:
        raise InvalidInputError(f"expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if crop < 0 or 2 * crop >= min(a.shape[:2]):
        raise InvalidInputError(f"cannot crop {crop} px from an image of shape {a.shape}")
    if y_channel and a.ndim == 3:
        x, y = to_y(a, data_range), to_y(b, data_range)
    else:
        x, y = a.astype(np.float64), b.astype(np.float64)
    if crop:
        x, y = x[crop:-crop, crop:-crop], y[crop:-crop, crop:-crop]
    return x, y


def mse(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 1.0,
    crop: int = 0,
    y_channel: bool = False,
) -> float:
    """Mean squared error over all pixels and channels (in squared image units).

    ``data_range`` only matters with ``y_channel`` (it sets the scale of Y).
    """
    x, y = _prepare(a, b, crop, y_channel, data_range)
    return float(np.mean((x - y) ** 2))


def _psnr_from_mse(err: float, data_range: float) -> float:
    if err <= 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / err))


def psnr(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 1.0,
    crop: int = 0,
    y_channel: bool = False,
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``; inf if identical.

    RGB input is measured over all channels together (one MSE), or on Y if ``y_channel``.
    """
    x, y = _prepare(a, b, crop, y_channel, data_range)
    return _psnr_from_mse(float(np.mean((x - y) ** 2)), data_range)


def masked_psnr(
    a: np.ndarray, b: np.ndarray, mask: np.ndarray, *, data_range: float = 1.0
) -> float:
    """PSNR over the masked pixels only (dB), e.g. inside inpainted holes.

    ``mask`` is ``(H, W)`` in [0, 1]; it weights each pixel's squared error (all channels),
    so a binary mask gives the plain MSE over the pixels where it is 1. Raises
    InvalidInputError when the mask is empty or its size differs from the images'.
    """
    x, y = _prepare(a, b, 0, False, data_range)
    if mask.shape != x.shape[:2]:
        raise InvalidInputError(f"mask of shape {mask.shape} does not match images {x.shape}")
    weight = mask.astype(np.float64)
    total = float(weight.sum())
    if total <= 0.0:
        raise InvalidInputError("the mask is empty: there are no pixels to measure")
    sq = (x - y) ** 2
    if sq.ndim == 3:
        sq = sq.mean(axis=2)
    return _psnr_from_mse(float((sq * weight).sum() / total), data_range)


def _valid_filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D correlation with ``kernel`` keeping only the 'valid' part (MATLAB filter2 'valid')."""
    half = kernel.shape[0] // 2
    full = cv2.filter2D(img, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT)
    return full[half:-half, half:-half]


def _ssim_map_2d(x: np.ndarray, y: np.ndarray, data_range: float) -> np.ndarray:
    """SSIM map of two float64 (H, W) images; shape (H-10, W-10)."""
    g = cv2.getGaussianKernel(_WINDOW, _SIGMA, cv2.CV_64F)
    kernel = g @ g.T
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    mu_x, mu_y = _valid_filter(x, kernel), _valid_filter(y, kernel)
    var_x = _valid_filter(x * x, kernel) - mu_x**2
    var_y = _valid_filter(y * y, kernel) - mu_y**2
    cov = _valid_filter(x * y, kernel) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return np.asarray(num / den)


def ssim_map(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 1.0,
    crop: int = 0,
    y_channel: bool = False,
) -> np.ndarray:
    """Local SSIM values, float64 ``(H', W')`` or ``(H', W', C)`` with H' = H - 2*crop - 10.

    Raises InvalidInputError when the (cropped) image is smaller than the 11x11 window.
    """
    x, y = _prepare(a, b, crop, y_channel, data_range)
    if min(x.shape[:2]) < _WINDOW:
        raise InvalidInputError(
            f"SSIM needs images of at least {_WINDOW}x{_WINDOW} px, got {x.shape[1]}x{x.shape[0]}"
        )
    if x.ndim == 2:
        return _ssim_map_2d(x, y, data_range)
    maps = [_ssim_map_2d(x[:, :, c], y[:, :, c], data_range) for c in range(x.shape[2])]
    return np.stack(maps, axis=2)


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 1.0,
    crop: int = 0,
    y_channel: bool = False,
) -> float:
    """Mean SSIM (Wang et al. 2004) in [-1, 1]; 1.0 for identical images.

    RGB: the mean of the per-channel SSIM maps (or SSIM of Y if ``y_channel``).
    """
    return float(np.mean(ssim_map(a, b, data_range=data_range, crop=crop, y_channel=y_channel)))
