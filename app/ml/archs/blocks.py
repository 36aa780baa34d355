"""Small building blocks shared by Patina's restoration networks (nn.Modules only).

All modules take and return NCHW float tensors; none changes the spatial size unless
its name says so (``Down`` halves, ``Up`` doubles).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor, with per-channel affine."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise over the last axis of the NHWC view: contiguous (fast) for channels-last
        # tensors, which the trainer and the service use.
        y = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class Pointwise(nn.Conv2d):
    """A 1x1 convolution (same parameters and state-dict keys as ``nn.Conv2d(cin, out,
    1)``) that runs as one matrix product over the NHWC view when its input is in
    channels-last memory: PyTorch's CPU build sends many 1x1 convs down its slow
    im2col path with layout copies, which made them about a sixth of a restore."""

    def __init__(self, channels: int, out: int, bias: bool = True) -> None:
        super().__init__(channels, out, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_contiguous(memory_format=torch.channels_last) or x.shape[1] == 1:
            return super().forward(x)
        w = self.weight.view(self.out_channels, self.in_channels)
        return F.linear(x.permute(0, 2, 3, 1), w, self.bias).permute(0, 3, 1, 2)


def _folded_pointwise(
    x: torch.Tensor, conv: nn.Conv2d, out_scale: torch.Tensor, in_scale: torch.Tensor | None
) -> torch.Tensor:
    """``conv(x * in_scale) * out_scale`` for a channels-last ``x`` (batch 1 when
    ``in_scale`` is given) as one matrix product: the per-channel scales (``out_scale``
    (Cout,), ``in_scale`` (Cin,)) are folded into the 1x1 weights, saving two passes over
    the feature map. Equal to the unfolded form up to float rounding."""
    w = conv.weight.view(conv.out_channels, conv.in_channels) * out_scale[:, None]
    if in_scale is not None:
        w = w * in_scale[None, :]
    bias = None if conv.bias is None else conv.bias * out_scale
    return F.linear(x.permute(0, 2, 3, 1), w, bias).permute(0, 3, 1, 2)


def _fast_path(x: torch.Tensor) -> bool:
    """Whether a block may take its inference-only fused path: no autograd, channels-last."""
    return not torch.is_grad_enabled() and x.is_contiguous(memory_format=torch.channels_last)


class SimpleGate(nn.Module):
    """NAFNet's gate: split channels in two halves and multiply them (C -> C/2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """NAFNet block: LN -> 1x1 -> depthwise 3x3 -> gate -> channel attention -> 1x1, then
    LN -> 1x1 -> gate -> 1x1 feed-forward; both branches residual with learned scales.

    MACs per pixel: about ``6*C**2 + 18*C`` (expansion 2).
    """

    def __init__(self, channels: int, expand: int = 2) -> None:
        super().__init__()
        hidden = channels * expand
        self.norm1 = LayerNorm2d(channels)
        self.pw1 = Pointwise(channels, hidden)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), Pointwise(hidden // 2, hidden // 2))
        self.pw2 = Pointwise(hidden // 2, channels)
        self.norm2 = LayerNorm2d(channels)
        self.ffn1 = Pointwise(channels, hidden)
        self.ffn2 = Pointwise(hidden // 2, channels)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast_path(x):
            return self._forward_fused(x)
        h = self.gate(self.dw(self.pw1(self.norm1(x))))
        h = self.pw2(h * self.sca(h))
        x = x + h * self.beta
        h = self.ffn2(self.gate(self.ffn1(self.norm2(x))))
        return x + h * self.gamma

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without autograd on channels-last ``x``: the channel attention
        and ``beta`` / ``gamma`` folded into ``pw2`` / ``ffn2`` (two full-size passes
        fewer per branch; 1e-6 from the plain form, tests/ml/test_blocks.py)."""
        h = self.gate(self.dw(self.pw1(self.norm1(x))))
        if x.shape[0] == 1 and h.is_contiguous(memory_format=torch.channels_last):
            h = _folded_pointwise(h, self.pw2, self.beta.view(-1), self.sca(h).view(-1))
        else:
            h = self.pw2(h * self.sca(h)) * self.beta
        x = x + h
        h = self.gate(self.ffn1(self.norm2(x)))
        if not h.is_contiguous(memory_format=torch.channels_last):
            return x + self.ffn2(h) * self.gamma
        return x + _folded_pointwise(h, self.ffn2, self.gamma.view(-1), None)


