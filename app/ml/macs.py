"""Count multiply-accumulates of a network with forward hooks (conv, transposed conv, linear).

Only the layers that dominate cost are counted; normalisation, activations, gating and
pooling are left out (they are memory-bound and small in MACs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def _conv_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """Conv: each output element costs (C_in/groups)*kh*kw; transposed: each input element
    is spread over (C_out/groups)*kh*kw outputs."""
    assert isinstance(module, nn.Conv2d | nn.ConvTranspose2d)
    kh, kw = module.kernel_size
    if isinstance(module, nn.ConvTranspose2d):
        return int(inp.numel() * (module.out_channels // module.groups) * kh * kw)
    return int(out.numel() * (module.in_channels // module.groups) * kh * kw)


def _linear_macs(module: nn.Module, out: torch.Tensor) -> int:
    assert isinstance(module, nn.Linear)
    return int(out.numel() * module.in_features)


def count_macs(model: nn.Module, run: Callable[[], Any]) -> int:
    """Total MACs of the conv/linear layers of ``model`` executed while calling ``run()``."""
    total = [0]

    def hook(module: nn.Module, inp: Any, out: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            total[0] += _conv_macs(module, inp[0], out)
        elif isinstance(module, nn.Linear):
            total[0] += _linear_macs(module, out)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def macs_per_pixel(model: nn.Module, run: Callable[[torch.Tensor], Any], size: int = 256) -> float:
    """MACs per input pixel of ``run(x)`` on a (1, 3, size, size) zero tensor."""
    x = torch.zeros(1, 3, size, size)
    return count_macs(model, lambda: run(x)) / float(size * size)


def count_params(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
