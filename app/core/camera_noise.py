"""Realistic camera noise: the CBDNet-style in-camera pipeline run backwards and forwards.

``camera_pipeline_noise`` takes a clean sRGB image and returns what a camera would have
written had it photographed the same scene at a higher ISO:

    sRGB -> inverse tone curve -> linear irradiance L -> RGGB Bayer mosaic
         -> heteroscedastic Gaussian noise, var = shot^2 * L + read^2   (Poisson-Gaussian)
         -> clip at 0 and 1 (the sensor's black level and saturation)
         -> demosaic ("bilinear" or the edge-aware "ea")
         -> tone curve -> sRGB

JPEG, when wanted, is applied afterwards by :func:`app.core.degradations.degrade` (its
``jpeg`` step). Units: ``shot`` and ``read`` are standard deviations on the *linear*
[0, 1] scale (CBDNet samples shot in [0, 0.16], read in [0, 0.06]); the tone curve is a
gamma ``tone_gamma`` (2.2 by default; 1/2.2 is its inverse). Presets name typical
(shot, read) pairs from phone to DSLR high ISO (:data:`ISO_PRESETS`).

Qt- and torch-free; deterministic for a given numpy Generator.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.core.arrays import as_rgb_float
from app.core.errors import InvalidInputError

DEMOSAIC_METHODS = ("bilinear", "ea")
# (shot, read) on the linear scale. The sRGB noise std at mid grey after bilinear
# demosaicking (tests/core/test_camera_noise.py measures it) runs from ~1.7/255 at ISO 100
# through ~12/255 at ISO 3200 to ~26/255 at ISO 12800 (a phone in the dark); read noise
# dominates the shadows, where the tone curve also amplifies it most.
ISO_PRESETS: dict[str, tuple[float, float]] = {
    "iso100": (0.016, 0.004),
    "iso200": (0.023, 0.0055),
    "iso400": (0.032, 0.008),
    "iso800": (0.052, 0.012),
    "iso1600": (0.075, 0.02),
    "iso3200": (0.11, 0.03),
    "iso6400": (0.16, 0.045),
    "iso12800": (0.23, 0.065),
}
_CODES = {"bilinear": cv2.COLOR_BayerBG2RGB, "ea": cv2.COLOR_BayerBG2RGB_EA}
_U16 = 65535.0


def preset(name: str) -> tuple[float, float]:
    """``(shot, read)`` of an ISO preset such as ``"iso3200"``; raises on unknown names."""
    key = str(name).strip().lower()
    if key not in ISO_PRESETS:
        raise InvalidInputError(
            f"unknown camera preset {name!r}; valid presets: {', '.join(ISO_PRESETS)}"
        )
    return ISO_PRESETS[key]


def srgb_to_linear(img: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """Inverse tone curve: ``img ** gamma`` on [0, 1] (float32)."""
    return np.power(np.clip(img, 0.0, 1.0), np.float32(gamma)).astype(np.float32)


def linear_to_srgb(lin: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """Tone curve: ``lin ** (1 / gamma)`` on [0, 1] (float32)."""
    return np.power(np.clip(lin, 0.0, 1.0), np.float32(1.0 / gamma)).astype(np.float32)


def mosaic(lin: np.ndarray) -> np.ndarray:
    """RGGB Bayer mosaic of an ``(H, W, 3)`` image: ``(H, W)``, R at (0, 0), B at (1, 1)."""
    raw = lin[..., 1].copy()
    raw[0::2, 0::2] = lin[0::2, 0::2, 0]
    raw[1::2, 1::2] = lin[1::2, 1::2, 2]
    return raw


def demosaic(raw: np.ndarray, method: str = "bilinear") -> np.ndarray:
    """``(H, W)`` RGGB mosaic in [0, 1] -> ``(H, W, 3)`` RGB (OpenCV, 16-bit precision).

    Odd sizes are padded by reflection to even and cropped back.
    """
    if method not in _CODES:
        raise InvalidInputError(
            f"demosaic must be one of {', '.join(DEMOSAIC_METHODS)}, got {method!r}"
        )
    h, w = raw.shape
    padded = np.pad(raw, ((0, h % 2 + 2), (0, w % 2 + 2)), mode="reflect")
    padded = np.pad(padded, ((2, 0), (2, 0)), mode="reflect")  # keep RGGB phase: even pads
    u16 = np.rint(np.clip(padded, 0.0, 1.0) * _U16).astype(np.uint16)
    rgb = cv2.cvtColor(u16, _CODES[method]).astype(np.float32) / _U16
    return np.ascontiguousarray(rgb[2 : 2 + h, 2 : 2 + w])


def noise_std_linear(lin: np.ndarray, shot: float, read: float) -> np.ndarray:
    """Per-pixel noise std on the linear scale: ``sqrt(shot^2 * L + read^2)``."""
    return np.sqrt(np.maximum(lin, 0.0) * np.float32(shot) ** 2 + np.float32(read) ** 2)


def camera_pipeline_noise(
    img: np.ndarray,
    shot: float,
    read: float,
    rng: np.random.Generator,
    *,
    demosaic_method: str = "bilinear",
    tone_gamma: float = 2.2,
) -> np.ndarray:
    """Clean sRGB ``(H, W, 3)`` in [0, 1] -> the same scene through a noisy camera.

    Returns float32 in [0, 1] (the sensor clips); not quantised. ``shot`` and ``read``
    are linear-scale stds (module doc); both 0 still runs mosaic + demosaic + tone curve.
    """
    if not (0.0 <= shot <= 1.0 and 0.0 <= read <= 1.0):
        raise InvalidInputError(f"camera noise shot/read must lie in [0, 1], got {shot}, {read}")
    lin = srgb_to_linear(as_rgb_float(img), tone_gamma)
    raw = mosaic(lin)
    std = noise_std_linear(raw, shot, read)
    noisy = raw + rng.standard_normal(raw.shape, dtype=np.float32) * std
    return linear_to_srgb(demosaic(np.clip(noisy, 0.0, 1.0), demosaic_method), tone_gamma)


def effective_sigma_map(clean: np.ndarray, noisy: np.ndarray, radius: float = 3.0) -> np.ndarray:
    """Local noise std on the 0..255 scale, ``(H, W)`` float32: the RMS of ``noisy - clean``
    over a Gaussian window of std ``radius`` px, averaged over the channels.

    The EST target of the real-noise model: it measures whatever noise the synthesis
    added (AWGN, camera pipeline, grain, JPEG error) in one unit.
    """
    diff2 = np.mean((noisy.astype(np.float32) - clean.astype(np.float32)) ** 2, axis=2)
    local = cv2.GaussianBlur(diff2, (0, 0), radius, borderType=cv2.BORDER_REFLECT_101)
    return (255.0 * np.sqrt(np.maximum(local, 0.0))).astype(np.float32)


__all__ = [
    "DEMOSAIC_METHODS",
    "ISO_PRESETS",
    "camera_pipeline_noise",
    "demosaic",
    "effective_sigma_map",
    "linear_to_srgb",
    "mosaic",
    "noise_std_linear",
    "preset",
    "srgb_to_linear",
]
