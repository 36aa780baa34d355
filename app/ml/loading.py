"""Where model weights live, device choice and weight loading (safetensors only: a model
file must not run code).

Paths: :data:`MODELS_DIR` (``<repo>/models``), overridden by ``$PATINA_MODELS_DIR``
(:func:`current_models_dir`: tests, packaged installs); :func:`model_file` resolves a
manifest's file name inside its folder; :func:`weights_path` is a service's weights file.

Importing this module does not import torch (the registry lists models at start-up with
these paths); torch is imported by the functions that pick a device or load weights.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from app.core.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODELS_ENV = "PATINA_MODELS_DIR"
DEVICES = ("auto", "cpu", "cuda", "mps")
M = TypeVar("M", bound="torch.nn.Module")


class EntryLike(Protocol):
    """What a learned service is given about its model (the registry's
    :class:`~app.ml.registry.ModelEntry` has these fields, and more)."""

    id: str
    task: str
    file: str
    title: str


def current_models_dir() -> Path:
    """The models folder: ``$PATINA_MODELS_DIR`` if set, else ``<repo>/models``."""
    override = os.environ.get(MODELS_ENV)
    return Path(override) if override else MODELS_DIR


def model_file(folder: Path, name: object) -> str:
    """``folder / name`` (normalised); ValueError when ``name`` is absolute or climbs out
    with ``..``: a manifest names only files inside its own models folder."""
    text, base = str(name), os.path.normpath(folder)
    path = os.path.normpath(folder / text)
    if os.path.isabs(text) or os.path.commonpath([path, base]) != base:
        raise ValueError(f"the file {text!r} is outside the models folder")
    return path


def weights_path(entry: EntryLike) -> Path:
    """Absolute path of the entry's weights (relative names are under :data:`MODELS_DIR`)."""
    path = Path(entry.file)
    return path if path.is_absolute() else MODELS_DIR / path


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(request: str = "auto") -> tuple[str, torch.dtype]:
    """(device, compute dtype) for ``request``: auto picks CUDA, then MPS, then CPU.

    fp16 on CUDA, fp32 elsewhere. Raises InvalidInputError for an unknown or
    unavailable device.
    """
    import torch

    if request not in DEVICES:
        raise InvalidInputError(f"unknown device {request!r}; use one of {', '.join(DEVICES)}")
    if request == "auto":
        request = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if request == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("CUDA was requested but no CUDA GPU is available")
    if request == "mps" and not _mps_available():
        raise InvalidInputError("MPS was requested but Apple's Metal backend is not available")
    return request, torch.float16 if request == "cuda" else torch.float32


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict as float32 CPU tensors, metadata) from a .safetensors file.

    Metadata values that are JSON (e.g. ``arch``) are decoded. Raises InvalidInputError
    when the file is missing or not a safetensors file.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"model weights not found: {path}")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as err:  # safetensors raises several types for a bad file
        raise InvalidInputError(f"{path.name} is not a readable safetensors file: {err}") from err
    return {k: v.float() for k, v in tensors.items()}, {k: _maybe_json(v) for k, v in raw.items()}


def load_arch_model(path: Path, build: Callable[[dict[str, Any]], M]) -> M:
    """``build(arch)`` with the weights of ``path`` loaded; ``arch`` comes from its metadata.

    The model is returned as ``build`` made it (CPU, float32, mode unchanged). Raises
    InvalidInputError when the file is unreadable, its metadata has no usable ``arch``
    dict, or its tensors are not exactly the model's (names and shapes). An ``arch`` with
    a number larger than any tensor dimension of the file (a hostile width or count) is
    first built on the meta device, so it is refused without allocating anything.
    """
    state, meta = load_weights(path)
    arch = meta.get("arch")
    if not isinstance(arch, dict):
        raise InvalidInputError(f"{path.name} has no architecture in its metadata")
    if _largest_number(arch) > max((max(t.shape, default=1) for t in state.values()), default=1):
        # a width or count no tensor of the file has: size it up on the meta device
        # (no memory) before building it for real
        check_tensors(path, _build(path, build, arch, meta=True), state)
    model = _build(path, build, arch)
    check_tensors(path, model, state)
    model.load_state_dict(state)
    return model


def _build(path: Path, build: Callable[[dict[str, Any]], M], arch: dict, meta: bool = False) -> M:
    """``build(arch)`` (on the meta device: no memory), InvalidInputError if it fails."""
    import torch

    try:
        if not meta:
            return build(arch)
        with torch.device("meta"), _no_random_init()():
            return build(arch)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - a bad config value can raise anything
        raise InvalidInputError(
            f"{path.name} has an unusable architecture in its metadata: {_oneline(err)}"
        ) from err


def check_tensors(path: Path, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """InvalidInputError unless ``model`` has exactly the tensors (names, shapes) of
    ``state``, the weights read from ``path``."""
    want = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    have = {name: tuple(t.shape) for name, t in state.items()}
    if want == have:
        return
    wrong = sorted(n for n in want.keys() & have.keys() if want[n] != have[n])
    missing, extra = sorted(want.keys() - have.keys()), sorted(have.keys() - want.keys())
    parts = [f"{len(missing)} missing", f"{len(extra)} unexpected", f"{len(wrong)} of wrong shape"]
    example = (wrong or missing or extra)[0]
    raise InvalidInputError(
        f"{path.name} does not match the architecture in its metadata (tensors: "
        f"{', '.join(parts)}; e.g. {example})"
    )


def _largest_number(value: Any) -> int:
    """The largest whole number (or list length) anywhere in a JSON-like ``value``
    (floats do not size tensors: a float width fails in ``build``)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return max((_largest_number(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return max([len(value), *(_largest_number(v) for v in value)])
    return 0


@functools.cache
def _no_random_init() -> type:
    """A TorchFunctionMode under which in-place random initialisers do nothing (for meta
    tensors, which hold no values: torch's meta ``normal_`` would import torch._dynamo,
    about 4 s). Thread-local. Made on first use, so importing this module needs no torch."""
    import torch
    from torch.overrides import TorchFunctionMode

    skipped = frozenset(
        getattr(torch.Tensor, name)
        for name in ("normal_", "uniform_", "erfinv_", "exponential_", "random_",
                     "bernoulli_", "geometric_", "log_normal_", "cauchy_")
    )  # fmt: skip

    class NoRandomInit(TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
        ) -> Any:
            if func in skipped:
                return args[0]
            return func(*args, **(kwargs or {}))

    return NoRandomInit


def _oneline(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def describe_device(request: str = "auto") -> str:
    """A short, human name of the device ``request`` resolves to, e.g. "GPU: NVIDIA H100"."""
    import torch

    device, _ = pick_device(request)
    if device == "cuda":
        return f"GPU: {torch.cuda.get_device_name(0)}"
    if device == "mps":
        return "GPU: Apple Metal"
    return f"CPU ({torch.get_num_threads()} threads)"
