"""The VDIR training loop: seeded, resumable, logging loss and validation PSNR.

Files in the run folder: ``config.json`` (effective config), ``ckpt.safetensors`` +
``ckpt.json`` (latest checkpoint, see :mod:`app.training.checkpoint`), ``log.jsonl``
(one JSON object per logged step or validation). Creating a file named ``STOP`` in the
run folder makes the loop checkpoint and exit cleanly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.ml.archs.vdir import VDIR, build
from app.training import checkpoint as ck
from app.training.config import BaseTrainConfig, TrainConfig
from app.training.data import sample_batch, split_bank, validation_set


@dataclass
class RunState:
    """Mutable state of a run (everything a checkpoint restores)."""

    model: VDIR
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    gen: torch.Generator
    step: int = 0
    elapsed: float = 0.0


def lr_at(cfg: BaseTrainConfig, step: int) -> float:
    """Linear warm-up to ``cfg.lr`` then cosine decay to ``cfg.lr_min`` at ``cfg.steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min((step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1), 1.0)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))


def kl_per_element(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) averaged over all latent elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def losses(
    model: VDIR,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    cfg: TrainConfig,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Loss terms; ``total`` = L1(x, x_hat) + beta KL + L1(y, y_hat) + lambda2 |f(T) - EST(c)|.

    Without the VAE (``cfg.use_vae`` false, the naive-blind ablation) c is all zeros.
    With ``cfg.only_est`` only ``lambda2 |f(T) - EST(mean c)|`` (the encoder frozen).
    """
    if cfg.only_est:
        with torch.no_grad():
            mean, _ = model.encode(y)
        est = F.l1_loss(model.estimate(mean), F.avg_pool2d(t, 4))
        return {"total": est, "est": est}
    if not cfg.use_vae:
        c = torch.zeros(
            y.shape[0],
            model.cfg.latent,
            y.shape[2] // 4,
            y.shape[3] // 4,
            device=y.device,
            dtype=y.dtype,
        )
        res = F.l1_loss(model.restore(y, c), x)
        return {"total": res, "res": res}
    out = model(y, sample=True, generator=gen)
    terms = {
        "res": F.l1_loss(out.restored, x),
        "kl": kl_per_element(out.mean, out.logvar),
        "rec": F.l1_loss(out.decoded, y),
        "est": F.l1_loss(out.estimate, F.avg_pool2d(t, 4)),
    }
    terms["total"] = (
        terms["res"]
        + cfg.beta_kl * terms["kl"]
        + cfg.lambda_rec * terms["rec"]
        + cfg.lambda_est * terms["est"]
    )
    return terms


def psnr_batch(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of PSNR (dB, peak 1) between (N, 3, H, W) tensors."""
    mse = (a.clamp(0, 1) - b).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((-10 * torch.log10(mse)).mean())


def validate(model: VDIR, val: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig) -> float:
    """PSNR of the restored validation crops (mean latent, or zero latent without VAE)."""
    model.eval()
    x, y = val
    with torch.no_grad():
        if cfg.use_vae:
            out = model(y, sample=False).restored
        else:
            c = torch.zeros(
                y.shape[0], model.cfg.latent, y.shape[2] // 4, y.shape[3] // 4, device=y.device
            )
            out = model.restore(y, c)
    model.train()
    return psnr_batch(out, x)


def new_state(cfg: TrainConfig, device: str) -> RunState:
    """Fresh seeded model, optimiser and RNGs."""
    torch.manual_seed(cfg.seed)
    model = build(cfg.arch).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    params = model.est.parameters() if cfg.only_est else model.parameters()
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    return RunState(model, opt, np.random.default_rng(cfg.seed), gen)


def save(state: RunState, run_dir: Path) -> None:
    """Checkpoint ``state`` into ``run_dir``."""
    rng_t = {"gen": state.gen.get_state(), "torch": torch.get_rng_state()}
    meta = {
        "step": state.step,
        "elapsed": state.elapsed,
        "numpy_rng": state.rng.bit_generator.state,
    }
    ck.save_checkpoint(run_dir, state.model, state.opt, rng_t, meta)


def restore(state: RunState, run_dir: Path) -> None:
    """Load the checkpoint of ``run_dir`` into ``state`` (in place)."""
    tensors, side = ck.read_checkpoint(run_dir)
    state.model.load_state_dict(ck.split_prefix(tensors, "model"))
    ck.load_optimizer(state.opt, tensors, side["param_groups"])
    state.gen.set_state(tensors["rng.gen"])
    torch.set_rng_state(tensors["rng.torch"])
    state.rng.bit_generator.state = side["numpy_rng"]
    state.step, state.elapsed = int(side["step"]), float(side["elapsed"])


def _to_device(arrays: tuple[np.ndarray, ...], device: str, cl: bool) -> list[torch.Tensor]:
    fmt = torch.channels_last if cl else torch.contiguous_format
    return [torch.from_numpy(a).to(device).contiguous(memory_format=fmt) for a in arrays]


def optimizer_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    terms: dict[str, torch.Tensor],
    grad_clip: float,
) -> dict[str, float]:
    """Backpropagate ``terms["total"]``, clip to ``grad_clip`` (if > 0) and step ``opt``.

    Returns the loss terms as floats.
    """
    opt.zero_grad(set_to_none=True)
    terms["total"].backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return {k: float(v.detach()) for k, v in terms.items()}


