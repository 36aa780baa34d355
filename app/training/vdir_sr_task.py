"""Blind super-resolution training task for VDIR-SR (:mod:`app.ml.archs.vdir_sr`).

Batches are those of :mod:`app.training.sr_task` (one scale per step, blur u per
patch, luma). Loss (VDIR Eqn. 9 + the estimation term): L1(x, f(y, c)) +
``beta_kl`` * KL(q(c|y) || N(0, I)) per element + ``lambda_rec`` * L1(y, D(c)) +
``lambda_est`` * |EST(c) - u| / 3, with ``c`` sampled (reparameterised). The restorer
never sees u: it is blind. Validation: Y-PSNR at sr_task's settings with the mean latent
and the EST error (px).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from app.ml.archs.vdir_sr import VDIRSR
from app.ml.archs.vdir_sr import build as build_net
from app.ml.sr_ops import MAX_BLUR
from app.training import sr_task
from app.training.mask_loop import Batch, MaskTaskConfig

DEFAULTS: dict[str, Any] = {"beta_kl": 0.01, "lambda_rec": 1.0, "lambda_est": 1.0}
sample = sr_task.sample
val_set = sr_task.val_set


def build(arch: dict[str, Any]) -> nn.Module:
    """The VDIR-SR network of ``arch``."""
    return build_net(arch)


def loss(model: nn.Module, batch: Batch, cfg: MaskTaskConfig) -> dict[str, torch.Tensor]:
    """VDIR's terms on one batch; ``total`` is their weighted sum."""
    assert isinstance(model, VDIRSR)
    x, y, u, s_t = batch
    out = model(y, int(s_t))
    w = {**DEFAULTS, **cfg.data}
    res = (out.restored - x).abs().mean()
    kl = 0.5 * (out.mean.pow(2) + out.logvar.exp() - 1.0 - out.logvar).mean()
    rec = (out.decoded - y).abs().mean()
    est = (out.estimate - u).abs().mean() / MAX_BLUR
    total = res + w["beta_kl"] * kl + w["lambda_rec"] * rec + w["lambda_est"] * est
    return {"total": total, "res": res.detach(), "kl": kl.detach(), "rec": rec.detach(),
            "est": est.detach()}  # fmt: skip


def validate(model: nn.Module, val: Batch, cfg: MaskTaskConfig) -> dict[str, float]:
    """Blind Y-PSNR at each of :data:`app.training.sr_task.VAL_SETTINGS` (mean latent)."""
    assert isinstance(model, VDIRSR)
    (x,) = val
    xl = sr_task.to_luma(x)
    model.eval()
    out, errs = {}, []
    with torch.no_grad():
        for s, u in sr_task.VAL_SETTINGS:
            y = sr_task.degraded_luma(x, u, s)
            pred = model(y, s, sample=False)
            out[f"val_x{s}_u{u:g}_blind"] = sr_task.y_psnr(pred.restored, xl, s)
            errs.append(float((pred.estimate - u).abs().mean()))
    out["val_est_err"] = float(np.mean(errs))
    model.train()
    return out
