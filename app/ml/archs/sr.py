"""DL-Net super-resolution network with a known blur and scale, split as f = h o g.

Tensors are NCHW floats. The network works on luma (BT.601 full range, as in DL-Net
section IV-D: "only the luminance channel", chroma upscaled by bicubic interpolation by
the service). ``y``: (N, 1, h, w) low-resolution luma in [0, 1]; ``u``: (N,) Gaussian
blur std in high-resolution pixels (0..3); ``s``: integer scale, one of ``cfg.scales``.

- ``g(y, u, s) -> z``: all at low resolution. A 3x3 conv of ``[y, u/3]`` to ``width``
  channels, ``blocks`` residual blocks (conv-ReLU-conv) each modulated by a per-channel
  scale and shift (SFT/FiLM) computed by a small MLP from ``[u/3, one-hot(s)]``, a conv
  and the global skip from the first features. ``z`` is (N, width, h, w) divided by
  ``z_scale`` (``z_scale`` only re-parametrises z for the Eqn. 5 step size, see
  :mod:`app.ml.archs.inpaint`).
- ``h_s(z) -> x_hat``: per-scale tail, DL-Net's light h: one 3x3 conv from
  ``z_scale * z`` to ``s*s`` channels, pixel shuffle to (N, 1, s*h, s*w), plus
  ``bicubic_up(y, s)`` (a constant of h). The tail starts at zero, so an untrained
  network outputs bicubic upsampling exactly.
- Shared trunk, one tail per scale: CPU time trains only one model, and most of what
  the trunk learns (edges, textures, de-blurring at low resolution) is common to scales.
- ``estimator(y, s) -> u_hat``: the blind path's small separate network, sharing nothing
  with the SR network: ``est_kind = "pool"`` a CNN + global average pool (trained
  alongside; it stayed at a constant guess), ``"energy"`` log spectral energies of
  learned filters -> MLP (:class:`EnergyEstimator`, trained in a second stage with the
  SR network frozen). Blur std in [0, 3].

Cost: about ``18 * width^2 * blocks`` MACs per low-resolution pixel (``width = 32``,
``blocks = 6``: 111k per LR pixel = 28k per output pixel at x2, 12k at x3, 7k at x4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.ml.sr_ops import MAX_BLUR, bicubic_up


@dataclass(frozen=True)
class SRConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    width: int = 32
    blocks: int = 6
    scales: tuple[int, ...] = (2, 3, 4)
    z_scale: float = 10.0
    cond_hidden: int = 32
    est_width: int = 16
    est_layers: int = 4
    est_kind: str = "pool"

    def __post_init__(self) -> None:
        if self.est_kind not in ("pool", "energy"):
            raise ValueError(f"est_kind must be 'pool' or 'energy', not {self.est_kind!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SRConfig:
        """Build from a JSON-like dict; unknown keys raise TypeError."""
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def condition(u: torch.Tensor, s: int, scales: tuple[int, ...]) -> torch.Tensor:
    """(N, 1 + len(scales)) ``[u / 3, one-hot(s)]``."""
    onehot = torch.zeros(u.shape[0], len(scales), dtype=u.dtype, device=u.device)
    onehot[:, scales.index(s)] = 1.0
    return torch.cat([u[:, None] / MAX_BLUR, onehot], dim=1)


class FiLMBlock(nn.Module):
    """x + conv(relu((1 + a) * conv(x) + b)), (a, b) per channel from the condition."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(width, width, 3, padding=1)
        self.c2 = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.c2.weight)  # each block starts as the identity
        assert self.c2.bias is not None
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        a, b = ab[..., None, None].chunk(2, dim=1)
        return x + self.c2(F.relu(self.c1(x) * (1 + a) + b))  # type: ignore[no-any-return]


