"""The mask-loop exporter: inpainting, damage-detector and VDIR-SR runs.

``python -m app.training.export runs/inpaint --id dlnet-inpaint --task inpaint`` (see
:mod:`app.training.export.command`) lands here for such a run. It writes
``models/<id>.safetensors`` (fp32; arch and training summary in the metadata), adds or
replaces the entry in ``models/manifest.json``
(:func:`app.training.export.files.update_manifest`) and writes ``models/<id>.md``
(:func:`app.training.export.cards.write_mask_card`). ``RUN/metrics.json`` and
``RUN/card_notes.md`` are included when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from app.ml.loading import MODELS_DIR
from app.training import checkpoint as ck
from app.training.export.cards import write_mask_card
from app.training.export.files import (
    read_optional,
    training_summary,
    update_manifest,
    write_safetensors,
)
from app.training.mask_loop import MaskTaskConfig, task_for

KINDS = {
    "inpaint": ("inpaint", "dlnet", "dlnet-inpaint", "Learned inpainting (gated U-Net + DL-Net)"),
    "detect": ("detect", "learned", "damage-detector", "Damage detector (scratches, dust, tears)"),
    "vdir-sr": ("upscale", "vdir", "vdir-sr", "VDIR blind super-resolution (luma; not shipped)"),
}
"""Config task -> (manifest task, method, arch, title) of the model it exports."""


def model_from_run(run_dir: Path) -> tuple[nn.Module, MaskTaskConfig, dict[str, Any]]:
    """(model in eval mode, config, checkpoint sidecar) of a run folder."""
    tensors, side = ck.read_checkpoint(run_dir)
    cfg = MaskTaskConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    model = task_for(cfg.task).build(cfg.arch)
    model.load_state_dict(ck.split_prefix(tensors, "model"))
    return model.eval(), cfg, side


def macs_per_pixel(model: nn.Module, task: str) -> float:
    """Inference MACs per pixel of the plain network (no refinement) at 256 x 256; for
    VDIR-SR per output pixel at x2 (its most expensive scale) from a 64 x 64 luma input."""
    from app.ml.macs import count_macs

    if task == "vdir-sr":
        y = torch.zeros(1, 1, 64, 64)
        return count_macs(model, lambda: model(y, 2, sample=False)) / 128**2
    x, m = torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256)
    run = (lambda: model(x, m)) if task == "inpaint" else (lambda: model(x))
    return count_macs(model, run) / 256**2


def service_config(cfg: MaskTaskConfig) -> dict[str, Any]:
    """The manifest ``config``: the arch (the registry takes the inpainting service's
    parameters and description from :mod:`app.ml.services.specs`)."""
    return dict(cfg.arch)


def mask_training_summary(
    cfg: MaskTaskConfig, side: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """The entry's ``training`` record; runs started before mask_loop wrote its own command
    line get it spelled as a runnable module."""
    training = training_summary(cfg.to_dict(), side, run_dir)
    if "command" in training:
        old = "app.training (mask_loop)"
        training["command"] = training["command"].replace(old, "app.training.mask_loop")
    return training


def export_mask(
    run_dir: Path,
    model_id: str,
    *,
    models_dir: Path = MODELS_DIR,
    title: str = "",
    manifest: bool = True,
) -> dict[str, Any]:
    """Export ``run_dir``; returns the manifest entry (written unless ``manifest`` is false:
    then only the weights and the card are written). ``title`` replaces the kind's title."""
    from app.ml.macs import count_params

    model, cfg, side = model_from_run(run_dir)
    task, method, arch, default_title = KINDS[cfg.task]
    training = mask_training_summary(cfg, side, run_dir)
    meta = {"arch": cfg.arch, "format": f"patina-{arch}-1", "training": training}
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(models_dir / f"{model_id}.safetensors", tensors, meta)
    entry = {
        "id": model_id, "task": task, "method": method, "arch": arch,
        "file": f"{model_id}.safetensors", "title": title or default_title,
        "config": service_config(cfg),
        "card": f"{model_id}.md", "metrics": read_optional(run_dir / "metrics.json") or {},
        "params": count_params(model), "macs_per_pixel": round(macs_per_pixel(model, cfg.task)),
        "weights_dtype": "float32", "training": training,
    }  # fmt: skip
    if manifest:
        update_manifest(models_dir, entry)
    write_mask_card(models_dir / f"{model_id}.md", entry, run_dir)
    return entry
