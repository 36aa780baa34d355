"""Super-resolution training task (DL-Net, known blur and scale) for the mask loop.

Each step draws one scale ``s`` from ``data["scales"]`` (weights ``data["scale_p"]``)
and ``cfg.batch`` clean RGB patches of ``cfg.patch * s`` px; each patch gets a blur
std ``u`` (0 with probability ``p_sharp``, else U[0, ``max_blur``]), the degradation
of :mod:`app.core.degradations` (blur, bicubic ``s``-fold downscale, 8-bit rounding,
as in evaluation) and is turned to BT.601 full-range luma. The loss is the L1 between
the clean luma and DL-Net's output with ``cfg.k_train`` unrolled steps (higher-order
gradients), plus ``est_weight`` times the L1 of the blind blur estimator (which shares
no weights with the SR network). With ``data["only_est"]`` (and ``data["init"]``, a
finished SR run, see :func:`warm_start`) only the estimator is trained. Validation:
Y-PSNR (studio-range BT.601, border crop = scale) on centre crops of the held-out images
at x2 and x4, u = 0 and 2.6, K = 1 and K = ``k_train``, and the estimator's mean error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.core import degradations as D
from app.ml.archs.sr import SRNet
from app.ml.archs.sr import build as build_net
from app.ml.dlnet_sr import upscale_luma
from app.ml.sr_ops import degrade_sr
from app.training import checkpoint as ck
from app.training.data import random_patch
from app.training.mask_loop import Batch, MaskTaskConfig

DEFAULTS: dict[str, Any] = {
    "scales": [2, 3, 4],
    "scale_p": [0.34, 0.33, 0.33],
    "p_sharp": 0.2,
    "max_blur": 3.0,
    "est_weight": 0.01,
}
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
VAL_SETTINGS = ((2, 0.0), (2, 2.6), (4, 0.0), (4, 2.6))
STUDIO_GAIN_DB = -20 * math.log10(219 / 255)  # full-range -> studio-range Y-PSNR


def build(arch: dict[str, Any]) -> nn.Module:
    """The SR network of ``arch``."""
    return build_net(arch)


def warm_start(model: nn.Module, cfg: MaskTaskConfig) -> None:
    """With ``data["init"]`` (a run folder): load its SR weights (not its estimator) and
    freeze everything but the estimator (the estimator-only second stage)."""
    init = cfg.data.get("init")
    if not init:
        return
    tensors, _ = ck.read_checkpoint(Path(init))
    source = ck.split_prefix(tensors, "model")
    fitting = {k: v for k, v in source.items() if not k.startswith("estimator.")}
    missing, _ = model.load_state_dict(fitting, strict=False)
    if bad := [k for k in missing if not k.startswith("estimator.")]:
        raise ValueError(f"{init} lacks SR weights: {bad[:5]}")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("estimator."))


def lr_pair(x: np.ndarray, u: float, s: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean luma (P, P), degraded luma (P/s, P/s)) of a clean RGB patch ``x``."""
    y = D.gaussian_blur(x, u) if u > 0 else x
    y = D.quantize8(D.downscale(y, s))
    return x @ LUMA, y @ LUMA


def sample(bank: list[np.ndarray], cfg: MaskTaskConfig, rng: np.random.Generator) -> Batch:
    """(x, y, u, s): (B, 1, P*s, P*s) clean and (B, 1, P, P) degraded luma, (B,) blur
    stds and the scale as a 0-d tensor."""
    data = {**DEFAULTS, **cfg.data}
    s = int(rng.choice(data["scales"], p=data["scale_p"]))
    xs, ys, us = [], [], []
    for _ in range(cfg.batch):
        x = random_patch(bank[int(rng.integers(0, len(bank)))], cfg.patch * s, rng)
        sharp = rng.random() < data["p_sharp"]
        u = 0.0 if sharp else float(rng.uniform(0.0, data["max_blur"]))
        hr, lr = lr_pair(x, u, s)
        xs.append(hr[None])
        ys.append(lr[None])
        us.append(u)
    return (
        torch.from_numpy(np.stack(xs)),
        torch.from_numpy(np.stack(ys)),
        torch.tensor(us, dtype=torch.float32),
        torch.tensor(s),
    )


def loss(model: nn.Module, batch: Batch, cfg: MaskTaskConfig) -> dict[str, torch.Tensor]:
    """L1 of DL-Net's K = ``k_train`` output + ``est_weight`` x the estimator's L1."""
    assert isinstance(model, SRNet)
    x, y, u, s_t = batch
    s = int(s_t)
    est = (model.estimator(y, s) - u).abs().mean()
    if cfg.data.get("only_est"):
        return {"total": est, "est_l1": est.detach()}
    x_hat = upscale_luma(model, y, u, s, cfg.k_train, cfg.gamma, create_graph=True)
    l1 = (x_hat - x).abs().mean()
    w = float({**DEFAULTS, **cfg.data}["est_weight"])
    return {"total": l1 + w * est, "l1": l1.detach(), "est_l1": est.detach()}


def val_set(bank: list[np.ndarray], cfg: MaskTaskConfig) -> Batch:
    """(N, 3, C, C) RGB centre crops of the held-out images (C a multiple of 12)."""
    c = cfg.val_crop // 12 * 12
    xs = []
    for img in bank:
        h, w = img.shape[:2]
        x = img[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]
        xs.append(x.astype(np.float32).transpose(2, 0, 1) / 255.0)
    return (torch.from_numpy(np.stack(xs)),)


def to_luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) BT.601 full-range luma."""
    return torch.einsum("c,nchw->nhw", torch.from_numpy(LUMA), x)[:, None]


def y_psnr(x_hat: torch.Tensor, x: torch.Tensor, crop: int) -> float:
    """Studio-range BT.601 Y-PSNR (dB) of full-range lumas with a ``crop`` px border."""
    d = (x_hat.clamp(0, 1) - x)[..., crop:-crop, crop:-crop]
    mse = d.pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return float((-10 * torch.log10(mse)).mean()) + STUDIO_GAIN_DB


def degraded_luma(x: torch.Tensor, u: float, s: int) -> torch.Tensor:
    """The evaluation degradation of RGB ``x`` (blur, downscale, clip, 8 bits) as luma."""
    lr = torch.round(degrade_sr(x, u, s).clamp(0, 1) * 255) / 255
    return to_luma(lr)


def validate(model: nn.Module, val: Batch, cfg: MaskTaskConfig) -> dict[str, float]:
    """Y-PSNR at each of :data:`VAL_SETTINGS` with K = 1 and ``k_train`` (and the
    estimator's mean absolute error in px)."""
    assert isinstance(model, SRNet)
    (x,) = val
    xl = to_luma(x)
    model.eval()
    out, errs = {}, []
    for s, u in VAL_SETTINGS:
        y = degraded_luma(x, u, s)
        ut = torch.full((x.shape[0],), u)
        for k in sorted({1, cfg.k_train}):
            x_hat = upscale_luma(model, y, ut, s, k, cfg.gamma)
            out[f"val_x{s}_u{u:g}_k{k}"] = y_psnr(x_hat, xl, s)
        with torch.no_grad():
            errs.append(float((model.estimator(y, s) - u).abs().mean()))
    out["val_est_err"] = float(np.mean(errs))
    model.train()
    return out
