"""Preview-restorer task: distil a VDIR model's restorer into a quicker one for previews.

The window's steered previews must follow the slider within a second on a 2-core CPU;
the shipped restorers spend most of their time at full resolution (see
:class:`app.ml.archs.vdir.Restorer`). The student is a whole VDIR whose encoder,
decoder, EST (and block-DCT branch) are the teacher's, copied and frozen, so it computes
the very latent the teacher does; only its restorer (an architecture without the
full-size blocks, started from the teacher's matching weights) trains, to reproduce the
teacher's output ``teacher.restore(y, c)`` for the codes the window makes:

- ``y``: a clean patch degraded as the teacher was trained (``data["degradation"]``,
  the task's synthesiser in :mod:`app.training.data`);
- ``c``: the mean code of ``y``, moved along the strength direction ``c(y + n) - c(y)``
  (n Gaussian, sigma ~ U(``steer_sigma``)) by ``s - 1`` with strength s ~ U(0, 3) (or
  1, with probability ``p_neutral``), with probability ``p_channels`` also per-channel
  gains ~ U(0.5, 1.5) and offsets ~ N(0, 0.5), and with probability ``p_sample`` a
  sample of q(c|y) instead of its mean.

Loss: L1 between the student's and the teacher's output. Validation: PSNR of the
student against the teacher (agreement) and against the clean crops (quality), at the
teacher's validation degradation, neutral code.
``python -m app.training.mask_loop configs/preview_denoise.json --out runs/preview_denoise``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.ml.archs.vdir import VDIR
from app.ml.archs.vdir import build as build_vdir
from app.ml.loading import load_arch_model
from app.training.data import sample_batch, validation_set
from app.training.loop import psnr_batch
from app.training.mask_loop import Batch, MaskTaskConfig

DEFAULTS: dict[str, Any] = {
    "teacher": "models/vdir-denoise.safetensors",
    "teacher_task": "denoise",
    "degradation": {"sigma": [0.0, 75.0], "val": {"sigma": [25.0, 25.0]}},
    "steer_sigma": [15.0, 40.0],
    "p_neutral": 0.3,
    "p_channels": 0.3,
    "p_sample": 0.15,
}


def settings(cfg: MaskTaskConfig) -> dict[str, Any]:
    """The task's data settings with defaults filled in."""
    return {**DEFAULTS, **cfg.data}


@cache
def teacher(path: str) -> VDIR:
    """The teacher VDIR of ``path`` (eval mode, frozen), loaded once per process."""
    model = load_arch_model(Path(path), build_vdir).eval()
    model.requires_grad_(False)
    return model


def build(arch: dict[str, Any]) -> nn.Module:
    """The student: a whole VDIR of ``arch`` (its restorer is the quicker one)."""
    return build_vdir(arch)


def warm_start(model: nn.Module, cfg: MaskTaskConfig) -> None:
    """Copy the teacher's weights into every student tensor of the same name and shape,
    then freeze everything but the restorer (the latent must stay the teacher's)."""
    assert isinstance(model, VDIR)
    source = teacher(settings(cfg)["teacher"]).state_dict()
    own = model.state_dict()
    fitting = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fitting, strict=False)
    frozen = [k for k in own if not k.startswith("restorer.")]
    if missing := [k for k in frozen if k not in fitting]:
        raise ValueError(f"the teacher lacks the student's frozen weights: {missing[:5]}")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("restorer."))


def sample(bank: list[np.ndarray], cfg: MaskTaskConfig, rng: np.random.Generator) -> Batch:
    """(y, y_noisier): degraded patches and the same with the steering noise added."""
    data = settings(cfg)
    _, y, _ = sample_batch(
        bank, data["teacher_task"], data["degradation"], cfg.patch, cfg.batch, rng
    )
    low, high = (float(v) for v in data["steer_sigma"])
    sigma = rng.uniform(low, high, size=(cfg.batch, 1, 1, 1)) / 255.0
    noisier = y + rng.standard_normal(y.shape).astype(np.float32) * sigma.astype(np.float32)
    return torch.from_numpy(y), torch.from_numpy(noisier.astype(np.float32))


def steered_codes(
    model: VDIR, y: torch.Tensor, noisier: torch.Tensor, data: dict[str, Any], gen: torch.Generator
) -> torch.Tensor:
    """Codes as the window makes them (see the module docstring), one per batch item."""
    n = y.shape[0]
    with torch.no_grad():
        mean, logvar = model.encode(y)
        direction = model.encode(noisier)[0] - mean

    def draw(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen)

    strength = torch.where(draw(n) < data["p_neutral"], 1.0, 3.0 * draw(n)).view(n, 1, 1, 1)
    sampled = model.sample(mean, logvar, gen)
    c = torch.where(draw(n).view(n, 1, 1, 1) < data["p_sample"], sampled, mean)
    c = c + (strength - 1.0) * direction
    channels = (draw(n) < data["p_channels"]).view(n, 1, 1, 1)
    lat = mean.shape[1]
    gain = 0.5 + draw(n, lat, 1, 1)
    offset = 0.5 * torch.randn(n, lat, 1, 1, generator=gen)
    return torch.where(channels, gain * c + offset, c)


def loss(model: nn.Module, batch: Batch, cfg: MaskTaskConfig) -> dict[str, torch.Tensor]:
    """L1 between the student's and the teacher's restoration of the same code."""
    assert isinstance(model, VDIR)
    y, noisier = batch
    data = settings(cfg)
    gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,))))
    c = steered_codes(model, y, noisier, data, gen)
    with torch.no_grad():
        target = teacher(data["teacher"]).restore(y, c)
    out = model.restore(y, c)
    l1 = (out - target).abs().mean()
    return {"total": l1, "l1": l1.detach()}


def val_set(bank: list[np.ndarray], cfg: MaskTaskConfig) -> Batch:
    """(x, y): clean centre crops and their degraded copies (the teacher's val setting)."""
    data = settings(cfg)
    x, y = validation_set(bank, data["teacher_task"], data["degradation"], cfg.val_crop, cfg.seed)
    return torch.from_numpy(x), torch.from_numpy(y)


def validate(model: nn.Module, val: Batch, cfg: MaskTaskConfig) -> dict[str, float]:
    """PSNR of the student vs. the teacher (neutral code) and of both vs. clean."""
    assert isinstance(model, VDIR)
    x, y = val
    big = teacher(settings(cfg)["teacher"])
    model.eval()
    with torch.no_grad():
        c = model.encode(y)[0]
        out, target = model.restore(y, c).clamp(0, 1), big.restore(y, c).clamp(0, 1)
    model.train()
    return {
        "val_vs_teacher": psnr_batch(out, target),
        "val_psnr": psnr_batch(out, x),
        "val_teacher_psnr": psnr_batch(target, x),
    }
