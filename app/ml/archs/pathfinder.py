"""Pathfinder: a tiny MLP that picks a restoration path per region (Path-Restore).

Input: per-region features (N, F) from :func:`app.ml.routing.region_features` (the VDIR
latent's mean and spread over the region, the EST noise map's mean and maximum, and
cheap statistics of the degraded pixels); output: logits (N, 3) over
:data:`app.core.route_plan.PATHS` (bypass, quick, full). Features are standardised by
buffers fitted on the training table, so the weights file is self-contained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

FEATURES = 13


@dataclass(frozen=True)
class PathfinderConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    features: int = FEATURES
    hidden: int = 32
    paths: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Pathfinder(nn.Module):
    """Standardise -> Linear -> ReLU -> Linear -> ReLU -> Linear to path logits."""

    def __init__(self, cfg: PathfinderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or PathfinderConfig()
        f, h = self.cfg.features, self.cfg.hidden
        self.register_buffer("shift", torch.zeros(f))
        self.register_buffer("scale", torch.ones(f))
        self.net = nn.Sequential(
            nn.Linear(f, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, self.cfg.paths)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) float features -> (N, paths) logits."""
        shift, scale = self.get_buffer("shift"), self.get_buffer("scale")
        return self.net((features - shift) / scale)  # type: ignore[no-any-return]

    def fit_normaliser(self, features: torch.Tensor) -> None:
        """Set the standardisation to ``features``' (N, F) mean and std."""
        self.get_buffer("shift").copy_(features.mean(0))
        self.get_buffer("scale").copy_(features.std(0).clamp_min(1e-6))

    def macs_per_region(self) -> int:
        """Multiply-accumulates of one forward pass for one region."""
        return sum(m.in_features * m.out_features for m in self.net if isinstance(m, nn.Linear))


def build(config: dict[str, Any] | None = None) -> Pathfinder:
    """A randomly initialised Pathfinder from a config dict (as stored in the metadata)."""
    return Pathfinder(PathfinderConfig(**(config or {})))
