"""The film look: grain of scanned film and the fading of old prints.

Images are float32 ``(H, W, 3)`` RGB in [0, 1]. Qt- and torch-free.

Grain is parameterised like a scan's: ``size`` is the std (pixels, at the scan's own
resolution) of the Gaussian that correlates white noise into clumps, ``color`` the weight
of the per-channel (dye-cloud) part against the shared (silver, luminance) part — 0 gives
monochrome grain, 1 mostly independent colour grain — and ``strength`` the amplitude.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from app.core.arrays import as_rgb_float

GRAIN_SIZE = 0.8  # px; default spatial correlation of the grain
GRAIN_COLOR = 0.3  # default per-channel (dye) part; the shared part is _GRAIN_SHARED
_GRAIN_SHARED = 0.85
_FADE_LIFT = np.array([0.20, 0.16, 0.08], np.float32)  # blacks rise to a warm brown
_FADE_DROP = np.array([0.05, 0.10, 0.28], np.float32)  # whites sink to a cream yellow
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def gauss1d(sigma: float) -> np.ndarray:
    """Normalised float32 1-D Gaussian of std ``sigma`` px, radius ``ceil(3 sigma)`` (>= 1)."""
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _grain_mix(color: float, kernel: np.ndarray) -> np.ndarray:
    """3x3 channel mix turning unit-variance correlated fields into unit-variance grain."""
    shared, own = _GRAIN_SHARED, float(color)
    unit = math.sqrt(shared**2 + own**2 + 2 * shared * own / math.sqrt(3.0))
    mix = shared / math.sqrt(3.0) * np.ones((3, 3)) + own * np.eye(3)
    mix /= unit * float(np.sum(kernel.astype(np.float64) ** 2))  # field std = sum(k^2)
    return mix.astype(np.float32)


def film_grain(
    img: np.ndarray,
    strength: float,
    rng: np.random.Generator,
    size: float = GRAIN_SIZE,
    color: float = GRAIN_COLOR,
) -> np.ndarray:
    """Add spatially correlated grain, strongest in midtones (module doc for the knobs).

    Grain std is ``0.1 * strength`` at mid grey and ``0.03 * strength`` at black or
    white, for any ``size`` and ``color``. Not clipped.
    """
    img = as_rgb_float(img)
    if strength <= 0:
        return img.copy()
    k = gauss1d(max(float(size), 0.3))
    white = rng.standard_normal(img.shape, dtype=np.float32)
    field = cv2.sepFilter2D(white, -1, k, k, borderType=cv2.BORDER_REFLECT_101)
    grain = cv2.transform(field, _grain_mix(color, k))
    lum = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    amp = (0.1 * strength) * (0.3 + 2.8 * np.clip(lum * (1.0 - lum), 0.0, 0.25))
    return img + grain * amp[..., None]


def fade(img: np.ndarray, amount: float) -> np.ndarray:
    """Fade and yellow: partial desaturation, lifted warm blacks, cream highlights.

    Deterministic affine colour map; ``amount`` in [0, 1]; [0, 1] input stays in [0, 1].
    """
    img = as_rgb_float(img)
    if amount <= 0:
        return img.copy()
    desat = 0.5 * amount
    grey = desat * np.tile(_LUMA.astype(np.float64), (3, 1)) + (1.0 - desat) * np.eye(3)
    lo, hi = _FADE_LIFT * amount, 1.0 - _FADE_DROP * amount
    affine = np.hstack([(hi - lo)[:, None] * grey, lo[:, None]])
    return cv2.transform(img, affine.astype(np.float32))


__all__ = ["GRAIN_COLOR", "GRAIN_SIZE", "fade", "film_grain", "gauss1d"]
