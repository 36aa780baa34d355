"""`patina latent IN --out latents.npz`, and the latent options of `patina restore`.

``patina latent`` dumps a VDIR model's code of an image for research: arrays ``mean`` and
``std`` (float32 (ceil(H/4), ceil(W/4), 4)), the EST estimate ``sigma`` (0..255, denoise
and old-photo models) or ``quality`` (JPEG quality, deblock) as a 0-d array, and its
per-cell map ``sigma_map`` / ``quality_map`` ((h, w)).

``patina restore`` gains ``--latent-strength X`` (1 neutral; more cleans more, less keeps
more), ``--latent-from OTHER.png`` (use another image's code), ``--latent-map MAP.png``
(a painted strength map: 0.5 grey neutral, white cleans more, black keeps more) and
``--recipe SIDECAR.json`` (reproduce a result exported from the window); all only for
VDIR methods (:mod:`app.ml.steering`).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.commands.common import (
    Subparsers,
    add_command,
    add_device_option,
    add_task_option,
    add_tile_option,
    check_output,
)
from app.core import image_io
from app.core.atomic import atomic_write
from app.core.errors import InvalidInputError
from app.ml.recipe import RestoreRecipe, read_sidecar
from app.ml.services.base import Service
from app.ml.steering.edit import LatentEdit, LatentRef, Transplant, load_strength_map

NAME = "latent"
DEFAULT_TILE = 512
LATENT_OPTIONS = "--latent-strength, --latent-from, --latent-map and --recipe"


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina latent``."""
    p = add_command(
        subparsers,
        NAME,
        parents,
        help="save a VDIR model's latent code of an image (mean, std, EST) as .npz",
        epilog="Example: patina latent noisy.png --out latents.npz --task denoise. "
        "Load with numpy.load; arrays are at 1/4 of the image's resolution.",
    )
    p.add_argument("input", metavar="IN", type=Path, help="image to encode")
    p.add_argument("--out", metavar="LATENTS.npz", type=Path, required=True, help="where to write")
    add_task_option(p, required=False)
    p.add_argument("--method", help="a VDIR method of the task (default: the task's default)")
    add_tile_option(p, "tile size in pixels (default 512)", default=DEFAULT_TILE)
    add_device_option(p)
    p.add_argument("--overwrite", action="store_true", help="replace the .npz if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Encode IN, write the arrays; one line on stdout. Returns 0."""
    src, dst = Path(args.input), Path(args.out)
    if dst.suffix.lower() != ".npz":
        raise InvalidInputError(f"cannot write {dst.name}: the name must end in .npz")
    check_output(dst, overwrite=args.overwrite, protect=[src])
    pixels = image_io.load(src).pixels
    service = _create(args.task or "denoise", args.method, args.device)
    require_steerable(service, "patina latent")
    from app.ml.steering import est_key, estimate_map

    mean, std = service.encode_with_std(pixels, args.tile)  # type: ignore[attr-defined]
    key = est_key(service)  # type: ignore[arg-type]
    value = service.estimate(mean)[key]  # type: ignore[attr-defined]
    arrays = {"mean": mean, "std": std, key: np.float32(value),
              f"{key}_map": estimate_map(service, mean)}  # type: ignore[arg-type]  # fmt: skip
    _save_npz(dst, arrays, args.overwrite)
    h, w = mean.shape[:2]
    print(f"{src} -> {dst}: {service.info.key}, latent {w}x{h}x{mean.shape[2]}, {key} {value:.1f}")
    return 0


def _save_npz(path: Path, arrays: dict[str, np.ndarray], overwrite: bool) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]

    def write(handle: IO[bytes]) -> None:
        handle.write(buffer.getvalue())

    atomic_write(path, write, overwrite)


def _create(task: str, method: str | None, device: str) -> Service:
    from app.ml import registry

    return registry.create_service(task, method, device=device)


def require_steerable(service: Service, what: str) -> None:
    """InvalidInputError unless ``service`` is a VDIR-family service with a latent."""
    from app.ml.steering import is_steerable

    if not is_steerable(service):
        raise InvalidInputError(
            f"{what} needs a VDIR method (a model with a latent code); "
            f"{service.info.key} has none (see 'patina info' for the vdir methods)"
        )


# ------------------------------------------------------------- options of `restore`


def add_latent_options(parser: argparse.ArgumentParser) -> None:
    """The latent steering options of ``patina restore`` (VDIR methods only)."""
    group = parser.add_argument_group("latent steering (VDIR methods only)")
    group.add_argument("--latent-strength", metavar="X", type=float,
                       help="1 = neutral (the image's own code); above 1 cleans more, "
                            "below keeps more texture and grain (0..3)")  # fmt: skip
    group.add_argument("--latent-from", metavar="OTHER.png", type=Path,
                       help="restore with the latent code of another image")  # fmt: skip
    group.add_argument("--latent-map", metavar="MAP.png", type=Path,
                       help="painted strength map, same size as IN: 50%% grey neutral, "
                            "white cleans more, black keeps more")  # fmt: skip
    group.add_argument("--recipe", metavar="SIDECAR.json", type=Path,
                       help="reproduce a result exported from the window "
                            "(its .recipe.json sidecar)")  # fmt: skip


def load_recipe(args: argparse.Namespace, size: tuple[int, int]) -> RestoreRecipe | None:
    """The ``--recipe`` sidecar (its task must be ``--task``), or None."""
    if getattr(args, "recipe", None) is None:
        return None
    recipe = read_sidecar(args.recipe, size)
    if recipe.task != args.task:
        raise InvalidInputError(f"the recipe is for --task {recipe.task}, not {args.task}")
    return recipe


def recipe_params(recipe: RestoreRecipe | None, given: dict[str, Any]) -> dict[str, Any]:
    """The recipe's parameters overlaid with those given on the command line."""
    return {**(recipe.params if recipe is not None else {}), **given}


def steer(
    args: argparse.Namespace,
    service: Service,
    params: dict[str, Any],
    recipe: RestoreRecipe | None,
    size: tuple[int, int],
) -> tuple[Service, dict[str, Any], int]:
    """Wrap ``service`` in a SteeredService when a latent option or recipe asks for it.

    Returns (service, params, tile). InvalidInputError when the method has no latent.
    """
    tile = recipe.tile if recipe is not None and args.tile == DEFAULT_TILE else args.tile
    wanted = (args.latent_strength is not None, args.latent_from, args.latent_map)
    if not any(wanted) and (recipe is None or recipe.latent is None):
        return service, params, tile
    require_steerable(service, LATENT_OPTIONS)
    from app.ml import registry

    edit = (recipe.latent if recipe is not None else None) or LatentEdit()
    smap = recipe.strength_map if recipe is not None else None
    if args.latent_strength is not None:
        edit = replace(edit, strength=args.latent_strength)
        params = {**params, "latent_strength": args.latent_strength}
    if args.latent_from is not None:
        ref = LatentRef("image", path=str(Path(args.latent_from).resolve()))
        edit = replace(edit, transplant=Transplant(ref))
    if args.latent_map is not None:
        smap = load_strength_map(args.latent_map, size)
        edit = replace(edit, strength_map=str(args.latent_map))
    steered = registry.create_steered_service(service, edit, smap)
    return steered, steered.resolve_params(params), tile
