"""`patina bench`: milliseconds per megapixel of every available service on this machine."""

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
from app.ml.evaluate import BenchResult, bench_service

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
    print(f"{'service':<28} {'MP':>7} {'ms':>10} {'ms/MP':>10}  device")
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
                print(format_row(result))
                sys.stdout.flush()
    if args.json is not None:
        write_json(args.json, report(results, args))
        print(f"wrote {args.json}")
    return 0


def format_row(result: BenchResult) -> str:
    """One table line; a skipped size says ``skipped: <reason>``."""
    head = f"{result.key:<28} {result.megapixels:>7.2f}"
    if result.skipped is not None or result.ms is None:
        return f"{head} {'':>10} {'':>10}  {result.device}  skipped: {result.skipped}"
    return f"{head} {result.ms:>10.1f} {result.ms_per_mp:>10.1f}  {result.device}"


def report(results: Sequence[BenchResult], args: argparse.Namespace) -> dict[str, Any]:
    """The JSON document: sizes asked for, tile, and one row per service and size."""
    return {
        "sizes": list(args.sizes),
        "tile": args.tile,
        "device": args.device,
        "results": [r.as_dict() for r in results],
    }
