"""Damage detector: a small U-Net giving a per-pixel damage logit (scratches, dust, tears).

Input (N, 3, H, W) image in [0, 1]; output (N, 1, H, W) logits (``sigmoid`` gives the
damage probability). Three levels of plain 3x3 conv + LeakyReLU pairs, stride-2 downs,
nearest-upsample + concatenation skips, two dilated convs at 1/4 resolution for
context (a scratch is long and thin; grain is not). Any H, W (padded to a multiple of 4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MULTIPLE = 4


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    widths: tuple[int, int, int] = (16, 24, 32)
    dilations: tuple[int, ...] = (2, 4)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        """Build from a JSON-like dict; unknown keys raise TypeError."""
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _conv(cin: int, out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, out, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.LeakyReLU(0.1),
    )


class DamageDetector(nn.Module):
    """Small segmentation U-Net; ``forward`` returns logits of the damage probability."""

    multiple = MULTIPLE

    def __init__(self, cfg: DetectorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DetectorConfig()
        c1, c2, c3 = self.cfg.widths
        self.e1 = nn.Sequential(_conv(3, c1), _conv(c1, c1))
        self.e2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.e3 = nn.Sequential(
            _conv(c2, c3, 2), *[_conv(c3, c3, 1, d) for d in self.cfg.dilations]
        )
        self.d2 = _conv(c3 + c2, c2)
        self.d1 = _conv(c2 + c1, c1)
        self.out = nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        s1 = self.e1(x - 0.5)
        s2 = self.e2(s1)
        b = self.e3(s2)
        d = self.d2(torch.cat([F.interpolate(b, scale_factor=2.0), s2], 1))
        d = self.d1(torch.cat([F.interpolate(d, scale_factor=2.0), s1], 1))
        return self.out(d)[..., :h, :w]


def build(arch: dict[str, Any] | DetectorConfig | None = None) -> DamageDetector:
    """DamageDetector from a config dict (as stored in weights metadata) or config."""
    if arch is None or isinstance(arch, DetectorConfig):
        return DamageDetector(arch)
    return DamageDetector(DetectorConfig.from_dict(arch))
