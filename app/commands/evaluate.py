"""`patina eval`: degrade every image of a folder, restore it, and report PSNR/SSIM and speed.

A command-line adapter: the protocol, scoring and report are :mod:`app.evaluation.protocol`;
this module parses options and prints the table.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from app.commands.common import (
    Subparsers,
    add_command,
    add_device_option,
    add_json_output_options,
    add_param_option,
    add_task_option,
    add_tile_option,
    check_output,
    positive_int,
    progress_bar,
    write_json,
)
from app.core.degradations import DegradationSpec
from app.core.errors import InvalidInputError
from app.core.progress import Progress
from app.evaluation.images import list_images
from app.evaluation.protocol import (
    EvalSetup,
    ImageScore,
    eval_report,
    evaluate,
    parse_holes,
    summarize,
)
from app.ml.services.base import Service

NAME = "eval"
COLUMNS = ("psnr", "ssim", "psnr_y", "ssim_y", "psnr_mask", "input_psnr")


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina eval``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="measure a method's PSNR/SSIM and speed on a folder of clean images",
        epilog="Image i is degraded with seed (seed in --degrade, default 0) + i, so every "
        "method sees the same inputs. 8-bit protocol unless --float. Speed is in ms per "
        "megapixel of output. Example: patina eval --task denoise --data CBSD68 "
        '--degrade "sigma=25" --json out.json',
    )
    add_task_option(p, required=True)
    p.add_argument("--method", help="method to measure (default: the task's default)")
    p.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        required=True,
        help="folder of clean images (png, jpg, bmp, tif), taken in name order",
    )
    p.add_argument(
        "--degrade",
        metavar='"sigma=25"',
        default="",
        help="degradation spec, e.g. sigma=25 | jpeg=10 | scale=4 | scratches=0.5 | "
        "camera=iso3200 (camera pipeline noise) | grain=0.4,grain_size=1.5 (film grain)",
    )
    p.add_argument(
        "--holes",
        metavar="SIZExCOUNT",
        help="inpaint: random square holes, e.g. 32x8 (else the spec's damage)",
    )
    p.add_argument("--limit", metavar="N", type=positive_int, help="use only the first N images")
    p.add_argument(
        "--noisy",
        metavar="DIR",
        type=Path,
        help="real pairs: score the images of DIR (named like the clean ones in --data) "
        "instead of synthesising --degrade",
    )
    add_param_option(p, "set a parameter of the method (repeatable)")
    add_tile_option(p, "tile size in pixels (default 512)")
    add_device_option(p)
    p.add_argument(
        "--float",
        dest="float_mode",
        action="store_true",
        help="unclipped, unrounded float protocol (to compare with papers)",
    )
    add_json_output_options(p, "write the full report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, printing a row per image and the means; optionally write JSON; returns 0."""
    if args.json is not None:
        check_output(args.json, overwrite=args.overwrite)
    setup = EvalSetup(
        task=args.task,
        spec=DegradationSpec.parse(args.degrade),
        holes=parse_holes(args.holes) if args.holes else None,
        float_mode=args.float_mode,
        tile=args.tile,
        params=dict(args.param),
        noisy=args.noisy,
    )
    if args.noisy is not None and args.degrade:
        raise InvalidInputError("give either --noisy (real pairs) or --degrade, not both")
    paths = list_images(args.data, args.limit)
    from app.ml import registry

    service = registry.create_service(args.task, args.method, device=args.device)
    print(
        f"{service.info.key} on {service.device}, {len(paths)} images, "
        f"degrade {args.degrade or 'none'}"
        + (f", holes {args.holes}" if args.holes else "")
        + (f", real pairs from {args.noisy}" if args.noisy else "")
    )
    rows = run_rows(service, paths, setup)
    print_summary(rows)
    if args.json is not None:
        write_json(args.json, eval_report(service, args.degrade, setup, rows))
        print(f"wrote {args.json}")
    return 0


def run_rows(service: Service, paths: Sequence[Path], setup: EvalSetup) -> list[ImageScore]:
    """Evaluate every path, printing each row as it finishes (progress bar: images)."""
    rows: list[ImageScore] = []
    with progress_bar("eval", unit="image") as on_progress:
        on_progress(Progress(0, len(paths)))
        for row in evaluate(service, paths, setup):
            if not rows:
                print(header(row))
            rows.append(row)
            print(format_row(row))
            sys.stdout.flush()
            on_progress(Progress(len(rows), len(paths)))
    return rows


def header(row: ImageScore) -> str:
    """Column titles for the scores present in ``row``."""
    names = [c for c in COLUMNS if c in row.scores]
    return f"{'image':<24} {'size':>11} " + " ".join(f"{n:>10}" for n in names) + f" {'ms':>9}"


def format_row(row: ImageScore) -> str:
    """One table line: name, size, scores, milliseconds."""
    size = f"{row.width}x{row.height}"
    cells = " ".join(_cell(c, row.scores[c]) for c in COLUMNS if c in row.scores)
    return f"{row.name[:24]:<24} {size:>11} {cells} {row.ms:>9.1f}"


def _cell(name: str, value: float) -> str:
    if not math.isfinite(value):
        return f"{value:>10}"
    return f"{value:>10.4f}" if name.startswith("ssim") else f"{value:>10.2f}"


def print_summary(rows: Sequence[ImageScore]) -> None:
    """The mean of each score and ms per megapixel."""
    summary = summarize(rows)
    means = ", ".join(f"{k} {_cell(k, v).strip()}" for k, v in summary["mean"].items())
    print(f"mean over {len(rows)} images: {means}; {summary['ms_per_mp']:.1f} ms/MP")
