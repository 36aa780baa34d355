"""Damage detection: per-pixel probability of scratches, dust and tears, tiled.

Two detectors with the same interface, ``probability(image, tile) -> Work[(H, W)]``
(float32 in [0, 1], one Progress per tile, ``stage="detect"``):

- :class:`LearnedDetector`: the small U-Net of :mod:`app.ml.archs.detector` trained by
  Patina on synthetic damage over grain/blur/fade (``models/damage-detector``; the
  registry builds it from its manifest entry: :func:`app.ml.registry.create_detector`).
- :class:`TopHatDetector`: the classical baseline: white and black morphological
  top-hats of the luminance (structuring disk of ``radius``), their maximum mapped to a
  pseudo-probability ``clip(tophat / (2 * level), 0, 1)``, so 0.5 means "``level``
  above the local background".

A mask is made from a probability map with :func:`to_mask`, which is
:func:`app.core.masks.from_probability` (threshold, then grow by ``grow`` px), the same
function the window and the old-photo pipeline use without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

# detection defaults and probability -> mask live in core (the UI uses them without torch)
from app.core.masks import DAMAGE_GROW as DEFAULT_GROW  # noqa: F401
from app.core.masks import DAMAGE_THRESHOLD as DEFAULT_THRESHOLD  # noqa: F401
from app.core.masks import from_probability as to_mask  # noqa: F401
from app.core.progress import Work
from app.core.tiling import process_tiled
from app.ml.archs.detector import DamageDetector, build
from app.ml.loading import EntryLike, load_arch_model, pick_device, weights_path
from app.ml.services.base import Service, ServiceInfo, check_image

OVERLAP = 32
_CACHE: dict[tuple[str, str], DamageDetector] = {}


def load_model(path: Path, device: str = "cpu") -> DamageDetector:
    """A DamageDetector in eval mode from weights whose metadata holds ``arch``."""
    model = load_arch_model(path, build)
    return model.eval().to(device)


def tiled_probability(
    image: np.ndarray, per_tile: Callable[[np.ndarray], np.ndarray], tile: int
) -> Work[np.ndarray]:
    """``per_tile`` over ``image`` in tiles (at least ``2 * OVERLAP + 8`` px), clipped to [0, 1].

    ``per_tile`` maps an (h, w, 3) part to an (h, w) map; the result is (H, W) float32.
    Yields one Progress per tile (``stage="detect"``).
    """
    check_image(image)
    tile = max(tile, 2 * OVERLAP + 8)
    out = yield from process_tiled(image, per_tile, tile=tile, overlap=OVERLAP, stage="detect")
    return np.clip(out[:, :, 0], 0.0, 1.0)


class LearnedDetector:
    """The trained damage detector whose weights ``entry`` names (the registry's
    ModelEntry, or any :class:`~app.ml.loading.EntryLike`)."""

    method = "learned"

    def __init__(self, entry: EntryLike, device: str = "auto") -> None:
        self.entry = entry
        self.device, _ = pick_device(device)

    @property
    def model(self) -> DamageDetector:
        """The loaded network (cached per id and device)."""
        key = (self.entry.id, self.device)
        if key not in _CACHE:
            _CACHE[key] = load_model(weights_path(self.entry), self.device)
        return _CACHE[key]

    def _tile(self, part: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(part.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            prob = torch.sigmoid(self.model(x.to(self.device)))
        return prob[0, 0].cpu().numpy().astype(np.float32)

    def probability(self, image: np.ndarray, tile: int = 512) -> Work[np.ndarray]:
        """Damage probability (H, W) float32 in [0, 1]; yields Progress per tile."""
        return (yield from tiled_probability(image, self._tile, tile))


class TopHatDetector:
    """Classical baseline: morphological top-hat of the luminance, thresholded."""

    method = "tophat"

    def __init__(self, radius: int = 4, level: float = 0.3) -> None:
        self.radius, self.level = radius, level

    def _tile(self, part: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(part, cv2.COLOR_RGB2GRAY)
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.radius + 1,) * 2)
        white = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, disk)
        black = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, disk)
        return np.clip(np.maximum(white, black) / (2 * self.level), 0.0, 1.0).astype(np.float32)

    def probability(self, image: np.ndarray, tile: int = 512) -> Work[np.ndarray]:
        """Pseudo-probability (H, W) float32 in [0, 1]; yields Progress per tile."""
        return (yield from tiled_probability(image, self._tile, tile))


Detector = LearnedDetector | TopHatDetector


@dataclass
class ManifestEntry:
    """The fields of a model entry a :class:`LearnedDetector` reads, for weights that are
    not listed in a manifest (evaluation, quality gates)."""

    id: str
    task: str
    file: str
    title: str = ""


class DetectService(Service):
    """A detector as a Service for the worker pool: returns the image unchanged and
    leaves the probability in ``extra_layers["probability"]`` (the pool passes it on)."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.device = getattr(self.detector, "device", "cpu")
        self.extra_layers: dict[str, np.ndarray] = {}
        self.info = ServiceInfo(
            task="old-photo", method="detect", title="Damage detection",
            description="Per-pixel probability of scratches, dust and tears.",
        )  # fmt: skip

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        prob = yield from self.detector.probability(image, tile)
        self.extra_layers = {"probability": prob}
        return image
