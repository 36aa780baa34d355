"""Training data: clean images cached in RAM as uint8, random patches, on-the-fly degradation.

Every random choice comes from one ``numpy.random.Generator`` owned by the training
loop, so a run is reproducible and resumable from the generator's saved state.

A sample is ``(x, y, t)``: clean patch, degraded patch (both float32 (P, P, 3) in [0, 1],
on the 8-bit grid) and the EST target map (P, P) float32, the normalised degradation
parameter per pixel (noise std / 75 for denoise and old-photo, quality / 100 for deblock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.core import degradations as D
from app.core.camera_noise import effective_sigma_map
from app.evaluation.images import find_images, read_uint8

SIGMA_NORM = 75.0
QUALITY_NORM = 100.0

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


def split_bank(folder: str | Path, n_val: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(train, val) uint8 images; every ``len/n_val``-th file is held out for validation."""
    files = find_images(folder)
    stride = max(len(files) // max(n_val, 1), 1)
    val_idx = set(range(stride - 1, len(files), stride)[:n_val]) if n_val > 0 else set()
    imgs = [read_uint8(p) for p in files]
    train = [im for i, im in enumerate(imgs) if i not in val_idx]
    return train, [imgs[i] for i in sorted(val_idx)]


def random_patch(img: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """Random ``patch`` crop with a random flip and 90-degree rotation, float32 in [0, 1]."""
    h, w = img.shape[:2]
    y0 = int(rng.integers(0, h - patch + 1))
    x0 = int(rng.integers(0, w - patch + 1))
    crop = img[y0 : y0 + patch, x0 : x0 + patch]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.rot90(crop, int(rng.integers(0, 4)))
    return np.ascontiguousarray(crop).astype(np.float32) / 255.0


def _uniform(rng: np.random.Generator, lo_hi: list[float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _noise_std_map(x: np.ndarray, sigma: float, poisson: float) -> np.ndarray:
    """Per-pixel noise std on 0..255 of Gaussian(sigma) + Poisson-Gaussian(poisson) noise."""
    var = (sigma / 255.0) ** 2 + poisson * np.maximum(x.mean(axis=2), 0.0)
    return (255.0 * np.sqrt(var)).astype(np.float32)


def synth_denoise(x: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> Sample:
    """Gaussian noise, sigma ~ U(cfg sigma), or Poisson-Gaussian with prob ``poisson_prob``;
    clipped and rounded to 8 bits as in the evaluation protocol."""
    sigma = _uniform(rng, cfg.get("sigma", [0.0, 75.0]))
    poisson = 0.0
    if rng.random() < cfg.get("poisson_prob", 0.0):
        poisson = _uniform(rng, cfg.get("poisson", [0.0, 0.04]))
        sigma = _uniform(rng, cfg.get("poisson_sigma", [0.0, 25.0]))
    if poisson > 0:
        y = D.add_poisson_gaussian(x, poisson, sigma, rng)
    else:
        y = D.add_gaussian_noise(x, sigma, rng)
    return x, D.quantize8(y), _noise_std_map(x, sigma, poisson) / SIGMA_NORM


def synth_deblock(x: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> Sample:
    """OpenCV JPEG (4:2:0) at quality ~ U{q0..q1}; target quality / 100."""
    lo, hi = cfg.get("quality", [10, 95])
    q = int(rng.integers(int(lo), int(hi) + 1))
    y = D.jpeg_compress(x, q)
    return x, y, np.full(x.shape[:2], q / QUALITY_NORM, np.float32)


def synth_oldphoto(x: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> Sample:
    """Chain fade -> blur -> grain -> noise -> 8-bit -> JPEG, each step present with its
    probability; the target is the clean patch, EST target the additive noise std / 75."""

    def on(name: str) -> bool:
        return bool(rng.random() < cfg.get(f"{name}_prob", 0.5))

    fade = _uniform(rng, cfg.get("fade", [0.0, 0.6])) if on("fade") else 0.0
    blur = _uniform(rng, cfg.get("blur", [0.3, 1.5])) if on("blur") else 0.0
    grain = _uniform(rng, cfg.get("grain", [0.0, 0.6])) if on("grain") else 0.0
    sigma = _uniform(rng, cfg.get("sigma", [0.0, 30.0])) if on("sigma") else 0.0
    jpeg = int(rng.integers(*cfg.get("quality", [30, 96]))) if on("jpeg") else None
    spec = D.DegradationSpec(
        fade=fade, blur=blur, grain=grain, sigma=sigma, jpeg=jpeg, seed=int(rng.integers(2**31))
    )
    y = D.degrade(x, spec).image
    return x, y, np.full(x.shape[:2], sigma / SIGMA_NORM, np.float32)


_REAL_MIX = {"awgn": 0.3, "camera": 0.5, "grain": 0.2}


def _camera_spec(rng: np.random.Generator, cfg: dict[str, Any]) -> D.DegradationSpec:
    """Camera pipeline: shot log-uniform in ``cfg["shot"]``, read = shot * U(``read_ratio``),
    a random demosaic, JPEG (q ~ U{``quality``}) with probability ``jpeg_prob``."""
    lo, hi = cfg.get("shot", [0.01, 0.25])
    shot = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    read = shot * _uniform(rng, cfg.get("read_ratio", [0.1, 0.4]))
    demosaic = ("bilinear", "ea")[int(rng.integers(0, 2))]
    jpeg = int(rng.integers(*cfg.get("quality", [60, 96])))
    return D.DegradationSpec(
        shot=min(shot, 0.3), read=min(read, 0.1), demosaic=demosaic,
        jpeg=jpeg if rng.random() < cfg.get("jpeg_prob", 0.3) else None,
        seed=int(rng.integers(2**31)),
    )  # fmt: skip


def _grain_spec(rng: np.random.Generator, cfg: dict[str, Any]) -> D.DegradationSpec:
    """Film grain of random amount, size and colour, with light AWGN half of the time."""
    sigma = _uniform(rng, cfg.get("grain_sigma", [0.0, 10.0])) if rng.random() < 0.5 else 0.0
    return D.DegradationSpec(
        grain=_uniform(rng, cfg.get("grain", [0.1, 0.7])),
        grain_size=_uniform(rng, cfg.get("grain_size", [0.5, 2.5])),
        grain_color=_uniform(rng, cfg.get("grain_color", [0.0, 0.6])),
        sigma=sigma, seed=int(rng.integers(2**31)),
    )  # fmt: skip


def synth_real(x: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]) -> Sample:
    """The real-noise mixture: AWGN (as :func:`synth_denoise`), camera-pipeline noise
    (:mod:`app.core.camera_noise`) or film grain, drawn with the ``mix`` probabilities.

    EST target: the noise's effective sRGB std map (0..255) / 75 — exact for AWGN, the
    local RMS of ``y - x`` (:func:`~app.core.camera_noise.effective_sigma_map`) otherwise.
    """
    mix = cfg.get("mix", _REAL_MIX)
    kinds = sorted(mix)
    probs = np.array([mix[k] for k in kinds], np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
    if kind == "awgn":
        return synth_denoise(x, rng, cfg)
    spec = _camera_spec(rng, cfg) if kind == "camera" else _grain_spec(rng, cfg)
    y = D.degrade(x, spec).image
    return x, y, effective_sigma_map(x, y) / SIGMA_NORM


SYNTH = {
    "denoise": synth_denoise,
    "deblock": synth_deblock,
    "old-photo": synth_oldphoto,
    "denoise-real": synth_real,
}


def sample_batch(
    bank: list[np.ndarray],
    task: str,
    cfg: dict[str, Any],
    patch: int,
    batch: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, t): (B, 3, P, P), (B, 3, P, P), (B, 1, P, P) float32 arrays."""
    synth = SYNTH[task]
    xs, ys, ts = [], [], []
    for _ in range(batch):
        img = bank[int(rng.integers(0, len(bank)))]
        x, y, t = synth(random_patch(img, patch, rng), rng, cfg)
        xs.append(x.transpose(2, 0, 1))
        ys.append(y.transpose(2, 0, 1))
        ts.append(t[None])
    return np.stack(xs), np.stack(ys), np.stack(ts)


def validation_set(
    val: list[np.ndarray], task: str, cfg: dict[str, Any], crop: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (x, y) centre crops of the held-out images at the task's validation setting
    (``cfg["val"]``, e.g. ``{"sigma": [25, 25]}``), seeded; (N, 3, crop, crop) each."""
    rng = np.random.default_rng(seed + 12345)
    fixed = {**cfg, **cfg.get("val", {})}
    xs, ys = [], []
    for img in val:
        h, w = img.shape[:2]
        y0, x0 = (h - crop) // 2, (w - crop) // 2
        x = img[y0 : y0 + crop, x0 : x0 + crop].astype(np.float32) / 255.0
        _, y, _ = SYNTH[task](x, rng, fixed)
        xs.append(x.transpose(2, 0, 1))
        ys.append(y.transpose(2, 0, 1))
    return np.stack(xs), np.stack(ys)
