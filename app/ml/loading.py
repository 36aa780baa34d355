"""Device choice and weight loading (safetensors only: a model file must not run code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from app.core.errors import InvalidInputError

DEVICES = ("auto", "cpu", "cuda", "mps")
M = TypeVar("M", bound=torch.nn.Module)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(request: str = "auto") -> tuple[str, torch.dtype]:
    """(device, compute dtype) for ``request``: auto picks CUDA, then MPS, then CPU.

    fp16 on CUDA, fp32 elsewhere. Raises InvalidInputError for an unknown or
    unavailable device.
    """
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
    InvalidInputError when the file is unreadable or its metadata has no ``arch`` dict.
    """
    state, meta = load_weights(path)
    if not isinstance(meta.get("arch"), dict):
        raise InvalidInputError(f"{path.name} has no architecture in its metadata")
    model = build(meta["arch"])
    model.load_state_dict(state)
    return model


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def describe_device(request: str = "auto") -> str:
    """A short, human name of the device ``request`` resolves to, e.g. "GPU: NVIDIA H100"."""
    device, _ = pick_device(request)
    if device == "cuda":
        return f"GPU: {torch.cuda.get_device_name(0)}"
    if device == "mps":
        return "GPU: Apple Metal"
    return f"CPU ({torch.get_num_threads()} threads)"
