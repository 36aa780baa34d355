"""The trainer's command line: ``main(argv) -> exit code`` is what ``patina train``,
``python -m app.training`` and ``python -m app.training.mask_loop`` call.

Any config in ``configs/`` is accepted: its ``"task"`` picks the loop through the task
table :mod:`app.training.tasks`. ``--check`` only validates the config and the options
(and builds the untrained model) and prints one line saying what would be trained.
Exit codes: 0 success, 2 a user error (one line ``PROG: error: ...`` on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from app.core.errors import InvalidInputError, PatinaError
from app.training import tasks

DEFAULT_DATA = "../shared/data/train"
PROG = "patina train"


def parser(prog: str = PROG, threads: int = 0) -> argparse.ArgumentParser:
    """Argument parser of the trainer; ``threads`` is the ``--threads`` default."""
    loops = "; ".join(f"{loop.name} loop: {', '.join(loop.config.tasks)}" for loop in tasks.LOOPS)
    p = argparse.ArgumentParser(
        prog=prog,
        description=f"Train a model from a config file; its task picks the loop ({loops}).",
    )
    p.add_argument("config", help="JSON config, e.g. configs/vdir_denoise_fast.json")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of clean training images")
    p.add_argument("--out", default=None, help="run folder (default runs/<config name>)")
    p.add_argument("--steps", type=int, default=None, help="override the config's steps")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--init", default=None, help="start from these .safetensors (VDIR loop)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (mask loop: cpu)")
    p.add_argument("--threads", type=int, default=threads, help="CPU threads (0: torch default)")
    p.add_argument("--time", type=int, default=0, metavar="N", help="only time N steps (mask)")
    p.add_argument("--check", action="store_true", help="only validate; print what would train")
    return p


def main(argv: list[str] | None = None, *, prog: str = PROG, threads: int = 0) -> int:
    """Parse ``argv``, then check, time or train; prints one line (the summary as JSON when
    training). 0 on success, 2 on a user error."""
    args = parser(prog, threads).parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        loop, cfg = tasks.load(args.config, args.steps)
        options = make_options(args, loop)
        loop.check(options)
        print(run(args, loop, cfg, options, f"{prog} {' '.join(argv or [])}"))
    except PatinaError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0


def make_options(args: argparse.Namespace, loop: tasks.Loop) -> tasks.Options:
    """The loop options of the parsed command line; ``--device auto`` resolves to a device
    the loop supports (InvalidInputError for an unavailable one)."""
    from app.ml.loading import pick_device

    auto_cpu = args.device == "auto" and loop.devices == ("cpu",)
    device = "cpu" if auto_cpu else pick_device(args.device)[0]
    return tasks.Options(
        data=Path(args.data),
        out=Path(args.out or f"runs/{Path(args.config).stem}"),
        resume=args.resume,
        init=Path(args.init) if args.init else None,
        device=device,
    )


def run(
    args: argparse.Namespace, loop: tasks.Loop, cfg: Any, options: tasks.Options, command: str
) -> str:
    """The line to print: the ``--check`` description, the ``--time`` result, or the summary
    of the training run (``command`` is recorded in ``run_info.json``)."""
    if args.time and loop.timed is None:
        raise InvalidInputError(f"--time is not supported by the {loop.name} loop")
    if args.check:
        return describe(args.config, loop, cfg, options)
    if loop.timed is not None and args.time:
        return json.dumps({"s_per_step": round(loop.timed(cfg, options.data, args.time), 3)})
    write_run_info(options.out, command, options.device, str(options.data))
    return json.dumps(loop.train(cfg, options))


def describe(path: str, loop: tasks.Loop, cfg: Any, options: tasks.Options) -> str:
    """One line: the config, its task, the loop, the run's size and the model's parameters."""
    params = sum(p.numel() for p in loop.build(cfg).parameters())
    return (
        f"{path}: task {cfg.task} -> {loop.name} loop ({loop.module}); {cfg.steps} steps, "
        f"batch {cfg.batch}, patch {cfg.patch}; {params:,} parameters; "
        f"device {options.device}; run folder {options.out}"
    )


def write_run_info(out: Path, command: str, device: str, data: str) -> None:
    """Record how the run was started (for the model card) in ``out/run_info.json``,
    keeping the first command when a run is resumed."""
    path = out / "run_info.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    info.setdefault("command", command)
    if info["command"] != command:
        info.setdefault("later_commands", []).append(command)
    threads = torch.get_num_threads()
    info.update(device=f"{device} ({threads} torch threads)", data=data, torch=torch.__version__)
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
