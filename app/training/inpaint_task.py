"""Inpainting training task: clean patches, synthetic masks, DL-Net unrolled loss.

Masks (1 = missing) mix, per patch, with probabilities from ``cfg.data``:
square holes (:func:`app.core.damage.random_holes`, sizes from ``hole_sizes``), thin
scratches and dust (the exact changed-pixel masks of :mod:`app.core.damage`), or all
three. The network sees ``y * (1 - m)`` and ``m``; the loss is L1 against the clean
patch (or the squared error with ``"loss": "l2"``), weighted ``hole_weight`` inside
the hole and 1 outside, on the output of
DL-Net with ``cfg.k_train`` unrolled steps (higher-order gradients).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from app.core import damage
from app.ml.archs.inpaint import InpaintNet
from app.ml.archs.inpaint import build as build_net
from app.ml.dlnet import dlnet_forward
from app.training.data import random_patch
from app.training.mask_loop import Batch, MaskTaskConfig

DEFAULTS: dict[str, Any] = {
    "p_holes": 0.45,
    "p_scratches": 0.25,
    "p_dust": 0.15,
    "hole_sizes": [8, 16, 32, 48, 64],
    "hole_weight": 6.0,
    "loss": "l1",
}


def build(arch: dict[str, Any]) -> nn.Module:
    """The inpainting network of ``arch``."""
    return build_net(arch)


def holes_mask(p: int, rng: np.random.Generator, sizes: list[int]) -> np.ndarray:
    """1-3 square holes of one size from ``sizes`` (one hole when it is over p/2)."""
    size = int(rng.choice(sizes))
    count = 1 if size > p // 2 else int(rng.integers(1, 4))
    return damage.random_holes((p, p), size, count, rng)


def sample_mask(x: np.ndarray, rng: np.random.Generator, data: dict[str, Any]) -> np.ndarray:
    """A float32 (P, P) mask for the clean patch ``x`` (never empty)."""
    cfg = {**DEFAULTS, **data}
    p = x.shape[0]
    u = rng.random()
    if u < cfg["p_holes"]:
        return holes_mask(p, rng, cfg["hole_sizes"])
    if u < cfg["p_holes"] + cfg["p_scratches"]:
        m = damage.scratches(x, float(rng.uniform(0.5, 2.0)), rng)[1]
    elif u < cfg["p_holes"] + cfg["p_scratches"] + cfg["p_dust"]:
        m = damage.dust(x, float(rng.uniform(1.0, 4.0)), rng)[1]
    else:
        m = np.maximum(damage.scratches(x, 1.0, rng)[1], damage.dust(x, 2.0, rng)[1])
        m = np.maximum(m, holes_mask(p, rng, [8, 16, 32]))
    if m.sum() < 1:
        m = holes_mask(p, rng, [8, 16])
    return m


def sample(bank: list[np.ndarray], cfg: MaskTaskConfig, rng: np.random.Generator) -> Batch:
    """(x, m): (B, 3, P, P) clean patches and (B, 1, P, P) masks."""
    xs, ms = [], []
    for _ in range(cfg.batch):
        x = random_patch(bank[int(rng.integers(0, len(bank)))], cfg.patch, rng)
        ms.append(sample_mask(x, rng, cfg.data)[None])
        xs.append(x.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms))


def weighted_l1(x_hat: torch.Tensor, x: torch.Tensor, m: torch.Tensor, w: float) -> torch.Tensor:
    """Mean of ``|x_hat - x| * (1 + (w - 1) m)`` normalised by the mean weight."""
    weight = 1.0 + (w - 1.0) * m
    return ((x_hat - x).abs() * weight).mean() / weight.mean()


def weighted_l2(x_hat: torch.Tensor, x: torch.Tensor, m: torch.Tensor, w: float) -> torch.Tensor:
    """Mean of ``(x_hat - x)^2 * (1 + (w - 1) m)`` normalised by the mean weight (the
    hole PSNR's own error, so the network learns the conditional mean)."""
    weight = 1.0 + (w - 1.0) * m
    return ((x_hat - x).pow(2) * weight).mean() / weight.mean()


def loss(model: nn.Module, batch: Batch, cfg: MaskTaskConfig) -> dict[str, torch.Tensor]:
    """Weighted L1 of DL-Net's output with ``k_train`` unrolled steps; also the hole L1."""
    assert isinstance(model, InpaintNet)
    x, m = batch
    y = x * (1 - m)
    g, h = model.parts(y, m)
    x_hat = dlnet_forward(g, h, y, m, cfg.k_train, cfg.gamma, create_graph=True)
    data = {**DEFAULTS, **cfg.data}
    w = float(data["hole_weight"])
    total = (weighted_l2 if data["loss"] == "l2" else weighted_l1)(x_hat, x, m, w)
    hole = ((x_hat - x).abs() * m).sum() / (3 * m.sum()).clamp_min(1)
    return {"total": total, "hole_l1": hole.detach()}


def val_set(bank: list[np.ndarray], cfg: MaskTaskConfig) -> Batch:
    """Centre crops of the held-out images, each with one 32 px hole and a few scratches."""
    rng = np.random.default_rng(cfg.seed + 777)
    xs, ms = [], []
    c = cfg.val_crop
    for img in bank:
        h, w = img.shape[:2]
        x = img[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]
        x = x.astype(np.float32) / 255.0
        m = np.maximum(damage.random_holes((c, c), 32, 1, rng), damage.scratches(x, 0.5, rng)[1])
        xs.append(x.transpose(2, 0, 1))
        ms.append(m[None])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms))


def hole_psnr(x_hat: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> float:
    """PSNR (dB) over all masked pixels of the batch, output clamped to [0, 1]."""
    se = ((x_hat.clamp(0, 1) - x).pow(2) * m).sum() / (3 * m.sum()).clamp_min(1)
    return float(-10 * torch.log10(se.clamp_min(1e-12)))


def validate(model: nn.Module, val: Batch, cfg: MaskTaskConfig) -> dict[str, float]:
    """Hole PSNR with K = 1 (no refinement) and K = ``k_train``."""
    assert isinstance(model, InpaintNet)
    x, m = val
    y = x * (1 - m)
    model.eval()
    out = {}
    for k in sorted({1, cfg.k_train}):
        x_hat = dlnet_forward(*model.parts(y, m), y, m, k, cfg.gamma)
        out[f"val_hole_psnr_k{k}"] = hole_psnr(x_hat, x, m)
    model.train()
    return out
