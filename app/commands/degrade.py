"""`patina degrade IN -o OUT`: synthesise noise, JPEG, blur, downscaling, damage, grain, fading."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.commands.common import (
    Subparsers,
    add_command,
    add_io_arguments,
    check_distinct,
    check_image_output,
    check_output,
    write_json,
)
from app.core import image_io
from app.core.degradations import DegradationSpec, degrade
from app.core.image_meta import meta_for_size

NAME = "degrade"
# option name -> (DegradationSpec field, type, metavar, help)
SPEC_OPTIONS: dict[str, tuple[str, type, str, str]] = {
    "--sigma": ("sigma", float, "S", "Gaussian noise std on the 0..255 scale"),
    "--poisson": ("poisson", float, "A", "signal-dependent (shot) noise gain, 0..0.1"),
    "--jpeg": ("jpeg", int, "Q", "JPEG compression at quality 1..100"),
    "--blur": ("blur", float, "W", "Gaussian blur std in pixels"),
    "--scale": ("scale", int, "N", "downscale by an integer factor"),
    "--scratches": ("scratches", float, "D", "scratch density 0..1"),
    "--dust": ("dust", float, "D", "dust and hair density 0..1"),
    "--tears": ("tears", float, "D", "torn corners, 0..1"),
    "--grain": ("grain", float, "G", "film grain strength 0..1"),
    "--grain-size": ("grain_size", float, "PX", "film grain clump size in pixels (0.8)"),
    "--camera": ("camera", str, "ISO", "camera-pipeline noise at a preset, iso100..iso12800"),
    "--fade": ("fade", float, "F", "fading and yellowing 0..1"),
    "--seed": ("seed", int, "N", "random seed (same seed, same result)"),
}


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina degrade``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="make a degraded copy of an image (for testing restoration)",
        epilog="Options override the same names in --spec. The image is rounded to 8 bits "
        "and written as 8-bit by default (the evaluation protocol). Example: patina degrade "
        "photo.png -o noisy.png --sigma 25 --scratches 0.5 --mask-out damage.png",
    )
    add_io_arguments(p, "clean image", "where to write the degraded image")
    for option, (field, kind, metavar, text) in SPEC_OPTIONS.items():
        p.add_argument(option, dest=f"spec_{field}", type=kind, metavar=metavar, help=text)
    p.add_argument(
        "--spec",
        default="",
        metavar='"sigma=25,..."',
        help="a whole degradation spec, name=value separated by commas "
        f"({', '.join(DegradationSpec.names())})",
    )
    p.add_argument(
        "--mask-out",
        metavar="MASK.png",
        type=Path,
        help="also write the damage mask (white = damaged pixels)",
    )
    p.add_argument(
        "--spec-out", metavar="SPEC.json", type=Path, help="also write the spec used, as JSON"
    )
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        default=8,
        help="bits per channel of OUT (default 8)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.set_defaults(func=run)


def build_spec(args: argparse.Namespace) -> DegradationSpec:
    """``--spec`` overlaid with the individual options; InvalidInputError when invalid."""
    spec = DegradationSpec.parse(args.spec)
    given: dict[str, Any] = {}
    for field, *_ in SPEC_OPTIONS.values():
        value = getattr(args, f"spec_{field}")
        if value is not None:
            given[field] = value
    spec = dataclasses.replace(spec, **given)
    spec.validate()
    return spec


def run(args: argparse.Namespace) -> int:
    """Check every output first, then degrade and write image, mask and spec; returns 0."""
    src, dst = Path(args.input), Path(args.output)
    spec = build_spec(args)
    check_distinct([src, dst, args.mask_out, args.spec_out])
    check_image_output(dst, overwrite=args.overwrite, protect=[src])
    if args.mask_out is not None:
        check_image_output(args.mask_out, overwrite=args.overwrite, protect=[src])
    if args.spec_out is not None:
        check_output(args.spec_out, overwrite=args.overwrite, protect=[src])
    loaded = image_io.load(src)
    result = degrade(loaded.pixels, spec)
    meta = meta_for_size(loaded.meta, loaded.pixels.shape[:2], result.image.shape[:2])
    image_io.save(
        dst, result.image, meta, bit_depth=args.bit_depth, overwrite=args.overwrite, protect=(src,)
    )
    if args.mask_out is not None:
        image_io.save_mask(args.mask_out, result.mask)
    if args.spec_out is not None:
        write_json(args.spec_out, spec.to_dict())
    damaged = float(result.mask.mean()) * 100.0
    print(f"{src} -> {dst}: {spec_text(spec)}; {damaged:.2f}% of pixels damaged", file=sys.stdout)
    return 0


def spec_text(spec: DegradationSpec) -> str:
    """``name=value`` of the parameters that differ from the defaults (``identity`` if none)."""
    default = DegradationSpec()
    names = [n for n in spec.names() if getattr(spec, n) != getattr(default, n)]
    changed = [f"{n}={getattr(spec, n)}" for n in names]
    return ",".join(changed) or "identity"
