"""Recipe sidecars: the JSON written next to an exported result so it can be reproduced.

``photo-restored.png`` gets ``photo-restored.recipe.json`` (and, when a strength map was
painted, ``photo-restored.latent-map.png``, 16-bit). ``patina restore IN -o OUT --task T
--recipe photo-restored.recipe.json`` runs the same service with the same parameters and
latent edit on the same input and writes the same pixels.

Format (``"format": "patina-recipe"``, ``"version": 1``): ``task``, ``method``, ``params``
(service parameters), ``latent`` (a :class:`~app.ml.steering.edit.LatentEdit` dict or
null), ``strength_map`` (file name relative to the sidecar, or null), ``tile``,
``input`` (the source image path, or null), ``output``, ``command`` (the command line
that reproduces it), ``history`` (the document's recipe entries, for provenance).
Torch-free.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.core.atomic import atomic_write
from app.core.errors import InvalidInputError
from app.ml.steering.edit import LatentEdit, load_strength_map, save_strength_map

FORMAT = "patina-recipe"
VERSION = 1
SIDECAR_SUFFIX = ".recipe.json"
MAP_SUFFIX = ".latent-map.png"


@dataclass
class RestoreRecipe:
    """One restoration of one image, reproducibly: service, parameters, latent edit,
    strength map (the export sidecar; a batch job's settings are
    :class:`app.batch.recipe.Recipe`)."""

    task: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    latent: LatentEdit | None = None
    strength_map: np.ndarray | None = None
    tile: int = 512
    input: str | None = None
    output: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def sidecar_path(output: Path | str) -> Path:
    """``photo-restored.png`` -> ``photo-restored.recipe.json`` (same folder)."""
    output = Path(output)
    return output.with_name(output.stem + SIDECAR_SUFFIX)


def command_line(recipe: RestoreRecipe, sidecar: Path) -> str:
    """The ``patina restore`` command that reproduces ``recipe`` from its sidecar."""
    args = ["patina", "restore", recipe.input or "INPUT", "-o", recipe.output or "OUTPUT"]
    args += ["--task", recipe.task, "--recipe", str(sidecar)]
    return shlex.join(args)


def write_sidecar(recipe: RestoreRecipe, output: Path | str) -> Path:
    """Write the sidecar (and strength map PNG) next to ``output``; returns the JSON path.

    Existing sidecars are replaced (they describe the file that was just written).
    """
    output = Path(output)
    sidecar = sidecar_path(output)
    map_name = None
    if recipe.strength_map is not None:
        map_path = output.with_name(output.stem + MAP_SUFFIX)
        save_strength_map(map_path, recipe.strength_map, overwrite=True)
        map_name = map_path.name
    recipe.output = recipe.output or str(output)
    data = {
        "format": FORMAT,
        "version": VERSION,
        "task": recipe.task,
        "method": recipe.method,
        "params": recipe.params,
        "latent": None if recipe.latent is None else recipe.latent.to_dict(),
        "strength_map": map_name,
        "tile": recipe.tile,
        "input": recipe.input,
        "output": recipe.output,
        "command": command_line(recipe, sidecar),
        "history": recipe.history,
    }
    text = json.dumps(data, indent=2, default=_json_default) + "\n"

    def write(handle: IO[bytes]) -> None:
        handle.write(text.encode("utf-8"))

    atomic_write(sidecar, write, True)
    return sidecar


def read_sidecar(path: Path | str, size: tuple[int, int] | None = None) -> RestoreRecipe:
    """Read a sidecar (and its strength map, checked against ``size`` (H, W) when given).

    Raises InvalidInputError with a readable message for a missing or malformed file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"the recipe {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InvalidInputError(f"the recipe {path} is not readable JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f'{path} is not a Patina recipe (no "format": "{FORMAT}")')
    try:
        return _recipe(data, path, size)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as err:
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise InvalidInputError(f"the recipe {path} has a bad value: {reason}") from None


def _recipe(data: dict[str, Any], path: Path, size: tuple[int, int] | None) -> RestoreRecipe:
    """The :class:`RestoreRecipe` of a sidecar's JSON ``data`` (any bad value raises)."""
    version = data.get("version", 0)
    if not isinstance(version, int):
        raise TypeError(f"version must be a whole number, got {version!r}")
    if version > VERSION:
        raise InvalidInputError(f"{path} needs a newer Patina (recipe version {version})")
    strength_map = None
    if data.get("strength_map"):
        strength_map = load_strength_map(_beside(path, data["strength_map"]), size)
    latent = data.get("latent")
    if not isinstance(latent, dict | None):
        raise TypeError(f"latent must be an object or null, got {latent!r}"[:120])
    if not isinstance(data.get("params") or {}, dict):
        raise TypeError("params must be an object of NAME: VALUE")
    return RestoreRecipe(
        task=str(data.get("task")),
        method=str(data.get("method")),
        params=dict(data.get("params") or {}),
        latent=None if latent is None else LatentEdit.from_dict(latent),
        strength_map=strength_map,
        tile=_tile(data.get("tile", 512)),
        input=data.get("input"),
        output=data.get("output"),
        history=list(data.get("history") or []),
    )


def _beside(sidecar: Path, name: Any) -> Path:
    """The file ``name`` in the sidecar's folder; InvalidInputError for any other path
    (absolute, with a folder, ``..``): a recipe reads no file elsewhere."""
    text = str(name)
    if text in ("", ".", "..") or Path(text).name != text or "\\" in text:
        raise InvalidInputError(
            f"the recipe {sidecar} names the strength map {text!r}; it must be a file name "
            "in the recipe's own folder"
        )
    return sidecar.parent / text


def _tile(value: Any) -> int:
    """A tile size from JSON: a whole number of pixels, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"tile must be a whole number of pixels, got {value!r}")
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
