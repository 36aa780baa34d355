"""VDIR (variational deep image restoration) with an efficient, CPU-friendly restorer.

Pieces (Soh & Cho, VDIR, sections III-IV), all on NCHW float tensors with images in [0, 1]:

- ``encode(y) -> (mean, logvar)``: q(c|y), a plain conv net downsampling x4 to a
  ``latent``-channel code at ``ceil(H/4) x ceil(W/4)``; with ``block_dct`` plus a
  :class:`BlockSpectrum` branch (8x8 DCT log-magnitudes on the grid JPEG uses, so the
  input's origin must sit on that grid: crops start at multiples of :data:`ALIGN`).
- ``restore(y, c) -> x_hat``: f(y, c), a 3-level U-Net of NAFNet blocks (most blocks at
  1/4 resolution) conditioned on ``c`` by concatenation at the 1/4 level and by SFT
  modulation (scale/shift from ``c``) at every level; global residual ``x_hat = y + f``.
- ``decode(c) -> y_hat``: p(y|c), the encoder's mirror (training only).
- ``estimate(c) -> map``: EST, conv-relu-conv to a 1-channel map of the normalised
  degradation parameter at latent resolution (mean over the map = global estimate).

Any H, W is accepted: inputs are padded to a multiple of :attr:`VDIR.multiple` inside and
outputs cropped back, so ``restore(y, encode(y)[0])`` equals ``forward(y, sample=False)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from app.ml.archs.blocks import SFT, BlockSpectrum, Down, NAFBlock, Pointwise, Up

MULTIPLE = 4
ALIGN = BlockSpectrum.BLOCK  # crops fed to encode start at multiples of this (JPEG's grid)
CONDITIONING = ("both", "concat", "sft")


@dataclass(frozen=True)
class VDIRConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    widths: tuple[int, int, int] = (16, 32, 64)
    enc_blocks: tuple[int, int] = (1, 1)
    mid_blocks: int = 8
    dec_blocks: tuple[int, int] = (1, 1)
    latent: int = 4
    enc_width: int = 32
    est_hidden: int = 32
    sft_hidden: int = 16
    conditioning: str = "both"  # "both", "concat" (1/4 level only) or "sft" (all levels)
    block_dct: bool = False  # encoder also sees 8x8 DCT log-magnitudes (JPEG quality)
    sft_levels: tuple[int, ...] = (0, 1, 2, 3, 4)  # levels with SFT (0, 4: full size)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning {self.conditioning!r} is not one of {CONDITIONING}")
        if not set(self.sft_levels) <= set(range(5)):
            raise ValueError(f"sft_levels {self.sft_levels} must be among 0-4")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VDIRConfig:
        """Build from a JSON-like dict; unknown keys raise TypeError."""
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class VDIROutput(NamedTuple):
    """Everything the training loss needs from one forward pass."""

    restored: torch.Tensor  # (N, 3, H, W)
    mean: torch.Tensor  # (N, L, h, w), h = ceil(H/4)
    logvar: torch.Tensor  # (N, L, h, w)
    latent: torch.Tensor  # (N, L, h, w), the code the restorer used
    decoded: torch.Tensor  # (N, 3, H, W), p(y|c)
    estimate: torch.Tensor  # (N, 1, h, w), EST(c)


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad NCHW ``x`` at bottom/right to a multiple (reflect where possible, else replicate)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if h > ph and w > pw else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


def make_encoder(latent: int, width: int) -> nn.Sequential:
    """q(c|y): (N,3,H,W) -> (N, 2*latent, H/4, W/4); H, W multiples of 4."""
    half = width // 2
    return nn.Sequential(
        nn.Conv2d(3, half, 3, padding=1), _act(),
        nn.Conv2d(half, width, 4, stride=2, padding=1), _act(),
        nn.Conv2d(width, width, 3, padding=1), _act(),
        nn.Conv2d(width, width, 4, stride=2, padding=1), _act(),
        nn.Conv2d(width, 2 * latent, 3, padding=1),
    )  # fmt: skip


def make_decoder(latent: int, width: int) -> nn.Sequential:
    """p(y|c): (N, latent, h, w) -> (N, 3, 4h, 4w), the encoder's mirror."""
    half = width // 2
    return nn.Sequential(
        nn.Conv2d(latent, width, 3, padding=1), _act(),
        Up(width, width), _act(),
        nn.Conv2d(width, width, 3, padding=1), _act(),
        Up(width, half), _act(),
        nn.Conv2d(half, 3, 3, padding=1),
    )  # fmt: skip


class Unmodulated(nn.Module):
    """Stands in for an SFT at a level without one (keeps the other levels' keys)."""

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return feat


