"""A batch recipe: what to do to every file (task, method, parameters, tile, output format).

A recipe is plain JSON so an archivist can keep it beside a collection, and the window can
save its current settings as one (:meth:`Recipe.save`). Example::

    {"format": "patina-batch-recipe", "version": 1, "task": "denoise", "method": "bilateral",
     "params": {"sigma": 15}, "tile": 512, "device": "auto",
     "output_format": "same", "bit_depth": null, "jpeg_quality": 95,
     "pattern": "{stem}_restored{ext}"}

``params`` holds the method's parameters, including latent settings of VDIR models
(``latent_strength``, ``seed``). ``output_format`` is ``same`` (keep each file's format),
``png``, ``tiff`` or ``jpeg``; ``bit_depth`` is ``null`` (keep the input's where the
format stores it), 8 or 16 (16 only where the format stores it, 8 elsewhere).
``pattern`` names each output from ``{stem}`` (input name without suffix), ``{ext}``
(output suffix with its dot), ``{name}`` (input file name), ``{task}`` and ``{method}``.

The *identity* of a recipe (:meth:`Recipe.identity`) is what changes output bytes: a
batch journal keeps one recipe, and refuses to continue with another. ``tile`` and
``device`` are run settings, not part of the identity.

:meth:`Recipe.from_dict` also reads the sidecar an export writes (``"format":
"patina-recipe"``, :class:`app.ml.recipe.RestoreRecipe`): its task, method, parameters and tile. A
sidecar with a latent edit or a painted strength map is refused (those belong to one
image; the batch applies service parameters such as ``latent_strength`` only).
"""

from __future__ import annotations

import json
import numbers
import string
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any

from app.core.errors import InvalidInputError

