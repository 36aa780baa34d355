"""Damage-detection training task: synthetic damage over grain, blur, fading and noise.

Each clean patch goes through :func:`app.core.degradations.degrade` with scratches,
dust and (sometimes) torn corners, and, independently, fade, blur, film grain,
Gaussian noise and JPEG, so the detector learns damage, not noise; the target is the
exact damage mask of :class:`~app.core.degradations.Degraded`. About ``p_clean`` of
the patches carry no damage at all (only the nuisance degradations). Loss: BCE with
``pos_weight`` plus a soft-Dice term.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.core.degradations import DegradationSpec, degrade
from app.ml.archs.detector import build as build_net
from app.training.data import random_patch
from app.training.mask_loop import Batch, MaskTaskConfig

DEFAULTS: dict[str, Any] = {
    "p_clean": 0.15,
    "scratches": [0.2, 1.0],
    "dust": [0.3, 1.0],
    "p_tears": 0.15,
    "p_nuisance": 0.7,
    "grain": [0.0, 0.8],
    "blur": [0.0, 1.5],
    "fade": [0.0, 0.7],
    "sigma": [0.0, 20.0],
    "p_jpeg": 0.3,
    "pos_weight": 3.0,
    "dice_weight": 0.5,
}


def build(arch: dict[str, Any]) -> nn.Module:
    """The detector of ``arch``."""
    return build_net(arch)


def _u(rng: np.random.Generator, lo_hi: list[float], p: float = 1.0) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1])) if rng.random() < p else 0.0


def random_spec(rng: np.random.Generator, data: dict[str, Any]) -> DegradationSpec:
    """A random damage + nuisance degradation spec (see module docstring)."""
    c = {**DEFAULTS, **data}
    damaged = rng.random() >= c["p_clean"]
    nuisance = c["p_nuisance"]
    return DegradationSpec(
        scratches=_u(rng, c["scratches"], 0.7) if damaged else 0.0,
        dust=_u(rng, c["dust"], 0.7) if damaged else 0.0,
        tears=float(rng.uniform(0.1, 0.6)) if damaged and rng.random() < c["p_tears"] else 0.0,
        grain=_u(rng, c["grain"], nuisance),
        blur=_u(rng, c["blur"], nuisance * 0.5),
        fade=_u(rng, c["fade"], nuisance * 0.5),
        sigma=_u(rng, c["sigma"], nuisance * 0.5),
        jpeg=int(rng.integers(40, 96)) if rng.random() < c["p_jpeg"] else None,
        seed=int(rng.integers(2**31)),
    )


def sample(bank: list[np.ndarray], cfg: MaskTaskConfig, rng: np.random.Generator) -> Batch:
    """(y, m): (B, 3, P, P) degraded patches and (B, 1, P, P) exact damage masks."""
    ys, ms = [], []
    for _ in range(cfg.batch):
        x = random_patch(bank[int(rng.integers(0, len(bank)))], cfg.patch, rng)
        out = degrade(x, random_spec(rng, cfg.data))
        ys.append(out.image.transpose(2, 0, 1))
        ms.append(out.mask[None])
    return torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(ms))


def loss(model: nn.Module, batch: Batch, cfg: MaskTaskConfig) -> dict[str, torch.Tensor]:
    """BCE (positive weight ``pos_weight``) + ``dice_weight`` * (1 - soft Dice)."""
    c = {**DEFAULTS, **cfg.data}
    y, m = batch
    logits = model(y)
    bce = F.binary_cross_entropy_with_logits(
        logits, m, pos_weight=torch.tensor(float(c["pos_weight"]))
    )
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * m).sum() + 1) / (p.sum() + m.sum() + 1)
    return {"total": bce + float(c["dice_weight"]) * dice, "bce": bce, "dice": dice}


def val_set(bank: list[np.ndarray], cfg: MaskTaskConfig) -> Batch:
    """Centre crops with a fixed mid-level damage + grain setting."""
    rng = np.random.default_rng(cfg.seed + 999)
    ys, ms = [], []
    c = cfg.val_crop
    for i, img in enumerate(bank):
        h, w = img.shape[:2]
        x = img[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]
        spec = DegradationSpec(scratches=0.6, dust=0.6, grain=0.4, fade=0.3, seed=i)
        out = degrade(x.astype(np.float32) / 255.0, spec)
        ys.append(out.image.transpose(2, 0, 1))
        ms.append(out.mask[None])
        rng.random()
    return torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(ms))


def scores(pred: torch.Tensor, m: torch.Tensor) -> dict[str, float]:
    """Precision, recall and IoU of a binary prediction against the mask (pooled)."""
    tp = float((pred * m).sum())
    fp = float((pred * (1 - m)).sum())
    fn = float(((1 - pred) * m).sum())
    return {
        "precision": tp / max(tp + fp, 1.0),
        "recall": tp / max(tp + fn, 1.0),
        "iou": tp / max(tp + fp + fn, 1.0),
    }


def validate(model: nn.Module, val: Batch, cfg: MaskTaskConfig) -> dict[str, float]:
    """Pooled precision / recall / IoU at threshold 0.5."""
    y, m = val
    model.eval()
    with torch.no_grad():
        pred = (torch.sigmoid(model(y)) > 0.5).float()
    model.train()
    return {f"val_{k}": v for k, v in scores(pred, m).items()}