class SFT(nn.Module):
    """Spatial feature transform: ``feat * (1 + scale(c)) + shift(c)``.

    ``c`` (N, Cc, h, w) is resized bilinearly to the feature map's size first.
    The output layer starts at zero, so an untrained SFT is the identity.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32) -> None:
        super().__init__()
        out = Pointwise(hidden, 2 * channels)
        nn.init.zeros_(out.weight)
        assert out.bias is not None
        nn.init.zeros_(out.bias)
        self.body = nn.Sequential(Pointwise(cond_channels, hidden), nn.LeakyReLU(0.1), out)

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if cond.shape[-2:] != feat.shape[-2:]:
            cond = F.interpolate(cond, size=feat.shape[-2:], mode="bilinear", align_corners=False)
        if _fast_path(feat) and _fast_path(cond):
            return self._modulate_fused(feat, cond)
        scale, shift = self.body(cond).chunk(2, dim=1)
        return feat * (1 + scale) + shift

    def _modulate_fused(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The same without autograd: the ``1 +`` folded into the output layer's bias and
        the affine map done by one ``addcmul`` (two full-size passes fewer)."""
        first, act, out = self.body
        assert isinstance(out, nn.Conv2d)
        hidden = act(first(cond))
        if out.bias is None or not hidden.is_contiguous(memory_format=torch.channels_last):
            scale, shift = out(hidden).chunk(2, dim=1)
            return feat * (1 + scale) + shift
        bias = out.bias.clone()
        bias[: feat.shape[1]] += 1.0
        weight = out.weight.view(out.out_channels, out.in_channels)
        both = F.linear(hidden.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)
        scale_1, shift = both.chunk(2, dim=1)
        return torch.addcmul(shift, feat, scale_1)


class Down(nn.Module):
    """Halve H and W with a 2x2 stride-2 conv, C -> ``out``."""

    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Up(nn.Module):
    """Double H and W: 1x1 conv to ``4*out`` channels then pixel shuffle."""

    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.conv = Pointwise(channels, out * 4, bias=False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def dct_basis(size: int = 8) -> torch.Tensor:
    """The orthonormal 2-D DCT-II basis, (size*size, size, size): filter ``k`` gives the
    block's coefficient ``(k // size, k % size)`` as an inner product."""
    n = torch.arange(size, dtype=torch.float64)
    rows = torch.cos(torch.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * size))
    rows[0] /= 2**0.5
    rows *= (2.0 / size) ** 0.5
    return torch.einsum("ai,bj->abij", rows, rows).reshape(size * size, size, size).float()


class BlockSpectrum(nn.Module):
    """JPEG-grid features for an encoder: log-magnitudes of the 8x8 DCT of each colour
    channel on blocks aligned with the input's origin (where JPEG puts its blocks), mapped
    by two 1x1 convs to ``out`` channels and repeated to 1/4 resolution.

    (N, 3, H, W) in [0, 1], H and W multiples of 8 -> (N, out, H/4, W/4). Quantisation
    zeroes DCT coefficients, which the log makes a large, easy signal; a plain strided
    conv encoder did not learn JPEG quality at all (docs/models.md). The last conv starts
    at zero, so adding this to a trained encoder leaves its output unchanged at first.
    """

    BLOCK = 8
    FIXED_MACS_PER_PIXEL = BLOCK * BLOCK * 3  # the DCT: 64 MACs per coefficient, 3 colours
    basis: torch.Tensor

    def __init__(self, out: int, hidden: int = 32) -> None:
        super().__init__()
        basis = dct_basis(self.BLOCK).repeat(3, 1, 1).unsqueeze(1)  # (192, 1, 8, 8)
        self.register_buffer("basis", basis, persistent=False)
        last = Pointwise(hidden, out)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.get_parameter("bias"))
        self.head = nn.Sequential(Pointwise(basis.shape[0], hidden), nn.LeakyReLU(0.2), last)

    def coefficients(self, y: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 192, H/8, W/8) DCT coefficients on the 0..255
        scale, channel ``64 * colour + k`` holding coefficient ``k`` of that colour."""
        return F.conv2d(y * 255.0, self.basis.to(y.dtype), stride=self.BLOCK, groups=3)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        feat = self.head(torch.log(self.coefficients(y).abs() + 0.5))
        return feat.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
