"""Gated-convolution U-Net for irregular-mask inpainting, split as f = h o g (DL-Net).

Tensors are NCHW floats; images in [0, 1]; the mask is (N, 1, H, W), 1 = missing (to
fill), 0 = known. Input to ``g``: the masked image ``y * (1 - m)`` and ``m`` (4 channels).

- ``fill(y, m)``: a parameter-free first guess of the hole (``prefill``): the harmonic
  (Laplace) membrane over the hole, solved by cascadic multigrid ("harmonic"), OpenCV
  Telea on the 8-bit image ("telea"), a push-pull pyramid fill ("pushpull") or zeros
  ("none").
- ``g(y, m, fill) -> z``: a 4-level U-Net of gated convolutions (Yu et al., free-form
  inpainting: ``act(feature) * sigmoid(gate)``), dilated gated convs at 1/8 resolution
  for a receptive field of about 250 px, skip connections by concatenation; input
  ``[y * (1 - m), m, fill]`` (7 channels; 4 without prefill). ``z`` is
  the last hidden representation *before* its activation, ``(N, z_channels, H, W)``,
  divided by ``z_scale``.
- ``h(z) -> x_hat``: ``fill +`` the activation of ``z_scale * z``, ``h_layers - 1``
  hidden 3x3 convs + ELU, then one conv to RGB (``h_layers = 1`` is DL-Net section
  III-C's "light h with one single convolution layer"); ``fill`` is a constant of h,
  so the likelihood module (:mod:`app.ml.dlnet`) differentiates only the convs, K
  times. :meth:`InpaintNet.parts` gives (g, h) for one input.
- ``head = "lines"`` (the shipped model): h has no weights; z holds one logit per
  candidate fill (:func:`app.ml.archs.line_fill.line_candidates`: 12 oriented line
  fills and the harmonic fill, which on the known ring predict known pixels from
  farther ones) and ``x_hat`` is their per-pixel softmax mixture after a Gaussian blur
  of the logits (:class:`LinesHead`), so DL-Net's refinement on the known pixels picks
  the orientations that explain the hole's surroundings.
- ``z_scale`` only re-parametrises z (``h(g(y))`` is unchanged): the ADAM-like update
  of Eqn. 5 moves every element of z by about ``gamma`` per step whatever the gradient's
  size, so with the paper's ``gamma = 1e-3`` the refinement moves the activations by
  about ``z_scale * 1e-3`` per step (1 = the paper's z).

Any H, W is accepted: inputs are padded (replicate) to a multiple of 8 inside and
outputs cropped back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.ml.archs.line_fill import ORIENTATIONS, gaussian_blur, line_candidates

MULTIPLE = 8
GATED_GAIN = 2.0  # extra gain on the feature half: the gate halves it at init


@dataclass(frozen=True)
class InpaintConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    widths: tuple[int, int, int, int] = (16, 32, 64, 64)
    dilations: tuple[int, ...] = (2, 4, 8)
    z_channels: int = 16
    h_kernel: int = 3
    prefill: str | bool = "telea"
    h_layers: int = 1
    z_scale: float = 1.0
    h_dilations: tuple[int, ...] = ()
    head: str = "conv"
    ring: int = 4
    mix_sigma: float = 6.0

    def __post_init__(self) -> None:
        if self.head not in ("conv", "lines"):
            raise ValueError(f"head must be 'conv' or 'lines', not {self.head!r}")
        if self.head == "lines" and self.z_channels != len(ORIENTATIONS) + 1:
            raise ValueError(f"the 'lines' head needs z_channels = {len(ORIENTATIONS) + 1}")
        if self.h_dilations and len(self.h_dilations) != self.h_layers - 1:
            raise ValueError(
                f"h_dilations {self.h_dilations} needs one entry per hidden layer of h "
                f"({self.h_layers - 1})"
            )

    @property
    def fill_method(self) -> str:
        """ "telea", "harmonic", "pushpull" or "none" (``True``/``False`` of older configs:
        pushpull/none)."""
        if isinstance(self.prefill, bool):
            return "pushpull" if self.prefill else "none"
        return self.prefill

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InpaintConfig:
        """Build from a JSON-like dict; unknown keys raise TypeError."""
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class GatedConv(nn.Module):
    """``act(feature) * sigmoid(gate)`` from one conv producing 2*``out`` channels.

    With ``act=False`` the feature is not activated (used for the ``z`` output).
    """

    def __init__(
        self, cin: int, out: int, k: int = 3, stride: int = 1, dilation: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        pad = dilation * (k - 1) // 2
        self.conv = nn.Conv2d(cin, 2 * out, k, stride=stride, padding=pad, dilation=dilation)
        self.act = act
        # Keep the activations' scale through depth: with the default init each gated
        # layer shrank it about 3x (the half-open gate, a small fan-in gain), so after ten
        # layers the decoder saw almost nothing and training stalled at the fill.
        nn.init.kaiming_normal_(self.conv.weight, a=0.0, nonlinearity="relu")
        self.conv.weight.data[:out] *= GATED_GAIN
        assert self.conv.bias is not None
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat, gate = self.conv(x).chunk(2, dim=1)
        if self.act:
            feat = F.elu(feat)
        return feat * torch.sigmoid(gate)


def _up(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Nearest 2x upsampling of ``x`` concatenated with ``skip``."""
    return torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], dim=1)


