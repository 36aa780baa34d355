"""Command line of the trainer; ``main(argv) -> exit code`` is also what ``patina train`` calls."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from app.core.errors import PatinaError
from app.training.config import TrainConfig
from app.training.loop import train

DEFAULT_DATA = "../shared/data/train"


def parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m app.training``."""
    p = argparse.ArgumentParser(prog="patina train", description="Train a VDIR model.")
    p.add_argument("config", help="JSON config, e.g. configs/vdir_denoise_fast.json")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of clean training images")
    p.add_argument("--out", default=None, help="run folder (default runs/<config name>)")
    p.add_argument("--steps", type=int, default=None, help="override the config's steps")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--init", default=None, help="start from these .safetensors weights")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, train, print the summary as JSON; 0 on success, 2 on a user error."""
    args = parser().parse_args(argv)
    from app.ml.loading import pick_device

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        cfg = TrainConfig.load(args.config).with_overrides(steps=args.steps)
        out = Path(args.out or f"runs/{Path(args.config).stem}")
        device, _ = pick_device(args.device)
        init = Path(args.init) if args.init else None
        write_run_info(out, list(argv or []), device, args.data)
        summary = train(cfg, Path(args.data), out, device=device, resume=args.resume, init=init)
    except PatinaError as err:
        print(f"error: {err}")
        return 2
    print(json.dumps(summary))
    return 0


def write_run_info(out: Path, argv: list[str], device: str, data: str) -> None:
    """Record how the run was started (for the model card) in ``out/run_info.json``,
    keeping the first command when a run is resumed."""
    path = out / "run_info.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    command = "python -m app.training " + " ".join(argv)
    info.setdefault("command", command)
    if info["command"] != command:
        info.setdefault("later_commands", []).append(command)
    threads = torch.get_num_threads()
    info.update(device=f"{device} ({threads} torch threads)", data=data, torch=torch.__version__)
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