class Restorer(nn.Module):
    """f(y, c): U-Net over levels 1, 1/2, 1/4 with NAF blocks, conditioned on c by
    ``cfg.conditioning``: concatenation at the 1/4 level (1x1 fuse), SFT at the five
    level visits of ``cfg.sft_levels`` (all by default), or both (the shipped models).

    The full-size level is most of the CPU time (memory traffic of 16-32 channels per
    pixel), so a preview restorer drops its blocks and SFTs (``enc_blocks[0] =
    dec_blocks[0] = 0``, ``sft_levels = (1, 2, 3)``): the other weights keep their names
    and can start from a full model's."""

    def __init__(self, cfg: VDIRConfig) -> None:
        super().__init__()
        w0, w1, w2 = cfg.widths
        lat, hid = cfg.latent, cfg.sft_hidden
        self.concat = cfg.conditioning in ("both", "concat")
        self.intro = nn.Conv2d(3, w0, 3, padding=1)
        widths = (w0, w1, w2, w1, w0) if cfg.conditioning in ("both", "sft") else ()
        self.sft = nn.ModuleList(
            SFT(w, lat, hid) if level in cfg.sft_levels else Unmodulated()
            for level, w in enumerate(widths)
        )
        self.enc0 = nn.Sequential(*(NAFBlock(w0) for _ in range(cfg.enc_blocks[0])))
        self.down0 = Down(w0, w1)
        self.enc1 = nn.Sequential(*(NAFBlock(w1) for _ in range(cfg.enc_blocks[1])))
        self.down1 = Down(w1, w2)
        self.fuse = Pointwise(w2 + (lat if self.concat else 0), w2)
        self.mid = nn.Sequential(*(NAFBlock(w2) for _ in range(cfg.mid_blocks)))
        self.up1 = Up(w2, w1)
        self.dec1 = nn.Sequential(*(NAFBlock(w1) for _ in range(cfg.dec_blocks[1])))
        self.up0 = Up(w1, w0)
        self.dec0 = nn.Sequential(*(NAFBlock(w0) for _ in range(cfg.dec_blocks[0])))
        self.ending = nn.Conv2d(w0, 3, 3, padding=1)

    def forward(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``y`` (N,3,H,W), H, W multiples of 4; ``c`` (N,L,H/4,W/4) -> residual (N,3,H,W)."""
        s0 = self.enc0(self._modulate(0, self.intro(y), c))
        s1 = self.enc1(self._modulate(1, self.down0(s0), c))
        h = self.down1(s1)
        h = self.fuse(torch.cat([h, c], dim=1) if self.concat else h)
        h = self.mid(self._modulate(2, h, c))
        h = self.dec1(self._modulate(3, self.up1(h) + s1, c))
        h = self.dec0(self._modulate(4, self.up0(h) + s0, c))
        return self.ending(h)

    def _modulate(self, level: int, feat: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """SFT number ``level`` of ``feat`` by ``c`` (``feat`` itself without SFT)."""
        return self.sft[level](feat, c) if self.sft else feat


class VDIR(nn.Module):
    """The whole VDIR model; see the module docstring for the contract of each method."""

    multiple = MULTIPLE

    def __init__(self, cfg: VDIRConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or VDIRConfig()
        self.encoder = make_encoder(self.cfg.latent, self.cfg.enc_width)
        self.decoder = make_decoder(self.cfg.latent, self.cfg.enc_width)
        width = self.cfg.enc_width
        self.spectrum = BlockSpectrum(2 * self.cfg.latent, width) if self.cfg.block_dct else None
        self.restorer = Restorer(self.cfg)
        hid = self.cfg.est_hidden
        self.est = nn.Sequential(
            nn.Conv2d(self.cfg.latent, hid, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hid, 1, 3, padding=1),
        )

    def encode(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,3,H,W) in [0,1] -> mean, logvar, each (N, L, ceil(H/4), ceil(W/4))."""
        stats = self.encoder(pad_to(y, self.multiple) - 0.5)
        if self.spectrum is not None:
            grid = self.spectrum(pad_to(y, BlockSpectrum.BLOCK))
            stats = stats + grid[..., : stats.shape[-2], : stats.shape[-1]]
        mean, logvar = stats.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def sample(
        self, mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Reparameterised sample ``mean + exp(logvar/2) * eps``, eps ~ N(0, I) drawn from
        ``generator`` (deterministic when seeded)."""
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * eps

    def restore(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """f(y, c): (N,3,H,W) and (N,L,ceil(H/4),ceil(W/4)) -> restored (N,3,H,W), unclipped."""
        h, w = y.shape[-2:]
        yp = pad_to(y, self.multiple)
        if c.shape[-2:] != (yp.shape[-2] // 4, yp.shape[-1] // 4):
            raise ValueError(f"latent {tuple(c.shape)} does not fit image {tuple(y.shape)}")
        return (yp + self.restorer(yp, c.to(yp.dtype)))[..., :h, :w]

    def estimate(self, c: torch.Tensor) -> torch.Tensor:
        """EST(c): (N,L,h,w) -> (N,1,h,w) normalised degradation parameter."""
        return self.est(c)

    def decode(self, c: torch.Tensor) -> torch.Tensor:
        """p(y|c): (N,L,h,w) -> (N,3,4h,4w) reconstruction of the degraded input."""
        return self.decoder(c) + 0.5

    def forward(
        self, y: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None
    ) -> VDIROutput:
        """All pieces for the loss; ``sample=False`` uses the mean latent (inference)."""
        h, w = y.shape[-2:]
        mean, logvar = self.encode(y)
        c = self.sample(mean, logvar, generator) if sample else mean
        restored = self.restore(y, c)
        decoded = self.decode(c)[..., :h, :w]
        return VDIROutput(restored, mean, logvar, c, decoded, self.estimate(c))


def build(config: dict[str, Any] | VDIRConfig | None = None) -> VDIR:
    """A randomly initialised VDIR from a config dict (as stored in weights metadata)."""
    if isinstance(config, VDIRConfig) or config is None:
        return VDIR(config)
    return VDIR(VDIRConfig.from_dict(config))
