"""``--route auto|full``: region routing for the VDIR restorers (docs/routing.md)."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from app.core.errors import InvalidInputError

ROUTE_CHOICES = ("full", "auto")


def add_route_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--route`` (default: the method's own default, ``full``)."""
    parser.add_argument(
        "--route",
        choices=ROUTE_CHOICES,
        default=None,
        help="VDIR models: 'auto' lets a pathfinder send each 64-px region to the full or "
        "the quick restorer (or leave a noise-free one as it is); 'full' (default) "
        "restores everything with the full model",
    )


def route_param(args: argparse.Namespace, names: Collection[str], params: dict[str, Any]) -> None:
    """Put ``--route`` into ``params`` as the ``route`` parameter; InvalidInputError when
    the method has no such parameter (not a VDIR model)."""
    value = getattr(args, "route", None)
    if value is None:
        return
    if "route" not in names:
        raise InvalidInputError("--route is only used by VDIR models (see 'patina info')")
    params["route"] = value
