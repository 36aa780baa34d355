"""`patina [FILE ...]` / `patina gui [FILE ...]`: open the window."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from app.commands.common import Subparsers, add_command
from app.core.errors import InvalidInputError, PatinaError

NAME = "gui"


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina gui`` (also what ``patina`` without a subcommand runs)."""
    p = add_command(subparsers, NAME, parents, help="open the window (the default command)")
    p.add_argument("files", metavar="FILE", nargs="*", type=Path, help="images to open")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the files exist, then hand over to the window; returns its exit code."""
    missing = [str(f) for f in args.files if not f.exists()]
    if missing:
        raise InvalidInputError(f"no such file: {', '.join(missing)}")
    try:
        from app.ui.app import run_gui
    except ImportError as err:
        raise WindowUnavailableError(
            f"the window is not available in this installation ({err})"
        ) from err
    return int(run_gui([str(f) for f in args.files]))


class WindowUnavailableError(PatinaError):
    """The Qt window could not be imported (Qt missing, or not built yet)."""
