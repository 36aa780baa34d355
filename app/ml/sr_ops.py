"""Torch twin of the super-resolution degradation of :mod:`app.core.degradations`.

``degrade_sr(x, u, s)`` = isotropic Gaussian blur of std ``u`` (px, reflect-101
borders, kernel radius ``max(1, ceil(3u))``: :func:`app.core.degradations.gaussian_blur`)
then the integer ``s``-fold bicubic downscale of ``cv2.resize(..., INTER_CUBIC)``
(:func:`app.core.degradations.downscale`, no anti-aliasing prefilter): output pixel ``i``
samples the input at ``s*i + (s-1)/2`` with Keys' cubic (a = -0.75) and clamped indices.
For odd ``s`` that position is a whole pixel (plain subsampling); for even ``s`` it is
half-way between two pixels, a fixed 4-tap filter. The numpy version also clips and
rounds to 8 bits; this one does neither (it is linear, for DL-Net's fidelity term).

Tensors are NCHW float; ``u`` is a float or a (N,) tensor (one blur per image), >= 0.
Also BT.601 full-range luma/chroma conversions and the bicubic upsampling used as the
super-resolution baseline (``F.interpolate(mode="bicubic")``, the same cubic as cv2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Keys' cubic (a = -0.75) at distances 1.5, 0.5, 0.5, 1.5: the half-pixel taps of cv2.
HALF_TAPS = (-0.09375, 0.59375, 0.59375, -0.09375)
MAX_BLUR = 3.0
# BT.601 full range (JPEG): Y in [0, 1], Cb/Cr centred on 0.5.
_RGB2YCC = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)


def gauss_taps(u: float) -> torch.Tensor:
    """The 1-D kernel of :func:`app.core.degradations._gauss1d` (float64, sums to 1);
    ``u <= 0`` gives the identity ``[1]``."""
    if u <= 0:
        return torch.ones(1, dtype=torch.float64)
    radius = max(1, math.ceil(3.0 * u))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / u) ** 2)
    return k / k.sum()


def _kernels(u: torch.Tensor) -> torch.Tensor:
    """(N, 2R+1) float64 kernels, each zero-padded to the largest radius R of the batch."""
    taps = [gauss_taps(float(v)) for v in u.tolist()]
    radius = max(len(t) // 2 for t in taps)
    return torch.stack([F.pad(t, (radius - len(t) // 2,) * 2) for t in taps])


def blur(x: torch.Tensor, u: float | torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of std ``u`` (per image) with reflect-101 borders."""
    n, c, h, w = x.shape
    u_t = torch.as_tensor(u, dtype=torch.float64).reshape(-1).expand(n)
    if float(u_t.max()) <= 0:
        return x
    k = _kernels(u_t).to(x.dtype).to(x.device)
    r = k.shape[1] // 2
    weight = k.repeat_interleave(c, dim=0)[:, None]  # (N*C, 1, L)
    flat = x.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (r, r, 0, 0), mode="reflect"), weight[:, :, None], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, r, r), mode="reflect"), weight[..., None], groups=n * c)
    return flat.reshape(n, c, h, w)


def bicubic_down(x: torch.Tensor, s: int) -> torch.Tensor:
    """cv2 INTER_CUBIC downscale by the integer ``s`` of an input cropped to a multiple of
    ``s``: (N, C, H, W) -> (N, C, H//s, W//s)."""
    n, c, h, w = x.shape
    x = x[:, :, : h // s * s, : w // s * s]
    if s == 1:
        return x
    if s % 2:
        o = (s - 1) // 2
        return x[:, :, o::s, o::s]
    taps = torch.tensor(HALF_TAPS, dtype=x.dtype, device=x.device)
    flat = x.reshape(n * c, 1, x.shape[2], x.shape[3])
    flat = F.pad(flat, (1, 1, 1, 1), mode="replicate")[:, :, s // 2 - 1 :, s // 2 - 1 :]
    flat = F.conv2d(flat, taps.view(1, 1, 1, 4), stride=(1, s))
    flat = F.conv2d(flat, taps.view(1, 1, 4, 1), stride=(s, 1))
    return flat[:, :, : h // s, : w // s].reshape(n, c, h // s, w // s)


def degrade_sr(x: torch.Tensor, u: float | torch.Tensor, s: int) -> torch.Tensor:
    """Blur (std ``u``) then bicubic-downscale by ``s`` (no clip, no rounding)."""
    return bicubic_down(blur(x, u), s)


def bicubic_up(x: torch.Tensor, s: int) -> torch.Tensor:
    """Bicubic upsampling by ``s`` (Keys a = -0.75, like ``cv2.resize`` INTER_CUBIC)."""
    if s == 1:
        return x
    return F.interpolate(x, scale_factor=float(s), mode="bicubic", align_corners=False)


def rgb_to_ycc(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> full-range YCbCr (Y in [0, 1], chroma around 0.5)."""
    m = torch.tensor(_RGB2YCC, dtype=x.dtype, device=x.device)
    out = torch.einsum("ij,njhw->nihw", m, x)
    return out + torch.tensor([0.0, 0.5, 0.5], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)


def ycc_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycc`."""
    m = torch.linalg.inv(torch.tensor(_RGB2YCC, dtype=torch.float64)).to(x.dtype).to(x.device)
    shift = torch.tensor([0.0, 0.5, 0.5], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return torch.einsum("ij,njhw->nihw", m, x - shift)