class Encoder(nn.Module):
    """g: (masked image, mask) -> pre-activation hidden representation z at full size."""

    def __init__(self, cfg: InpaintConfig) -> None:
        super().__init__()
        c1, c2, c3, c4 = cfg.widths
        self.prefill = cfg.fill_method != "none"
        self.e1 = GatedConv(7 if self.prefill else 4, c1, 5)
        self.e2 = nn.Sequential(GatedConv(c1, c2, 3, 2), GatedConv(c2, c2))
        self.e3 = nn.Sequential(GatedConv(c2, c3, 3, 2), GatedConv(c3, c3))
        self.e4 = GatedConv(c3, c4, 3, 2)
        self.mid = nn.Sequential(*[GatedConv(c4, c4, 3, dilation=d) for d in cfg.dilations])
        self.d3 = GatedConv(c4 + c3, c3)
        self.d2 = GatedConv(c3 + c2, c2)
        self.d1 = GatedConv(c2 + c1, c1)
        self.z = GatedConv(c1, cfg.z_channels, 3, act=False)
        if cfg.head == "lines":  # start as the even mixture of the candidates
            nn.init.zeros_(self.z.conv.weight)
        self.z_scale = float(cfg.z_scale)

    def forward(self, y: torch.Tensor, m: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        parts = [y * (1 - m), m, fill] if self.prefill else [y * (1 - m), m]
        s1 = self.e1(torch.cat(parts, dim=1))
        s2 = self.e2(s1)
        s3 = self.e3(s2)
        b = self.mid(self.e4(s3))
        d = self.d3(_up(b, s3))
        d = self.d2(_up(d, s2))
        d = self.d1(_up(d, s1))
        return self.z(d) / self.z_scale  # type: ignore[no-any-return]


class Head(nn.Module):
    """h: z -> RGB: the activation of z's layer (of ``z_scale * z``), ``h_layers - 1``
    hidden 3x3 convs + ELU (``z_channels`` wide, dilated by ``h_dilations``, default 1),
    then one conv to RGB (``h_layers = 1`` is DL-Net's light h with a single conv). The
    dilations set how far into a hole a refinement of z can reach (the receptive field
    of h: ``1 + sum(h_dilations)`` px each side for 3x3 convs). The last conv starts
    near zero, so an untrained network outputs the fill."""

    def __init__(self, cfg: InpaintConfig) -> None:
        super().__init__()
        c, k = cfg.z_channels, cfg.h_kernel
        self.z_scale = float(cfg.z_scale)
        dilations = cfg.h_dilations or (1,) * max(cfg.h_layers - 1, 0)
        self.hidden = nn.ModuleList([nn.Conv2d(c, c, 3, padding=d, dilation=d) for d in dilations])
        self.conv = nn.Conv2d(c, 3, k, padding=k // 2)
        nn.init.normal_(self.conv.weight, std=1e-3)  # start as the fill: x_hat ~ fill
        assert self.conv.bias is not None
        nn.init.zeros_(self.conv.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = F.elu(z * self.z_scale)
        for conv in self.hidden:
            a = F.elu(conv(a))
        return self.conv(a)  # type: ignore[no-any-return]


class LinesHead(nn.Module):
    """h for ``head = "lines"``: x_hat = sum_j softmax_j(blur(z_scale * z)) * C_j, a
    per-pixel mixture of the candidate fills C (:func:`line_candidates`: 12 oriented
    line fills and the harmonic fill). The fixed Gaussian blur (``mix_sigma`` px)
    couples the mixture weights of the hole with those of the ring around it, where the
    candidates predict known pixels: refining z on the known pixels (DL-Net's
    likelihood module) so moves the weights inside the hole toward the orientations
    that explain its surroundings. No parameters."""

    def __init__(self, cfg: InpaintConfig) -> None:
        super().__init__()
        self.z_scale = float(cfg.z_scale)
        self.sigma = float(cfg.mix_sigma)

    def forward(self, z: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(gaussian_blur(z * self.z_scale, self.sigma), dim=1)
        return (weights.unsqueeze(2) * candidates).sum(dim=1)


class InpaintNet(nn.Module):
    """f = h o g. ``forward(y, m)`` is the plain network (no likelihood refinement);
    for K refinement steps use :func:`app.ml.dlnet.dlnet_forward` with :meth:`parts`."""

    multiple = MULTIPLE

    def __init__(self, cfg: InpaintConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or InpaintConfig()
        self.g = Encoder(self.cfg)
        self.h: nn.Module = LinesHead(self.cfg) if self.cfg.head == "lines" else Head(self.cfg)

    def fill(self, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The parameter-free first guess (Telea, harmonic, push-pull; zeros without)."""
        method = self.cfg.fill_method
        if method == "none":
            return torch.zeros_like(y)
        with torch.no_grad():
            if method == "telea":
                return telea_fill(y, m)
            if method == "harmonic":
                return harmonic_fill(y, 1.0 - m)
            return push_pull(y, 1.0 - m)

    def parts(self, y: torch.Tensor, m: torch.Tensor) -> tuple[GFn, HFn]:
        """(g, h) for this input: ``g(y, m) -> z`` and ``h(z) -> x_hat`` (the fill, or
        the "lines" head's candidate fills, computed once here, are constants of h).

        H, W must be multiples of 8 (see :func:`pad_inputs`).
        """
        base = self.fill(y, m)

        def g(yy: torch.Tensor, mm: torch.Tensor) -> torch.Tensor:
            return self.g(yy, mm, base)  # type: ignore[no-any-return]

        if self.cfg.head == "lines":
            with torch.no_grad():
                reuse = base if self.cfg.fill_method == "harmonic" else None
                candidates = line_candidates(y, m, self.cfg.ring, harmonic_fill, reuse)

            def mixture(z: torch.Tensor) -> torch.Tensor:
                return self.h(z, candidates)  # type: ignore[no-any-return]

            return g, mixture

        def fill_plus(z: torch.Tensor) -> torch.Tensor:
            return self.h(z) + base  # type: ignore[no-any-return]

        return g, fill_plus

    def for_composite(self, x_hat: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``x_hat`` as the compositor should see it (its seam is feathered against the
        residual ``y - x_hat`` on known pixels). The "lines" head's known ring holds
        predictions of known pixels from farther ones (for the likelihood term), not the
        fill's border, and its line fills already start at the adjacent known pixels, so
        its known pixels are replaced by ``y``: no seam to feather."""
        if self.cfg.head != "lines":
            return x_hat
        return torch.where(m > 0, x_hat, y)

    def forward(self, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x_hat = h(g(y, m)), (N, 3, H, W), any H, W (padded inside)."""
        yp, mp, size = pad_inputs(y, m)
        g, h = self.parts(yp, mp)
        return h(g(yp, mp))[..., : size[0], : size[1]]


GFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HFn = Callable[[torch.Tensor], torch.Tensor]


def telea_fill(y: torch.Tensor, m: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """OpenCV Telea (radius 3) on the 8-bit image, per batch item; known pixels (m == 0)
    keep ``y`` exactly. 8-bit because OpenCV 5.0's float32 Telea overshoots."""
    out = y.clone()
    for i in range(y.shape[0]):
        hole = (m[i, 0] > 0).cpu().numpy().astype(np.uint8)
        if not hole.any():
            continue
        img = y[i].permute(1, 2, 0).clamp(0, 1).cpu().numpy()
        u8 = np.ascontiguousarray(np.round(img * 255).astype(np.uint8))
        filled = cv2.inpaint(u8, hole, radius, cv2.INPAINT_TELEA).astype(np.float32) / 255
        fill = torch.from_numpy(filled).permute(2, 0, 1).to(y)
        out[i] = torch.where(m[i] > 0, fill, y[i])
    return out


def push_pull(y: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill pixels with ``known == 0`` from the known ones: normalised averages on a 2x
    pyramid, each level's gaps filled from the (bilinearly upsampled) coarser level.
    Known pixels (``known == 1``) are returned unchanged. ``known``: (N, 1, H, W)."""
    est = y * known / known.clamp_min(1e-6)
    if min(y.shape[-2:]) <= 2:
        total = known.sum((-2, -1), keepdim=True).clamp_min(1e-6)
        mean = (y * known).sum((-2, -1), keepdim=True) / total
        return known * est + (1 - known) * mean
    w2 = F.avg_pool2d(known, 2, ceil_mode=True)
    v2 = F.avg_pool2d(y * known, 2, ceil_mode=True) / w2.clamp_min(1e-6)
    coarse = push_pull(v2, (w2 > 0).to(y.dtype) * w2.clamp(0, 1))
    up = F.interpolate(coarse, size=y.shape[-2:], mode="bilinear", align_corners=False)
    return known * est + (1 - known) * up


_LAPLACE = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])


def harmonic_fill(
    y: torch.Tensor, known: torch.Tensor, iters: int = 10, omega: float = 1.8
) -> torch.Tensor:
    """Harmonic (Laplace) fill of the pixels with ``known < 1``: the smooth membrane that
    interpolates the known border, solved coarse-to-fine (cascadic multigrid): the
    solution of the 2x coarser problem (a coarse pixel is known when any pixel of its 2x2
    block is, with their mean), upsampled, then ``iters`` red-black SOR sweeps (relaxation
    ``omega``) of the 4-neighbour average at this level (replicate border = Neumann).
    Known pixels (``known == 1``) are returned unchanged. ``known``: (N, 1, H, W) in
    {0, 1}; a batch item without known pixels is filled with 0.5."""
    kn = (known >= 1.0).to(y.dtype)
    if min(y.shape[-2:]) <= 4:
        total = kn.sum((-2, -1), keepdim=True)
        mean = (y * kn).sum((-2, -1), keepdim=True) / total.clamp_min(1.0)
        mean = torch.where(total > 0, mean, torch.full_like(mean, 0.5))
        return kn * y + (1 - kn) * mean
    w2 = F.avg_pool2d(kn, 2, ceil_mode=True)
    v2 = F.avg_pool2d(y * kn, 2, ceil_mode=True) / w2.clamp_min(1e-6)
    coarse = harmonic_fill(v2, (w2 > 0).to(y.dtype), iters, omega)
    up = F.interpolate(coarse, size=y.shape[-2:], mode="bilinear", align_corners=False)
    x = kn * y + (1 - kn) * up
    h, w = y.shape[-2:]
    ii = torch.arange(h).view(h, 1) + torch.arange(w).view(1, w)
    red = (ii % 2 == 0).to(y)[None, None]
    weight = _LAPLACE.to(y).view(1, 1, 3, 3).repeat(y.shape[1], 1, 1, 1)
    for _ in range(iters):
        for colour in (red, 1 - red):
            avg = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=y.shape[1])
            x = x + (omega * colour * (1 - kn)) * (avg - x)
    return x


def pad_inputs(
    y: torch.Tensor, m: torch.Tensor, multiple: int = MULTIPLE
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Pad y (replicate) and m (with 1 = unknown) to a multiple; returns them and (H, W)."""
    h, w = y.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        y = F.pad(y, (0, pw, 0, ph), mode="replicate")
        m = F.pad(m, (0, pw, 0, ph), value=1.0)
    return y, m, (h, w)


def build(arch: dict[str, Any] | InpaintConfig | None = None) -> InpaintNet:
    """InpaintNet from a config dict (as stored in weights metadata) or config."""
    if arch is None or isinstance(arch, InpaintConfig):
        return InpaintNet(arch)
    return InpaintNet(InpaintConfig.from_dict(arch))
