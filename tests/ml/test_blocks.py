"""Shared network blocks: the fast 1x1 path computes what a plain 1x1 conv computes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from app.core.degradations import jpeg_compress
from app.ml.archs.blocks import BlockSpectrum, Pointwise, dct_basis


@pytest.mark.parametrize("channels_last", [True, False])
def test_pointwise_matches_conv2d_output_and_gradient(channels_last: bool) -> None:
    torch.manual_seed(0)
    fast = Pointwise(6, 10)
    plain = nn.Conv2d(6, 10, 1)
    plain.load_state_dict(fast.state_dict())  # same keys and shapes
    x = torch.randn(2, 6, 9, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_fast, out_plain = fast(x1), plain(x2)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    out_fast.square().sum().backward()
    out_plain.square().sum().backward()
    assert x1.grad is not None and x2.grad is not None
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)
    assert fast.weight.grad is not None and plain.weight.grad is not None
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-5)


def test_pointwise_without_bias_has_the_conv_keys() -> None:
    assert set(Pointwise(4, 8, bias=False).state_dict()) == {"weight"}


def test_dct_basis_is_orthonormal() -> None:
    basis = dct_basis(8).reshape(64, 64)
    torch.testing.assert_close(basis @ basis.T, torch.eye(64), atol=1e-5, rtol=0)


def test_block_spectrum_starts_at_zero_with_the_latent_shape() -> None:
    out = BlockSpectrum(8)(torch.rand(2, 3, 32, 48))
    assert out.shape == (2, 8, 8, 12) and not out.any()


def test_block_spectrum_blocks_sit_on_the_jpeg_grid() -> None:
    """JPEG quantisation zeroes most coefficients of its own blocks: counted on the grid
    the spectrum uses they are near zero far more often than on a grid shifted by 4."""
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((96, 96, 3), dtype=np.float32), (0, 0), 1.5)
    img = jpeg_compress((img - img.min()) / (img.max() - img.min()), 15)
    spectrum = BlockSpectrum(8)

    def near_zero(a: np.ndarray) -> float:
        y = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
        return float((spectrum.coefficients(y).abs() < 0.5).float().mean())

    assert near_zero(img[:88, :88]) > near_zero(img[4:92, 4:92]) + 0.2


def _randomised(module: nn.Module, seed: int) -> nn.Module:
    """``module`` with every parameter random (NAFBlock's beta/gamma and SFT's last layer
    start at zero, which would hide the folded terms)."""
    torch.manual_seed(seed)
    for p in module.parameters():
        nn.init.normal_(p, std=0.3)
    return module.eval()


@pytest.mark.parametrize("batch", [1, 2])
def test_fused_nafblock_equals_the_plain_one(batch: int) -> None:
    from app.ml.archs import blocks

    block = _randomised(blocks.NAFBlock(16), 0)
    x = torch.randn(batch, 16, 37, 29).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        plain = blocks.NAFBlock.forward(block, x.contiguous())  # NCHW: the plain path
        with torch.inference_mode():
            fused = block(x)
    assert blocks._fast_path(x.detach()) is False  # grad mode is on outside no_grad
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


def test_fused_sft_equals_the_plain_one() -> None:
    from app.ml.archs import blocks

    sft = _randomised(blocks.SFT(16, 4, 8), 1)
    feat = torch.randn(1, 16, 40, 24).contiguous(memory_format=torch.channels_last)
    cond = torch.randn(1, 4, 10, 6).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        plain = sft(feat.contiguous(), cond.contiguous())
        fused = sft(feat, cond)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


def test_fused_blocks_are_not_used_under_autograd() -> None:
    from app.ml.archs import blocks

    block = _randomised(blocks.NAFBlock(8), 2)
    x = torch.randn(1, 8, 12, 12).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    block(x).sum().backward()  # the plain path: gradients reach the input and beta
    assert x.grad is not None and block.beta.grad is not None
