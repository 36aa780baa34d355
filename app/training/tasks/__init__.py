"""The training task table: which config class and which loop train each config ``task``.

``patina train CONFIG`` reads the config's ``"task"``, looks it up in :data:`TASKS` and
hands the parsed config to that task's :class:`Loop`:

- the VDIR loop (:mod:`app.training.loop`) trains :data:`app.training.config.TASKS`
  (denoise, deblock, old-photo, denoise-real) from a :class:`TrainConfig`;
- the mask loop (:mod:`app.training.mask_loop`) trains
  :data:`app.training.mask_loop.MASK_TASKS` (inpainting, damage detection, preview
  restorers, super-resolution) from a :class:`MaskTaskConfig`.

A task joins by being listed in its loop's tuple; a new loop by a :class:`Loop` in
:data:`LOOPS`. The task modules themselves stay where they are (``app/training/*_task.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from app.core.errors import InvalidInputError
from app.training import loop as vdir_loop
from app.training import mask_loop
from app.training.config import BaseTrainConfig, TrainConfig, read_config


@dataclass(frozen=True)
class Options:
    """What the command line adds to a config.

    ``device`` is resolved (``cpu``, ``cuda`` or ``mps``); ``init`` is a ``.safetensors``
    file whose weights start the run (ignored when ``resume`` finds a checkpoint).
    """

    data: Path
    out: Path
    resume: bool = False
    init: Path | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class Loop:
    """One training loop: its config class, how to train and build a model, what it supports.

    ``train(cfg, options) -> summary`` (JSON-able dict); ``build(cfg) -> nn.Module`` is the
    untrained model (for ``--check``); ``devices`` are the devices it can train on;
    ``timed(cfg, data_dir, n) -> seconds per step`` is ``None`` where it cannot time steps.
    """

    name: str
    module: str
    config: type[BaseTrainConfig]
    train: Callable[[Any, Options], dict[str, Any]]
    build: Callable[[Any], nn.Module]
    devices: tuple[str, ...]
    takes_init: bool
    timed: Callable[[Any, Path, int], float] | None = None

    def check(self, options: Options) -> None:
        """Raise InvalidInputError when ``options`` ask for what this loop cannot do."""
        if options.device not in self.devices:
            raise InvalidInputError(
                f"the {self.name} loop trains on {' or '.join(self.devices)} only, "
                f"not {options.device} (use --device cpu)"
            )
        if options.init is not None and not self.takes_init:
            raise InvalidInputError(f"--init is not supported by the {self.name} loop")
        if options.init is not None and not options.init.is_file():
            raise InvalidInputError(f"--init weights not found: {options.init}")


def _train_vdir(cfg: TrainConfig, o: Options) -> dict[str, Any]:
    """:func:`app.training.loop.train` with the options."""
    return vdir_loop.train(cfg, o.data, o.out, device=o.device, resume=o.resume, init=o.init)


def _train_mask(cfg: mask_loop.MaskTaskConfig, o: Options) -> dict[str, Any]:
    """:func:`app.training.mask_loop.train` with the options (CPU, no ``--init``)."""
    return mask_loop.train(cfg, o.data, o.out, resume=o.resume)


def _build_vdir(cfg: TrainConfig) -> nn.Module:
    """The VDIR network of ``cfg.arch``."""
    from app.ml.archs.vdir import build

    return build(cfg.arch)


def _build_mask(cfg: mask_loop.MaskTaskConfig) -> nn.Module:
    """The network of ``cfg.task``'s module for ``cfg.arch``."""
    return mask_loop.task_for(cfg.task).build(cfg.arch)


LOOPS = (
    Loop("VDIR", "app.training.loop", TrainConfig, _train_vdir, _build_vdir,
         ("cpu", "cuda", "mps"), takes_init=True),
    Loop("mask", "app.training.mask_loop", mask_loop.MaskTaskConfig, _train_mask, _build_mask,
         ("cpu",), takes_init=False, timed=mask_loop.timed_steps),
)  # fmt: skip
TASKS: dict[str, Loop] = {task: loop for loop in LOOPS for task in loop.config.tasks}


def loop_for(task: object) -> Loop:
    """The loop that trains ``task``; InvalidInputError naming the known tasks otherwise."""
    if not isinstance(task, str) or task not in TASKS:
        raise InvalidInputError(f"unknown training task {task!r} (known: {', '.join(TASKS)})")
    return TASKS[task]


def load(path: str | Path, steps: int | None = None) -> tuple[Loop, Any]:
    """(loop, validated config) of the config file ``path``, its ``steps`` replaced when
    ``steps`` is given; InvalidInputError for an unreadable file, unknown task or keys."""
    data = read_config(path)
    if steps is not None:
        data = {**data, "steps": steps}
    try:
        loop = loop_for(data.get("task"))
        return loop, loop.config.from_dict(data)
    except InvalidInputError as err:
        raise InvalidInputError(f"{path}: {err}") from err
