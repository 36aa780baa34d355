"""Resumable checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint in ``run_dir`` is ``ckpt.safetensors`` (model weights under ``model.*``,
Adam moments under ``optim.<i>.*``, torch RNG states under ``rng.*``) plus the sidecar
``ckpt.json`` (step, numpy RNG state, optimiser hyper-parameters, elapsed seconds).
Both are written to temporary names and renamed, tensors first, so a crash leaves the
previous complete checkpoint; the sidecar records the step also stored in the tensors'
metadata and loading checks they agree.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from app.core.errors import InvalidInputError

TENSORS = "ckpt.safetensors"
SIDECAR = "ckpt.json"


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam state as flat ``optim.<param index>.<name>`` tensors."""
    out: dict[str, torch.Tensor] = {}
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            out[f"optim.{idx}.{name}"] = tensor.detach().cpu().contiguous()
    return out


def load_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]
) -> None:
    """Inverse of :func:`optimizer_tensors` with the JSON ``param_groups``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(
    run_dir: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    rng_tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    """Write the checkpoint atomically; ``meta`` must hold ``step`` and be JSON-compatible."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update(optimizer_tensors(opt))
    tensors.update({f"rng.{k}": v for k, v in rng_tensors.items()})
    groups = [{k: v for k, v in g.items()} for g in opt.state_dict()["param_groups"]]
    sidecar = {**meta, "param_groups": groups}
    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(
        run_dir / TENSORS,
        lambda p: save_file(tensors, str(p), metadata={"step": str(meta["step"])}),
    )
    _atomic_write(run_dir / SIDECAR, lambda p: p.write_text(json.dumps(sidecar)))


def read_checkpoint(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, sidecar) of the checkpoint in ``run_dir``; raises if missing or torn."""
    tpath, jpath = run_dir / TENSORS, run_dir / SIDECAR
    if not tpath.exists() or not jpath.exists():
        raise InvalidInputError(f"no checkpoint in {run_dir}")
    tensors = load_file(str(tpath))
    sidecar = json.loads(jpath.read_text())
    from safetensors import safe_open

    with safe_open(str(tpath), framework="pt") as f:
        step = int((f.metadata() or {}).get("step", -1))
    if step != sidecar["step"]:
        raise InvalidInputError(f"checkpoint in {run_dir} is torn (steps {step}/{sidecar['step']})")
    return tensors, sidecar


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries under ``prefix.`` with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
