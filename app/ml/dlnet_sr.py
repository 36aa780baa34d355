"""DL-Net super-resolution of a luma tensor: the network's first estimate refined by the
likelihood module against the known degradation (blur ``u`` then bicubic ``s``-fold
downscale, :func:`app.ml.sr_ops.degrade_sr`)."""

from __future__ import annotations

import torch

from app.ml.archs.sr import SRNet
from app.ml.dlnet import PAPER_GAMMA, PAPER_K, dlnet_forward_op
from app.ml.sr_ops import degrade_sr


def upscale_luma(
    model: SRNet,
    y: torch.Tensor,
    u: torch.Tensor,
    s: int,
    k: int = PAPER_K,
    gamma: float = PAPER_GAMMA,
    *,
    create_graph: bool = False,
) -> torch.Tensor:
    """(N, 1, h, w) luma, (N,) blur stds -> (N, 1, s*h, s*w) luma (not clipped).

    ``k`` counts DL-Net's estimates (1 = the plain network); training passes
    ``create_graph=True`` so the loss back-propagates through the unrolled updates.
    """
    g, h = model.parts(y, u, s)
    u_op = u.detach()
    return dlnet_forward_op(
        g, h, y, lambda x: degrade_sr(x, u_op, s), k, gamma, create_graph=create_graph
    )