RECIPE_FORMAT = "patina-batch-recipe"
RECIPE_VERSION = 1
SIDECAR_FORMAT = "patina-recipe"  # app.ml.recipe: the sidecar of one exported result
_SIDECAR_KEYS = ("task", "method", "params", "tile")
FORMATS: dict[str, str | None] = {"same": None, "png": ".png", "tiff": ".tif", "jpeg": ".jpg"}
DEEP_SUFFIXES = (".png", ".tif", ".tiff")
DEFAULT_PATTERN = "{stem}_restored{ext}"
MIN_TILE = 64
_FIELDS = ("stem", "ext", "name", "task", "method")
MAX_NAME = 255  # bytes of a file name on common file systems
_KINDS: dict[str, tuple[type, ...]] = {
    "task": (str,), "method": (str, type(None)), "params": (dict,), "tile": (numbers.Integral,),
    "device": (str,), "output_format": (str,), "bit_depth": (numbers.Integral, type(None)),
    "jpeg_quality": (numbers.Integral,), "pattern": (str,),
}  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """What a batch does to each file; see the module docstring for the fields."""

    task: str
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tile: int = 512
    device: str = "auto"
    output_format: str = "same"
    bit_depth: int | None = None
    jpeg_quality: int = 95
    pattern: str = DEFAULT_PATTERN

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise InvalidInputError with a readable message if a field is out of range."""
        for name, kinds in _KINDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                want = " or ".join("null" if k is type(None) else _KIND_NAMES[k] for k in kinds)
                raise InvalidInputError(f"recipe field {name} must be {want}, got {value!r}")
        if not self.task:
            raise InvalidInputError("a recipe needs a task (denoise, deblock, ...)")
        if self.output_format not in FORMATS:
            raise InvalidInputError(
                f"output format must be one of {', '.join(FORMATS)}, got {self.output_format!r}"
            )
        if self.bit_depth not in (None, 8, 16):
            raise InvalidInputError(f"bit depth must be 8 or 16, got {self.bit_depth}")
        if not 1 <= self.jpeg_quality <= 100:
            raise InvalidInputError(f"JPEG quality must be 1..100, got {self.jpeg_quality}")
        if self.tile < MIN_TILE:
            raise InvalidInputError(f"tile size must be at least {MIN_TILE}, got {self.tile}")
        check_pattern(self.pattern)

    # ---------------------------------------------------------------- output names

    def output_suffix(self, source_suffix: str) -> str:
        """The suffix (with dot) of the output of an input with ``source_suffix``."""
        return FORMATS[self.output_format] or source_suffix

    def output_name(self, source: PurePosixPath) -> str:
        """The output file name of input ``source`` (a relative path)."""
        ext = self.output_suffix(source.suffix)
        values = {"stem": source.stem, "ext": ext, "name": source.name}
        values |= {"task": self.task, "method": self.method or "default"}
        return self.pattern.format(**values)

    def output_bit_depth(self, output_suffix: str) -> int | None:
        """``bit_depth`` where the output format stores it; None (= keep / 8) otherwise."""
        if self.bit_depth == 16 and output_suffix.lower() not in DEEP_SUFFIXES:
            return None
        return self.bit_depth

    # ------------------------------------------------------------------- identity

    def identity(self) -> dict[str, Any]:
        """The fields that decide output bytes (not ``tile`` or ``device``)."""
        data = asdict(self)
        del data["tile"], data["device"]
        return data

    def same_outputs_as(self, other: Recipe) -> bool:
        """Whether both recipes write the same files (identities equal, JSON-normalised)."""
        return _canonical(self.identity()) == _canonical(other.identity())

    def describe(self) -> str:
        """One line for people: ``denoise/bilateral sigma=15 -> same format``."""
        params = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        fmt = self.output_format + (f" {self.bit_depth}-bit" if self.bit_depth else "")
        return f"{self.task}/{self.method or 'default'} {params} -> {fmt}".replace("  ", " ")

    # ----------------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, starting with ``format`` and ``version``."""
        return {"format": RECIPE_FORMAT, "version": RECIPE_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the recipe as JSON to ``path`` (atomically); return the path."""
        from app.core.atomic import atomic_write

        dest = Path(path)
        data = self.to_json().encode("utf-8")

        def write(fh: IO[bytes]) -> None:
            fh.write(data)

        atomic_write(dest, write, overwrite=True)
        return dest

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Build from a dict as written by :meth:`to_dict` (or an export's sidecar);
        unknown keys are an error."""
        data = dict(data)
        kind = data.pop("format", RECIPE_FORMAT)
        version = data.pop("version", RECIPE_VERSION)
        if kind == SIDECAR_FORMAT:
            data = _from_sidecar(data)
        elif kind != RECIPE_FORMAT or version != RECIPE_VERSION:
            raise InvalidInputError(
                f"recipe format {kind} version {version} is not supported "
                f"(expected {RECIPE_FORMAT} version {RECIPE_VERSION})"
            )
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
        if "task" not in data:
            raise InvalidInputError("the recipe has no task")
        if not isinstance(data.get("params", {}), dict):
            raise InvalidInputError("recipe params must be an object of NAME: VALUE")
        try:
            return cls(**data)
        except TypeError as err:
            raise InvalidInputError(f"bad recipe: {err}") from err

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """Read a recipe JSON file; InvalidInputError names the file on any problem."""
        src = Path(path)
        try:
            data = json.loads(src.read_text(encoding="utf-8"))
        except OSError as err:
            raise InvalidInputError(f"cannot read recipe {src}: {err.strerror or err}") from err
        except (ValueError, RecursionError) as err:
            raise InvalidInputError(f"recipe {src} is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise InvalidInputError(f"recipe {src} must hold a JSON object")
        try:
            return cls.from_dict(data)
        except InvalidInputError as err:
            raise InvalidInputError(f"recipe {src}: {err}") from err

    def with_changes(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` applied (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_KIND_NAMES: dict[type, str] = {
    str: "text", dict: "an object", numbers.Integral: "a whole number"
}  # fmt: skip


def check_pattern(pattern: str) -> None:
    """InvalidInputError unless ``pattern`` makes a plain file name that differs per input
    (plain ``{field}`` names only: a format spec such as ``{stem:>99999999}`` is refused)."""
    known = ", ".join("{" + f + "}" for f in _FIELDS)
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as err:
        raise InvalidInputError(f"bad name pattern {pattern!r}: use only {known}") from err
    for _, name, spec, conversion in parts:
        if name is not None and (name not in _FIELDS or spec or conversion):
            raise InvalidInputError(f"bad name pattern {pattern!r}: use only {known}")
    try:
        bad = len(pattern.encode("utf-8")) > MAX_NAME or "\x00" in pattern
    except UnicodeEncodeError:  # a lone surrogate from JSON
        bad = True
    if bad:
        raise InvalidInputError("the name pattern is too long or holds an invalid character")
    sample = pattern.format(stem="a", ext=".png", name="a.png", task="t", method="m")
    if "{stem}" not in pattern and "{name}" not in pattern:
        raise InvalidInputError(f"name pattern {pattern!r} must contain {{stem}} or {{name}}")
    if "/" in sample or "\\" in sample or sample.startswith(".") or not sample.strip():
        raise InvalidInputError(f"name pattern {pattern!r} must make a plain, visible file name")


def _from_sidecar(data: dict[str, Any]) -> dict[str, Any]:
    """The batch fields of an export sidecar; refuses image-specific latent edits."""
    if data.get("latent") is not None or data.get("strength_map") is not None:
        raise InvalidInputError(
            "this recipe has a latent edit or a painted strength map, which belong to one "
            "image; a batch applies the method and its parameters only (save the recipe "
            "without latent edits, or use the latent_strength parameter)"
        )
    return {key: data[key] for key in _SIDECAR_KEYS if key in data}


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)
