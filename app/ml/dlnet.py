"""DL-Net's recursive likelihood module (Guo et al., section III-C, Eqn. 4-5).

For a network split as f = h o g, starting from z^(0) = g(y), the module runs ADAM-like
updates on z that lower the fidelity term ``|| M * (W(h(z)) - y) ||^2`` where ``M`` marks
the *known* pixels (for inpainting ``M = 1 - mask``, ``W`` the identity) and ``W`` is the
known degradation operator (for super-resolution blur + downscale, :mod:`app.ml.sr_ops`,
``M = 1``)::

    m_k = b1 m_{k-1} + (1 - b1) grad_k          v_k = b2 v_{k-1} + (1 - b2) grad_k^2
    m^_k = m_k / (1 - b1)                       v^_k = v_k / (1 - b2)
    z_k = z_{k-1} - gamma * m^_k / sqrt(max(v^_k, 1e-16))

(Eqn. 5 exactly as printed: the bias correction divides by (1 - b), not (1 - b^k).)
Following the paper, ``K`` counts the estimates z^(0) .. z^(K-1): the output is
h(z^(K-1)), so K = 1 is the plain network (no refinement) and K = 5 makes 4 updates;
K = 0 is treated like K = 1. With ``create_graph=True`` (training) the updates stay in
the autograd graph, so the loss back-propagates through the unrolled steps with
higher-order gradients. Paper defaults: K = 5, gamma = 1e-3, b1 = 0.9, b2 = 0.999.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

PAPER_K = 5
PAPER_GAMMA = 1e-3
BETAS = (0.9, 0.999)
V_FLOOR = 1e-16


Operator = Callable[[torch.Tensor], torch.Tensor]


def fidelity(
    x_hat: torch.Tensor,
    y: torch.Tensor,
    known: torch.Tensor | None = None,
    operator: Operator | None = None,
) -> torch.Tensor:
    """``|| known * (W(x_hat) - y) ||^2`` (scalar): ``W`` = ``operator`` (identity when
    None, e.g. blur + downscale for super-resolution), ``known`` a weight per observed
    pixel (all ones when None; for inpainting the known pixels)."""
    residual = (operator(x_hat) if operator is not None else x_hat) - y
    if known is not None:
        residual = known * residual
    return residual.pow(2).sum()


def refine(
    h: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    y: torch.Tensor,
    known: torch.Tensor | None,
    k: int = PAPER_K,
    gamma: float = PAPER_GAMMA,
    *,
    create_graph: bool = False,
    betas: tuple[float, float] = BETAS,
    operator: Operator | None = None,
) -> torch.Tensor:
    """z^(K-1) after ``max(k - 1, 0)`` updates of Eqn. 5 starting at ``z0``.

    ``y`` (N, C, H', W') is the observation, ``known`` (N, 1 or C, H', W') in [0, 1] the
    weight of each observed pixel (None: all 1) and ``operator`` the degradation W that
    maps h's output to the observation's space (None: identity, as for inpainting); the
    fidelity term is :func:`fidelity`. Needs autograd enabled (not inference mode);
    without ``create_graph`` the result is detached from the graph of ``z0``.
    """
    b1, b2 = betas
    z = z0 if create_graph else z0.detach()
    m = torch.zeros_like(z)
    v = torch.zeros_like(z)
    for _ in range(max(k - 1, 0)):
        if not z.requires_grad:
            z = z.requires_grad_()
        loss = fidelity(h(z), y, known, operator)
        (grad,) = torch.autograd.grad(loss, z, create_graph=create_graph)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        step = (m / (1 - b1)) / torch.sqrt(torch.clamp(v / (1 - b2), min=V_FLOOR))
        z = z - gamma * step
        if not create_graph:
            z, m, v = z.detach(), m.detach(), v.detach()
    return z


def dlnet_forward(
    g: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    h: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    mask: torch.Tensor,
    k: int = PAPER_K,
    gamma: float = PAPER_GAMMA,
    *,
    create_graph: bool = False,
) -> torch.Tensor:
    """x_hat = h(z^(K-1)) for inpainting: ``mask`` (N, 1, H, W) is 1 on pixels to fill.

    In training pass ``create_graph=True``; at inference call it under
    ``torch.no_grad()``-free code (refinement needs gradients w.r.t. z only).
    """
    return _unrolled(lambda: g(y, mask), h, y, 1.0 - mask, None, k, gamma, create_graph)


def dlnet_forward_op(
    g: Callable[[], torch.Tensor],
    h: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    operator: Operator,
    k: int = PAPER_K,
    gamma: float = PAPER_GAMMA,
    *,
    create_graph: bool = False,
) -> torch.Tensor:
    """x_hat = h(z^(K-1)) with z^(0) = g() and the fidelity ``||operator(h(z)) - y||^2``
    (e.g. super-resolution: blur + downscale); otherwise as :func:`dlnet_forward`."""
    return _unrolled(g, h, y, None, operator, k, gamma, create_graph)


def _unrolled(
    g: Callable[[], torch.Tensor],
    h: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    known: torch.Tensor | None,
    operator: Operator | None,
    k: int,
    gamma: float,
    create_graph: bool,
) -> torch.Tensor:
    """h(z^(K-1)) from z^(0) = g(): the graph kept through everything when training
    (``create_graph``), otherwise gradients only for the refinement of z."""
    if create_graph:
        z = g()
    else:
        with torch.no_grad():
            z = g()
    if k > 1:
        with torch.enable_grad():
            z = refine(h, z, y, known, k, gamma, create_graph=create_graph, operator=operator)
    if create_graph:
        return h(z)
    with torch.no_grad():
        return h(z)
