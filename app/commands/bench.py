"""`patina bench`: milliseconds per megapixel of every available service on this machine.

A command-line adapter over :mod:`app.evaluation.bench` (and :mod:`app.evaluation.e2e` for
``--e2e``): it picks the services, prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from app.commands.common import (
    Subparsers,
    add_command,
    add_device_option,
    add_json_output_options,
    add_task_option,
    add_tile_option,
    check_output,
    progress_bar,
    write_json,
)
from app.core.errors import InvalidInputError
from app.evaluation.bench import BenchResult, bench_service

NAME = "bench"


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina bench``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="time every service on synthetic 1 MP and 12 MP images",
        epilog="Sizes are megapixels of output (an upscaler's input is smaller by scale^2). "
        "A size estimated to take longer than --max-seconds is skipped as slow.",
    )
    add_task_option(p, required=False)
    p.add_argument("--method", help="only this method (needs --task)")
    p.add_argument(
        "--sizes",
        type=parse_sizes,
        default=(1.0, 12.0),
        metavar="1,12",
        help="comma-separated sizes in megapixels (default 1,12)",
    )
    add_tile_option(p, "tile size in pixels (default 512)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        metavar="S",
        help="skip a size estimated to take longer than this (default 60)",
    )
    p.add_argument(
        "--e2e",
        action="store_true",
        help="also time a whole 'patina restore' process (start, imports, read, model, "
        "write) on a generated image of each size",
    )
    add_device_option(p)
    add_json_output_options(p, "write the results as JSON")
    p.set_defaults(func=run)


def parse_sizes(text: str) -> tuple[float, ...]:
    """argparse type: ``"1,12"`` -> (1.0, 12.0); every size positive."""
    try:
        sizes = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1,12, got {text!r}") from None
    if not sizes or any(not 0 < s <= 200 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be megapixels in (0, 200], got {text!r}")
    return sizes


def run(args: argparse.Namespace) -> int:
    """Time each selected service at each size; print a table and optionally JSON."""
    if args.method and not args.task:
        raise InvalidInputError("--method needs --task")
    if args.json is not None:
        check_output(args.json, overwrite=args.overwrite)
    from app.ml import registry

    infos = [i for i in registry.list_services(args.task) if args.method in (None, i.method)]
    if not infos:
        raise InvalidInputError(f"no service {args.task}/{args.method}; see 'patina info'")
    results: list[BenchResult] = []
    e2e: dict[int, float] = {}  # index in results -> whole-process seconds
    extra = f" {'e2e s':>8}" if args.e2e else ""
    print(f"{'service':<28} {'MP':>7} {'ms':>10} {'ms/MP':>10}{extra}  device")
    for info in infos:
        service = registry.create_service(info.task, info.method, device=args.device)
        with progress_bar(info.key) as on_progress:
            for result in bench_service(
                service,
                args.sizes,
                tile=args.tile,
                max_seconds=args.max_seconds,
                on_progress=on_progress,
            ):
                results.append(result)
                if args.e2e and result.ms is not None:
                    from app.evaluation.e2e import e2e_seconds

                    e2e[len(results) - 1] = e2e_seconds(
                        service, result.megapixels, args.device, args.tile
                    )
                print(format_row(result, e2e.get(len(results) - 1), args.e2e))
                sys.stdout.flush()
    if args.json is not None:
        write_json(args.json, report(results, args, e2e))
        print(f"wrote {args.json}")
    return 0


def format_row(result: BenchResult, e2e_s: float | None = None, e2e: bool = False) -> str:
    """One table line; a skipped size says ``skipped: <reason>``; with ``e2e`` a column
    of whole-process seconds."""
    head = f"{result.key:<28} {result.megapixels:>7.2f}"
    extra = (f" {e2e_s:>8.2f}" if e2e_s is not None else f" {'':>8}") if e2e else ""
    if result.skipped is not None or result.ms is None:
        return f"{head} {'':>10} {'':>10}{extra}  {result.device}  skipped: {result.skipped}"
    return f"{head} {result.ms:>10.1f} {result.ms_per_mp:>10.1f}{extra}  {result.device}"


def report(
    results: Sequence[BenchResult], args: argparse.Namespace, e2e: dict[int, float] | None = None
) -> dict[str, Any]:
    """The JSON document: sizes asked for, tile, and one row per service and size (with
    ``e2e_s``, the whole-process seconds, under ``--e2e``)."""
    rows = [r.as_dict() for r in results]
    if getattr(args, "e2e", False):
        for i, row in enumerate(rows):
            row["e2e_s"] = None if e2e is None or i not in e2e else round(e2e[i], 3)
    return {"sizes": list(args.sizes), "tile": args.tile, "device": args.device, "results": rows}
