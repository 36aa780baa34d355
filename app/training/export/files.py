"""What every exporter writes: safetensors weights, the manifest entry, the run's extras.

The weights file is written with metadata values JSON-encoded and made world-readable
(mode 644, whatever the umask) so an installed app can load it; the manifest entry with
the same id is replaced atomically (``manifest.json.tmp`` then rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

FP16_TOLERANCE = 0.5 / 255.0  # largest output change (in [0, 1]) that fp16 weights may cause
WEIGHTS_MODE = 0o644


def read_optional(path: Path) -> Any:
    """JSON content of ``path``, or None if it does not exist."""
    return json.loads(path.read_text()) if path.exists() else None


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``tensors`` with ``meta`` (each value JSON-encoded) to ``path``, mode 644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={k: json.dumps(v) for k, v in meta.items()})
    path.chmod(WEIGHTS_MODE)


def training_summary(config: dict[str, Any], side: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The ``training`` record of an entry: config, steps, wall seconds (from the checkpoint
    sidecar ``side``) and how the run was started (``run_dir/run_info.json``)."""
    info = read_optional(run_dir / "run_info.json") or {}
    return {"config": config, "steps": side["step"], "wall_s": round(side["elapsed"], 1), **info}


def update_manifest(models_dir: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` to ``models_dir/manifest.json`` (replacing one with the same id)."""
    path = models_dir / "manifest.json"
    data = json.loads(path.read_text()) if path.exists() else {"models": []}
    data["models"] = [m for m in data.get("models", []) if m.get("id") != entry["id"]]
    data["models"].append(entry)
    data["models"].sort(key=lambda m: m["id"])
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("manifest.json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
