"""Speed of restoration services on synthetic images (drives ``patina bench``).

Sizes are megapixels of *output* (an upscaler's input is smaller by ``scale**2``);
inpainting-style services get about 3% of the area in 16-pixel holes. A small probe
warms the service up and predicts each size's time, so a size that would take too long
is skipped rather than run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.degradations import quantize8, random_holes
from app.core.errors import InvalidInputError
from app.evaluation.protocol import Case, OnProgress, output_scale, restore
from app.ml.services.base import Service


@dataclass
class BenchResult:
    """Speed of one service at one size; ``skipped`` says why it was not run (else None)."""

    key: str
    megapixels: float
    device: str
    ms: float | None = None
    skipped: str | None = None

    @property
    def ms_per_mp(self) -> float | None:
        """Milliseconds per output megapixel (None when skipped)."""
        return None if self.ms is None else self.ms / self.megapixels

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready row."""
        per_mp = self.ms_per_mp
        return {
            "service": self.key,
            "megapixels": self.megapixels,
            "device": self.device,
            "ms": None if self.ms is None else round(self.ms, 3),
            "ms_per_mp": None if per_mp is None else round(per_mp, 3),
            "skipped": self.skipped,
        }


def image_shape(megapixels: float, aspect: float = 4 / 3) -> tuple[int, int]:
    """(height, width) of an image of about ``megapixels`` MP with ``width/height = aspect``."""
    if megapixels <= 0:
        raise InvalidInputError(f"sizes must be positive megapixels, got {megapixels}")
    height = max(16, round(math.sqrt(megapixels * 1e6 / aspect)))
    return height, max(16, round(height * aspect))


def synthetic_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A float32 (H, W, 3) test picture: smooth gradients and edges plus mild 8-bit noise."""
    h, w = shape
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.5 + 0.25 * np.sin(xx / 37.0)[..., None] * np.cos(yy / 23.0)[..., None]
    tint = np.array([1.0, 0.85, 0.7], np.float32)
    image = base * tint + ((xx // 64 + yy // 64) % 2)[..., None] * 0.1
    image += rng.normal(0.0, 10.0 / 255.0, (h, w, 3)).astype(np.float32)
    return quantize8(image)


def bench_case(service: Service, megapixels: float, seed: int = 0) -> Case:
    """A synthetic input whose *output* has about ``megapixels`` MP (with holes if needed)."""
    scale = output_scale(service)
    h, w = image_shape(megapixels / scale**2)
    image = synthetic_image((h, w), seed)
    mask = None
    if service.info.uses_mask or service.info.task == "inpaint":
        count = max(1, round(h * w * 0.03 / (16 * 16)))  # about 3% of the area in 16-px holes
        mask = np.asarray(random_holes((h, w), 16, count, np.random.default_rng(seed)), np.float32)
    return Case(clean=image, degraded=image, mask=mask)


def bench_service(
    service: Service,
    sizes: Sequence[float],
    *,
    tile: int = 512,
    max_seconds: float = 60.0,
    probe_mp: float = 0.05,
    on_progress: OnProgress | None = None,
) -> Iterator[BenchResult]:
    """Time ``service`` at each output size in ``sizes`` (MP); yields one result per size.

    A probe at ``probe_mp`` (which also warms the service up) estimates the time of each
    size; a size estimated to take longer than ``max_seconds`` is skipped as "slow".
    """
    device = str(service.device)
    probe = bench_case(service, probe_mp)
    _, probe_ms = restore(service, probe, {}, tile)
    per_mp = probe_ms / (probe.degraded.shape[0] * probe.degraded.shape[1] / 1e6)
    per_mp /= output_scale(service) ** 2
    for size in sizes:
        estimate_s = per_mp * size / 1000.0
        if estimate_s > max_seconds:
            yield BenchResult(service.info.key, size, device, skipped=f"slow (~{estimate_s:.0f} s)")
            continue
        case = bench_case(service, size)
        result, ms = restore(service, case, {}, tile, on_progress)
        mp = result.shape[0] * result.shape[1] / 1e6
        yield BenchResult(service.info.key, mp, device, ms=ms)
