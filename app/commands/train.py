"""`patina train CONFIG [...]`: forwards to the trainer,
``app.training.train_command.main(argv)``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.commands.common import Subparsers, add_command

NAME = "train"


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina train``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="train a model from a config file (any config in configs/; forwards to the trainer)",
        epilog="The config's task picks the loop (VDIR or mask; app.training.tasks). "
        "Everything after CONFIG goes to the trainer unchanged; "
        "'patina train CONFIG --help' shows the trainer's own options "
        "(--data, --out, --steps, --resume, --init, --device, --threads, --time, --check); "
        "'patina train CONFIG --check' only validates the config and says what it would train.",
    )
    p.add_argument("config", metavar="CONFIG", help="training config file (JSON)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options passed to the trainer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Call the trainer with ``[CONFIG, *rest]``; returns its exit code."""
    from app.training.train_command import main

    try:
        return int(main([args.config, *args.rest]) or 0)
    except SystemExit as done:  # the trainer's argparse: --help or a usage error
        return done.code if isinstance(done.code, int) else 1
