"""The pathfinder's training table: per-region features and the L2 of every path, once.

For each training crop (clean ``x``, degraded ``y`` at a uniform, linearly varying or
peaked noise level, 8-bit quantised) the VDIR service encodes ``y`` once, runs the full
and the quick restorer over the whole crop, and records per 64-pixel region the
pathfinder's features (:func:`app.ml.routing.region_features`), the mean squared error
of bypass (``y`` itself), quick and full against ``x``, and the region's true mean
sigma. REINFORCE then trains on that table alone (:mod:`app.training.route_train`):
seconds instead of hours, and exactly the rewards each action would have earned.

Noise maps (:func:`sigma_map`) are also what ``tools/docs/route_report.py`` evaluates on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core import image_io
from app.core.progress import drive
from app.core.route_plan import CELL, grid_shape
from app.evaluation.images import IMAGE_SUFFIXES
from app.ml.routing import est_map, region_features
from app.ml.services.vdir import VDIRService

NOISE_KINDS = ("uniform", "linear", "peaks")
SIGMA_MAX = 75.0


@dataclass
class Table:
    """N regions: ``features`` (N, F), ``l2`` (N, 3) per path (bypass, quick, full),
    ``sigma`` (N,) true mean noise level (0..255), ``crop`` (N,) index of the crop."""

    features: np.ndarray
    l2: np.ndarray
    sigma: np.ndarray
    crop: np.ndarray

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **self.__dict__)

    @classmethod
    def load(cls, path: Path) -> Table:
        with np.load(path) as data:
            return cls(*(data[k] for k in ("features", "l2", "sigma", "crop")))


def sigma_map(
    kind: str, size: tuple[int, int], rng: np.random.Generator, low: float = 0.0
) -> np.ndarray:
    """Float32 (H, W) noise level (0..255) of ``kind``: uniform U[low, 75]; linear from
    a to b (each U[low, 75]) along a random direction; peaks: 1-3 Gaussian bumps of
    20-60 over a U[low, 15] floor, clipped to 75."""
    h, w = size
    if kind == "uniform":
        return np.full(size, rng.uniform(low, SIGMA_MAX), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "linear":
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * xx + np.sin(angle) * yy
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        a, b = rng.uniform(low, SIGMA_MAX, 2)
        return (a + (b - a) * t).astype(np.float32)
    if kind == "peaks":
        out = np.full(size, rng.uniform(low, 15.0), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(20, 80)
            bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
            out += rng.uniform(20, 60) * bump
        return np.minimum(out, SIGMA_MAX).astype(np.float32)
    raise ValueError(f"unknown noise kind {kind!r}; one of {NOISE_KINDS}")


def add_noise(clean: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``clean`` + N(0, sigma/255) per pixel, clipped and quantised to 8 bits."""
    noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * sigma[..., None] / 255
    return (np.round(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32)


def training_images(data: Path) -> list[Path]:
    """Image files under ``data`` (recursively), sorted."""
    return sorted(p for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def region_mse(a: np.ndarray, b: np.ndarray, cell: int = CELL) -> np.ndarray:
    """Float64 (rows, cols) mean squared error of each cell of two (H, W, 3) images."""
    err = ((a.astype(np.float64) - b) ** 2).mean(2)
    rows, cols = grid_shape(err.shape[0], err.shape[1], cell)
    out = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            out[r, c] = err[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell].mean()
    return out


def crop_rows(
    service: VDIRService, clean: np.ndarray, noisy: np.ndarray, sigma: np.ndarray, tile: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (n, F), l2 (n, 3), sigma (n,)) of one crop (H, W multiples of 4)."""
    mean = service.encode(noisy, tile)
    quick = drive(service.quick()._restore_view(noisy, mean, tile))
    full = drive(service._restore_view(noisy, mean, tile))
    feats = region_features(noisy, mean, est_map(service, mean))
    l2 = [region_mse(np.clip(out, 0, 1), clean) for out in (noisy, quick, full)]
    sig = region_mse(np.repeat(sigma[..., None], 3, 2), np.zeros_like(clean)) ** 0.5
    return feats.reshape(-1, feats.shape[-1]), np.stack(l2, -1).reshape(-1, 3), sig.ravel()


def build_table(
    service: VDIRService, data: Path, crops: int, size: int = 256, seed: int = 0
) -> Table:
    """``crops`` random ``size``-pixel crops of the images under ``data`` (one per image,
    cycling), each with a random noise kind; seeded."""
    rng = np.random.default_rng(seed)
    files = training_images(data)
    rng.shuffle(files)  # type: ignore[arg-type]
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for i in range(crops):
        img = image_io.load(files[i % len(files)]).pixels
        if min(img.shape[:2]) < size:
            continue
        y0 = int(rng.integers(0, img.shape[0] - size + 1))
        x0 = int(rng.integers(0, img.shape[1] - size + 1))
        clean = np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size])
        sigma = sigma_map(NOISE_KINDS[i % len(NOISE_KINDS)], (size, size), rng)
        feats, l2, sig = crop_rows(service, clean, add_noise(clean, sigma, rng), sigma)
        rows.append((feats, l2, sig, np.full(len(sig), i)))
    return Table(*(np.concatenate(col) for col in zip(*rows, strict=True)))