def train_step(state: RunState, batch: list[torch.Tensor], cfg: TrainConfig) -> dict[str, float]:
    """One optimiser step at the scheduled learning rate; returns the loss terms."""
    for group in state.opt.param_groups:
        group["lr"] = lr_at(cfg, state.step)
    x, y, t = batch
    amp = x.device.type == "cuda"
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        terms = losses(state.model, x, y, t, cfg, state.gen)
    out = optimizer_step(state.model, state.opt, terms, cfg.grad_clip)
    state.step += 1
    return out


class Logger:
    """Appends JSON lines to ``log.jsonl`` and echoes them to stdout."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "log.jsonl"

    def __call__(self, record: dict[str, Any]) -> None:
        line = json.dumps(record)
        with self.path.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)


def prepare(
    cfg: TrainConfig, data_dir: Path, run_dir: Path, device: str, resume: bool, init: Path | None
) -> tuple[RunState, list[np.ndarray], tuple[torch.Tensor, ...]]:
    """State (fresh, resumed or initialised from weights), training bank, validation tensors."""
    state = new_state(cfg, device)
    if resume and (run_dir / ck.SIDECAR).exists():
        restore(state, run_dir)
    elif init is not None:
        from app.ml.loading import load_weights

        weights, _ = load_weights(init)
        load_init(state.model, weights)
        if cfg.reinit_est:
            reset_est(state.model, cfg.seed)
    train_bank, val_bank = split_bank(data_dir, cfg.val_images)
    vx, vy = validation_set(val_bank, cfg.task, cfg.degradation, cfg.val_crop, cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    return state, train_bank, tuple(_to_device((vx, vy), device, cfg.channels_last))


NEW_BRANCHES = ("spectrum.",)  # zero-initialised additions an older model may lack


def load_init(model: VDIR, weights: dict[str, torch.Tensor]) -> None:
    """Load ``weights`` into ``model``; only keys of NEW_BRANCHES may be missing (they keep
    their zero start, so the model computes what the initialising one did)."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    wrong = [k for k in missing if not k.startswith(NEW_BRANCHES)] + list(unexpected)
    if wrong:
        raise ValueError(f"--init weights do not fit this architecture: {wrong[:5]}")


def reset_est(model: VDIR, seed: int) -> None:
    """Fresh (seeded) weights for the EST head: its old target (e.g. sigma when
    fine-tuning a denoiser into a deblocker) leaves ReLUs that never fire on the new one."""
    torch.manual_seed(seed)
    for layer in model.est.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.reset_parameters()


def train(
    cfg: TrainConfig,
    data_dir: Path,
    run_dir: Path,
    *,
    device: str = "cpu",
    resume: bool = False,
    init: Path | None = None,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Run (or continue) training to ``cfg.steps`` (or only to ``stop_at``); returns the final
    step, wall time and validation PSNR. Checkpoints every ``cfg.ckpt_minutes``, at each
    validation and at the end; the learning-rate schedule always follows ``cfg.steps``.
    """
    state, bank, val = prepare(cfg, data_dir, run_dir, device, resume, init)
    log = Logger(run_dir)
    last_ckpt = t_mark = time.time()
    val_psnr = float("nan")
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    while state.step < end and not (run_dir / "STOP").exists():
        arrays = sample_batch(bank, cfg.task, cfg.degradation, cfg.patch, cfg.batch, state.rng)
        terms = train_step(state, _to_device(arrays, device, cfg.channels_last), cfg)
        now = time.time()
        state.elapsed += now - t_mark
        t_mark = now
        if state.step % cfg.log_every == 0 or state.step == cfg.steps:
            log(
                {
                    "step": state.step,
                    "lr": lr_at(cfg, state.step - 1),
                    "elapsed": round(state.elapsed, 1),
                    **{k: round(v, 5) for k, v in terms.items()},
                }
            )
        validating = state.step % cfg.val_every == 0 or state.step == cfg.steps
        if validating:
            val_psnr = validate(state.model, (val[0], val[1]), cfg)
            log({"step": state.step, "val_psnr": round(val_psnr, 3)})
        if validating or now - last_ckpt > 60 * cfg.ckpt_minutes:
            save(state, run_dir)
            last_ckpt, t_mark = time.time(), time.time()
    save(state, run_dir)
    finite = math.isfinite(val_psnr)
    return {"step": state.step, "elapsed": state.elapsed, "val_psnr": val_psnr if finite else None}
