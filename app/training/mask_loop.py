"""Training loop for the mask tasks (inpainting, damage detection) and for distilling a
VDIR restorer into a quicker preview one (``preview``), reusing the VDIR
machinery: safetensors checkpoints (:mod:`app.training.checkpoint`), the warm-up +
cosine schedule and JSON-lines logger (:mod:`app.training.loop`), the image bank
(:mod:`app.training.data`) and ``run_info.json`` (:mod:`app.training.train_command`).

A task is a :class:`MaskTask`: how to build the model, sample a batch, compute the
loss and validate; a task module may also define ``warm_start(model, cfg)``, called
on every new model (a resumed run then loads its checkpoint over it); only parameters
that still require gradients afterwards are trained. Run folder layout and the ``STOP``
file work as in the VDIR loop.
``python -m app.training.mask_loop configs/inpaint_fast.json --out runs/inpaint``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import numpy as np
import torch
from torch import nn

from app.training import checkpoint as ck
from app.training.config import BaseTrainConfig
from app.training.data import split_bank
from app.training.loop import Logger, lr_at, optimizer_step

MASK_TASKS = ("inpaint", "detect", "preview", "sr", "vdir-sr")


@dataclass(frozen=True)
class MaskTaskConfig(BaseTrainConfig):
    """Config of an inpainting or detection run (JSON in ``configs/``).

    ``data`` holds the task's sampling settings (see the task module); ``k_train`` and
    ``gamma`` are DL-Net's unrolled steps and step size (inpainting only); the first
    ``k_plain_steps`` steps train the plain network (K = 1, cheaper), the rest unroll
    ``k_train`` steps (the paper's reference-then-DL-Net order, one schedule). The shared
    fields and JSON handling come from :class:`BaseTrainConfig`.
    """

    tasks: ClassVar[tuple[str, ...]] = MASK_TASKS

    patch: int = 96
    batch: int = 8
    steps: int = 5000
    log_every: int = 25
    val_every: int = 250
    data: dict[str, Any] = field(default_factory=dict)
    k_train: int = 5
    gamma: float = 1e-3
    k_plain_steps: int = 0


Batch = tuple[torch.Tensor, ...]


class MaskTask(Protocol):
    """What the loop needs from a task module."""

    def build(self, arch: dict[str, Any]) -> nn.Module: ...
    def sample(
        self, bank: list[np.ndarray], cfg: MaskTaskConfig, rng: np.random.Generator
    ) -> Batch: ...
    def loss(
        self, model: nn.Module, batch: Batch, cfg: MaskTaskConfig
    ) -> dict[str, torch.Tensor]: ...
    def val_set(self, bank: list[np.ndarray], cfg: MaskTaskConfig) -> Batch: ...
    def validate(self, model: nn.Module, val: Batch, cfg: MaskTaskConfig) -> dict[str, float]: ...


def task_for(name: str) -> MaskTask:
    """The task module of ``name`` (imported lazily)."""
    if name == "inpaint":
        from app.training import inpaint_task

        return cast(MaskTask, inpaint_task)
    if name == "preview":
        from app.training import preview_task

        return cast(MaskTask, preview_task)
    if name == "sr":
        from app.training import sr_task

        return cast(MaskTask, sr_task)
    if name == "vdir-sr":
        from app.training import vdir_sr_task

        return cast(MaskTask, vdir_sr_task)
    from app.training import detect_task

    return cast(MaskTask, detect_task)


@dataclass
class State:
    """Everything a checkpoint restores."""

    model: nn.Module
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    step: int = 0
    elapsed: float = 0.0


def new_state(cfg: MaskTaskConfig, task: MaskTask) -> State:
    """Fresh seeded model, optimiser and numpy RNG."""
    torch.manual_seed(cfg.seed)
    model = task.build(cfg.arch)
    warm_start = getattr(task, "warm_start", None)
    if warm_start is not None:
        warm_start(model, cfg)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=cfg.lr, betas=cfg.betas)
    return State(model, opt, np.random.default_rng(cfg.seed))


def save(state: State, run_dir: Path) -> None:
    """Checkpoint ``state`` (via :func:`app.training.checkpoint.save_checkpoint`)."""
    meta = {
        "step": state.step,
        "elapsed": state.elapsed,
        "numpy_rng": state.rng.bit_generator.state,
    }
    ck.save_checkpoint(run_dir, state.model, state.opt, {"torch": torch.get_rng_state()}, meta)


def restore(state: State, run_dir: Path) -> None:
    """Load the checkpoint of ``run_dir`` into ``state``."""
    tensors, side = ck.read_checkpoint(run_dir)
    state.model.load_state_dict(ck.split_prefix(tensors, "model"))
    ck.load_optimizer(state.opt, tensors, side["param_groups"])
    torch.set_rng_state(tensors["rng.torch"])
    state.rng.bit_generator.state = side["numpy_rng"]
    state.step, state.elapsed = int(side["step"]), float(side["elapsed"])


def train_step(state: State, task: MaskTask, batch: Batch, cfg: MaskTaskConfig) -> dict[str, float]:
    """One Adam step at the scheduled learning rate; returns the loss terms."""
    for group in state.opt.param_groups:
        group["lr"] = lr_at(cfg, state.step)
    if state.step < cfg.k_plain_steps:
        cfg = replace(cfg, k_train=1)
    terms = task.loss(state.model, batch, cfg)
    out = optimizer_step(state.model, state.opt, terms, cfg.grad_clip)
    state.step += 1
    return out


def train(
    cfg: MaskTaskConfig, data_dir: Path, run_dir: Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train to ``cfg.steps`` (or until ``run_dir/STOP`` exists); returns a summary."""
    task = task_for(cfg.task)
    state = new_state(cfg, task)
    if resume and (run_dir / ck.SIDECAR).exists():
        restore(state, run_dir)
    bank, val_bank = split_bank(data_dir, cfg.val_images)
    val = task.val_set(val_bank, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    log, scores = Logger(run_dir), {}
    last_ckpt = t_mark = time.time()
    while state.step < cfg.steps and not (run_dir / "STOP").exists():
        terms = train_step(state, task, task.sample(bank, cfg, state.rng), cfg)
        now = time.time()
        state.elapsed, t_mark = state.elapsed + now - t_mark, now
        if state.step % cfg.log_every == 0:
            rounded = {k: round(v, 5) for k, v in terms.items()}
            log({"step": state.step, "elapsed": round(state.elapsed, 1), **rounded})
        validating = state.step % cfg.val_every == 0 or state.step == cfg.steps
        if validating:
            scores = task.validate(state.model, val, cfg)
            log({"step": state.step, **{k: round(v, 4) for k, v in scores.items()}})
        if validating or now - last_ckpt > 60 * cfg.ckpt_minutes:
            save(state, run_dir)
            last_ckpt = t_mark = time.time()
    save(state, run_dir)
    return {"step": state.step, "elapsed": state.elapsed, **scores}


def timed_steps(cfg: MaskTaskConfig, data_dir: Path, n: int) -> float:
    """Mean seconds per training step over ``n`` steps after one warm-up (for sizing)."""
    task = task_for(cfg.task)
    state = new_state(cfg, task)
    bank, _ = split_bank(data_dir, 0)
    train_step(state, task, task.sample(bank, cfg, state.rng), cfg)
    t0 = time.perf_counter()
    for _ in range(n):
        train_step(state, task, task.sample(bank, cfg, state.rng), cfg)
    return (time.perf_counter() - t0) / n


def main(argv: list[str] | None = None) -> int:
    """``python -m app.training.mask_loop``: an alias of ``patina train`` (any task; ``--time N``
    times steps), ``--threads`` defaulting to 1. 0 on success, 2 on a user error."""
    from app.training.train_command import main as train_main

    return train_main(argv, prog="python -m app.training.mask_loop", threads=1)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main(sys.argv[1:]))