class Trunk(nn.Module):
    """g: (luma y, blur u, scale s) -> z, (N, width, h, w) at low resolution."""

    def __init__(self, cfg: SRConfig) -> None:
        super().__init__()
        w = cfg.width
        self.scales = tuple(cfg.scales)
        self.head = nn.Conv2d(2, w, 3, padding=1)
        self.cond = nn.Sequential(
            nn.Linear(1 + len(cfg.scales), cfg.cond_hidden),
            nn.ReLU(),
            nn.Linear(cfg.cond_hidden, 2 * w * cfg.blocks),
        )
        last = self.cond[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.body = nn.ModuleList([FiLMBlock(w) for _ in range(cfg.blocks)])
        self.tail = nn.Conv2d(w, w, 3, padding=1)
        self.z_scale = float(cfg.z_scale)

    def forward(self, y: torch.Tensor, u: torch.Tensor, s: int) -> torch.Tensor:
        umap = (u / MAX_BLUR).view(-1, 1, 1, 1).expand_as(y)
        first = self.head(torch.cat([y, umap], dim=1))
        ab = self.cond(condition(u.to(y.dtype), s, self.scales)).chunk(len(self.body), dim=1)
        x = first
        for block, mod in zip(self.body, ab, strict=True):
            x = block(x, mod)
        return (self.tail(x) + first) / self.z_scale  # type: ignore[no-any-return]


class Tail(nn.Module):
    """h_s: z -> pixel-shuffled residual over bicubic (the residual conv starts at 0)."""

    def __init__(self, cfg: SRConfig, s: int) -> None:
        super().__init__()
        self.s = s
        self.z_scale = float(cfg.z_scale)
        self.conv = nn.Conv2d(cfg.width, s * s, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        assert self.conv.bias is not None
        nn.init.zeros_(self.conv.bias)

    def forward(self, z: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return base + F.pixel_shuffle(self.conv(z * self.z_scale), self.s)


class Estimator(nn.Module):
    """Blind blur estimate: (luma y, scale s) -> (N,) u_hat in [0, 3]."""

    def __init__(self, cfg: SRConfig) -> None:
        super().__init__()
        self.scales = tuple(cfg.scales)
        w = cfg.est_width
        layers: list[nn.Module] = [nn.Conv2d(1 + len(cfg.scales), w, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.est_layers - 1):
            layers += [nn.Conv2d(w, w, 3, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(w, 1)

    def forward(self, y: torch.Tensor, s: int) -> torch.Tensor:
        n, _, hh, ww = y.shape
        onehot = condition(torch.zeros(n, dtype=y.dtype, device=y.device), s, self.scales)[:, 1:]
        planes = onehot[..., None, None].expand(n, len(self.scales), hh, ww)
        feats = self.features(torch.cat([y - 0.5, planes], dim=1)).mean(dim=(2, 3))
        return MAX_BLUR * torch.sigmoid(self.out(feats)[:, 0])


class EnergyEstimator(nn.Module):
    """Blind blur estimate from spectral energies: ``est_width`` learned 5x5 filters are
    applied to the luma at 1x and 1/2x (``est_layers - 1`` more halvings); the log of each
    filter's mean squared response (borders excluded), minus their mean (so a change of
    contrast cancels), and one-hot(s) feed a 2-layer MLP -> u_hat in [0, 3]. Blur lowers
    the high-frequency energies relative to the low ones; that slope is what it reads."""

    def __init__(self, cfg: SRConfig) -> None:
        super().__init__()
        self.scales = tuple(cfg.scales)
        self.octaves = max(cfg.est_layers - 2, 1)
        self.filters = nn.Conv2d(1, cfg.est_width, 5, bias=False)
        n_feat = cfg.est_width * self.octaves + len(cfg.scales)
        self.mlp = nn.Sequential(nn.Linear(n_feat, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, y: torch.Tensor, s: int) -> torch.Tensor:
        feats, x = [], y
        for _ in range(self.octaves):
            feats.append(torch.log(self.filters(x).pow(2).mean(dim=(2, 3)) + 1e-10))
            x = F.avg_pool2d(x, 2)
        e = torch.cat(feats, dim=1)
        onehot = condition(torch.zeros(y.shape[0], dtype=y.dtype, device=y.device), s, self.scales)
        e = torch.cat([e - e.mean(dim=1, keepdim=True), onehot[:, 1:]], dim=1)
        return MAX_BLUR * torch.sigmoid(self.mlp(e)[:, 0])


class SRNet(nn.Module):
    """DL-Net super-resolution: ``forward(y, u, s)`` = h_s(g(y, u, s)), the K = 1 output."""

    def __init__(self, cfg: SRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.g = Trunk(cfg)
        self.tails = nn.ModuleDict({str(s): Tail(cfg, s) for s in cfg.scales})
        self.estimator: nn.Module = (
            EnergyEstimator(cfg) if cfg.est_kind == "energy" else Estimator(cfg)
        )

    def check_scale(self, s: int) -> None:
        """ValueError unless the network has a tail for ``s``."""
        if s not in self.cfg.scales:
            raise ValueError(f"scale {s} not in {self.cfg.scales}")

    def parts(
        self, y: torch.Tensor, u: torch.Tensor, s: int
    ) -> tuple[Callable[[], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """(g, h) for one input: ``g()`` -> z, ``h(z)`` -> (N, 1, s*h, s*w) luma."""
        self.check_scale(s)
        base = bicubic_up(y, s)
        tail = self.tails[str(s)]
        return (lambda: self.g(y, u, s)), (lambda z: tail(z, base))

    def forward(self, y: torch.Tensor, u: torch.Tensor, s: int) -> torch.Tensor:
        g, h = self.parts(y, u, s)
        return h(g())


def build(arch: dict[str, Any]) -> SRNet:
    """The network of an ``arch`` dict (:class:`SRConfig` fields)."""
    return SRNet(SRConfig.from_dict(arch))
