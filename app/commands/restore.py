"""`patina restore IN -o OUT --task T`: restore one image, keeping its metadata."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.commands import latent as latent_options
from app.commands.common import (
    Subparsers,
    add_command,
    add_device_option,
    add_io_arguments,
    add_param_option,
    add_task_option,
    add_tile_option,
    check_image_output,
    positive_int,
    progress_bar,
    service_params,
)
from app.commands.route import add_route_option, route_param
from app.core import image_io
from app.core.errors import InvalidInputError
from app.core.image_meta import meta_for_size
from app.core.progress import drive
from app.ml.services.base import Service

NAME = "restore"
MASK_TASKS = ("inpaint", "old-photo")


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina restore``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="restore one image (denoise, deblock, upscale, inpaint, old-photo)",
        epilog="The input is never modified; OUT keeps the input's ICC profile, EXIF and "
        "(where the format allows) 16-bit depth. Example: patina restore scan.tif -o "
        "clean.tif --task denoise --sigma 15",
    )
    add_io_arguments(p, "image to restore", "where to write the result (format from the suffix)")
    add_task_option(p, required=True)
    p.add_argument(
        "--method", help="which method of the task (default: the task's default; see 'patina info')"
    )
    p.add_argument(
        "--mask",
        metavar="MASK.png",
        type=Path,
        help="pixels to fill (white = fill), same size as IN; for inpaint/old-photo",
    )
    p.add_argument("--sigma", type=float, help="noise level on the 0..255 scale")
    p.add_argument("--quality", type=int, help="JPEG quality the input was saved at (deblock)")
    p.add_argument("--scale", type=positive_int, help="upscaling factor")
    p.add_argument(
        "--blur",
        type=float,
        help="upscale: Gaussian blur std (px) the photo had before it was made smaller, "
        "for the DL-Net model (0 = sharp; -1 = its own estimate); without --blur the "
        "blind VDIR model estimates it (when installed)",
    )
    p.add_argument(
        "--no-detect",
        action="store_true",
        help="old-photo: do not detect damage, use only --mask",
    )
    p.add_argument("--upscale", type=positive_int, help="old-photo: final upscaling factor")
    add_param_option(p, "any other parameter of the method (repeatable)")
    add_route_option(p)
    add_tile_option(p, "tile size in pixels; smaller uses less memory (default 512)")
    add_device_option(p)
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        default=None,
        help="bits per channel of OUT (default: as the input, if OUT's format allows)",
    )
    p.add_argument(
        "--jpeg-quality",
        metavar="Q",
        type=int,
        default=95,
        help="quality when OUT is a JPEG (default 95)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    latent_options.add_latent_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, restore with a progress bar, save next to nothing else; returns 0."""
    src, dst = Path(args.input), Path(args.output)
    check_image_output(dst, overwrite=args.overwrite, protect=[src])
    if args.mask is not None and args.task not in MASK_TASKS:
        raise InvalidInputError(f"--mask is only used by --task {' and '.join(MASK_TASKS)}")
    if (args.no_detect or args.upscale) and args.task != "old-photo":
        raise InvalidInputError("--no-detect and --upscale are only used by --task old-photo")
    if not 1 <= args.jpeg_quality <= 100:
        raise InvalidInputError(f"--jpeg-quality must be 1..100, got {args.jpeg_quality}")
    args.method = args.method or blind_upscale_method(args)
    early: list[Service] = []  # created while the image is decoded (docs/throughput.md)
    prepare = threading.Thread(target=_create_early, args=(args, early), daemon=True)
    prepare.start()
    try:
        loaded = image_io.load(src)
    finally:
        prepare.join()
    height, width = loaded.pixels.shape[:2]
    mask = image_io.load_mask(args.mask, size=(height, width)) if args.mask else None
    recipe = latent_options.load_recipe(args, (height, width))
    method = args.method or (recipe.method if recipe is not None else None)
    service = (
        early[0] if early and method == args.method else create(args.task, method, args.device)
    )
    given = latent_options.recipe_params(recipe, requested_params(args, service))
    params = service_params(service, given, implied={"scale": service.output_scale()})
    service, params, tile = latent_options.steer(args, service, params, recipe, (height, width))
    start = time.perf_counter()
    with progress_bar(service.info.key) as on_progress:
        work = service.run(loaded.pixels, mask=mask, params=params, tile=tile)
        result = drive(work, on_progress)
    seconds = time.perf_counter() - start
    meta = meta_for_size(loaded.meta, (height, width), result.shape[:2])
    image_io.save(
        dst,
        result,
        meta,
        bit_depth=args.bit_depth,
        quality=args.jpeg_quality,
        overwrite=args.overwrite,
        protect=(src,),
    )
    report(src, dst, service, result, seconds)
    return 0


def blind_upscale_method(args: argparse.Namespace) -> str | None:
    """``"vdir"`` (blind VDIR-SR) for ``--task upscale`` given neither ``--method`` nor
    ``--blur`` nor a recipe, when that model is installed; else None (the task's default:
    DL-Net, told the blur, 0 unless ``--blur``)."""
    if args.task != "upscale" or args.blur is not None or getattr(args, "recipe", None):
        return None
    from app.ml import registry

    methods = {entry.method for entry in registry.list_models("upscale")}
    return "vdir" if "vdir" in methods else None


def _create_early(args: argparse.Namespace, out: list[Service]) -> None:
    """Append the service ``--task/--method`` names to ``out`` (importing torch and the
    model code, ~2 s, on a thread while the main thread decodes the image); on any error
    append nothing, and :func:`run` creates it again and reports the error."""
    try:
        out.append(create(args.task, args.method, args.device))
    except Exception:  # noqa: BLE001 - reported by the second attempt on the main thread
        return


def create(task: str, method: str | None, device: str) -> Service:
    """The registry's service for ``task``/``method`` on ``device`` (imported lazily: torch)."""
    from app.ml import registry

    if task == "old-photo" and method in (None, "pipeline"):
        return registry.create_old_photo_service(device)
    return registry.create_service(task, method, device=device)


def requested_params(args: argparse.Namespace, service: Service) -> dict[str, Any]:
    """``--sigma/--quality/--scale/--blur`` and every ``--param NAME=VALUE``, by parameter name.

    ``--scale`` sets ``upscale`` for services that call their factor that (old-photo).
    """
    names = {p.name for p in service.info.params}
    params: dict[str, Any] = {}
    for name in ("sigma", "quality", "scale", "blur"):
        value = getattr(args, name)
        if name == "scale" and "scale" not in names and "upscale" in names:
            name = "upscale"
        if value is not None:
            params[name] = value
    if getattr(args, "no_detect", False):
        params["detect"] = False
    if getattr(args, "upscale", None):
        params["upscale"] = args.upscale
    route_param(args, names, params)
    for name, value in args.param:
        if name in params:
            raise InvalidInputError(f"parameter {name} is given twice")
        params[name] = value
    return params


def report(src: Path, dst: Path, service: Service, result: np.ndarray, seconds: float) -> None:
    """One line on stdout: what was written, by which method, how big, how long."""
    h, w = result.shape[:2]
    note = str(getattr(service, "run_note", "") or "")  # e.g. the blur an upscaler estimated
    print(
        f"{src} -> {dst}: {service.info.key} on {service.device}, {w}x{h}, {seconds:.2f} s"
        + (f", {note}" if note else ""),
        file=sys.stdout,
    )
