"""VDIR for blind super-resolution (Soh & Cho, section VI): latent, restorer, sub-pixel.

Luma only, like :mod:`app.ml.archs.sr` (``y``: (N, 1, h, w) low-resolution BT.601
full-range luma in [0, 1]; ``s``: the scale, one of ``cfg.scales``). All at low
resolution until the per-scale sub-pixel tail:

- ``encode(y) -> (mean, logvar)``: q(c|y), three 3x3 convs to a ``latent``-channel code
  at the input's (low) resolution.
- ``decode(c) -> y_hat``: p(y|c), two 3x3 convs back to the low-resolution luma.
- ``estimate(c) -> (N,)``: EST(c), conv-relu-conv to a map whose spatial mean is the
  blur std / 3 (the "known degradation parameter" of the paper's estimation loss).
- ``restore(y, c, s) -> x_hat``: f(y, c), a conv head, ``blocks`` residual blocks each
  modulated by an SFT of ``c`` (:class:`app.ml.archs.blocks.SFT`), a conv with the
  global skip, then the scale's tail: 3x3 conv to ``s*s`` channels, pixel shuffle, plus
  bicubic upsampling of ``y``. Tails and SFTs start at zero: untrained, f is bicubic.

Built, tested and trainable (``task: "vdir-sr"`` in the mask loop) but not trained or
shipped: CPU time went to the DL-Net model (docs/models.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from app.ml.archs.blocks import SFT
from app.ml.sr_ops import MAX_BLUR, bicubic_up


@dataclass(frozen=True)
class VDIRSRConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    width: int = 32
    blocks: int = 6
    latent: int = 4
    enc_width: int = 16
    sft_hidden: int = 16
    est_hidden: int = 16
    scales: tuple[int, ...] = (2, 3, 4)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VDIRSRConfig:
        """Build from a JSON-like dict; unknown keys raise TypeError."""
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class VDIRSROutput(NamedTuple):
    """Everything the training loss needs from one forward pass."""

    restored: torch.Tensor  # (N, 1, s*h, s*w)
    mean: torch.Tensor  # (N, L, h, w)
    logvar: torch.Tensor  # (N, L, h, w)
    decoded: torch.Tensor  # (N, 1, h, w), p(y|c)
    estimate: torch.Tensor  # (N,), blur std in px


def _convs(cin: int, width: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, width, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, cout, 3, padding=1),
    )  # fmt: skip


class SFTBlock(nn.Module):
    """x + conv(relu(SFT(conv(x), c)))."""

    def __init__(self, width: int, latent: int, hidden: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(width, width, 3, padding=1)
        self.sft = SFT(width, latent, hidden)
        self.c2 = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        assert self.c2.bias is not None
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.sft(self.c1(x), c)))  # type: ignore[no-any-return]


class VDIRSR(nn.Module):
    """Blind SR: encoder, decoder, EST and an SFT-conditioned restorer with per-scale tails."""

    def __init__(self, cfg: VDIRSRConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or VDIRSRConfig()
        self.encoder = _convs(1, cfg.enc_width, 2 * cfg.latent)
        self.decoder = _convs(cfg.latent, cfg.enc_width, 1)
        self.est = nn.Sequential(
            nn.Conv2d(cfg.latent, cfg.est_hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(cfg.est_hidden, 1, 3, padding=1),
        )  # fmt: skip
        self.head = nn.Conv2d(1, cfg.width, 3, padding=1)
        self.body = nn.ModuleList(
            [SFTBlock(cfg.width, cfg.latent, cfg.sft_hidden) for _ in range(cfg.blocks)]
        )
        self.fuse = nn.Conv2d(cfg.width, cfg.width, 3, padding=1)
        self.tails = nn.ModuleDict(
            {str(s): nn.Conv2d(cfg.width, s * s, 3, padding=1) for s in cfg.scales}
        )
        for tail in self.tails.values():
            assert isinstance(tail, nn.Conv2d) and tail.bias is not None
            nn.init.zeros_(tail.weight)
            nn.init.zeros_(tail.bias)

    def encode(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, h, w) -> mean, logvar, each (N, L, h, w)."""
        mean, logvar = self.encoder(y - 0.5).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, c: torch.Tensor) -> torch.Tensor:
        """p(y|c): (N, L, h, w) -> (N, 1, h, w)."""
        return self.decoder(c) + 0.5  # type: ignore[no-any-return]

    def estimate(self, c: torch.Tensor) -> torch.Tensor:
        """EST(c): (N,) blur std (px), the spatial mean of the map times 3."""
        return MAX_BLUR * self.est(c).mean(dim=(1, 2, 3))

    def restore(self, y: torch.Tensor, c: torch.Tensor, s: int) -> torch.Tensor:
        """f(y, c): (N, 1, h, w), (N, L, h, w) -> (N, 1, s*h, s*w), unclipped."""
        if s not in self.cfg.scales:
            raise ValueError(f"scale {s} not in {self.cfg.scales}")
        first = self.head(y)
        x = first
        for block in self.body:
            x = block(x, c)
        res = F.pixel_shuffle(self.tails[str(s)](self.fuse(x) + first), s)
        return bicubic_up(y, s) + res

    def forward(
        self, y: torch.Tensor, s: int, sample: bool = True, generator: torch.Generator | None = None
    ) -> VDIRSROutput:
        """All pieces for the loss; ``sample=False`` uses the mean latent (inference)."""
        mean, logvar = self.encode(y)
        c = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
            c = mean + torch.exp(0.5 * logvar) * eps.to(mean.device)
        return VDIRSROutput(self.restore(y, c, s), mean, logvar, self.decode(c), self.estimate(c))


def build(arch: dict[str, Any]) -> VDIRSR:
    """A randomly initialised VDIRSR from an arch dict."""
    return VDIRSR(VDIRSRConfig.from_dict(arch))
