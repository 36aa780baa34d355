"""Shared network blocks: the fast 1x1 path computes what a plain 1x1 conv computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.ml.archs.blocks import Pointwise


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
