"""`patina info`: version, compute device and the list of services."""

from __future__ import annotations

import argparse
import platform
from collections.abc import Sequence

from app import __version__
from app.commands.common import Subparsers, add_command, add_device_option

NAME = "info"


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina info``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="show the version, the compute device and the available methods",
    )
    add_device_option(p)
    p.set_defaults(func=run)


def describe_device(device: str = "auto") -> str:
    """``"cuda (NVIDIA ...)"``, ``"mps"`` or ``"cpu (N threads)"`` for ``device`` (torch lazily).

    Raises InvalidInputError when ``device`` is not available here.
    """
    import torch

    from app.ml.loading import pick_device

    name, dtype = pick_device(device)
    if name == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)}, {str(dtype).removeprefix('torch.')})"
    if name == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return name


def run(args: argparse.Namespace) -> int:
    """Print version, device and one line per service; returns 0."""
    import torch

    from app.ml import registry

    print(f"patina {__version__} (Python {platform.python_version()}, torch {torch.__version__})")
    print(f"device: {describe_device(args.device)}")
    print("services (* = default of its task):")
    for info in registry.list_services():
        mark = "*" if registry.default_method(info.task) == info.method else " "
        kind = "learned" if info.learned else "classical"
        print(f" {mark} {info.key:<28} {kind:<9}  {info.title}")
    return 0
