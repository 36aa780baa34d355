"""Export an inpainting or detector run: weights, manifest entry and model card.

``python -m app.training.mask_export runs/inpaint --id dlnet-inpaint`` writes
``models/<id>.safetensors`` (fp32; arch and training summary in the metadata), adds or
replaces the entry in ``models/manifest.json`` (:func:`app.training.export.update_manifest`)
and writes ``models/<id>.md``. ``RUN/metrics.json`` and ``RUN/card_notes.md`` are
included when present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from app.training import checkpoint as ck
from app.training.export import MODELS_DIR, read_optional, update_manifest
from app.training.mask_loop import MaskTaskConfig, task_for

KINDS = {
    "inpaint": ("inpaint", "dlnet", "dlnet-inpaint", "Learned inpainting (gated U-Net + DL-Net)"),
    "detect": ("detect", "learned", "damage-detector", "Damage detector (scratches, dust, tears)"),
}


def model_from_run(run_dir: Path) -> tuple[nn.Module, MaskTaskConfig, dict[str, Any]]:
    """(model in eval mode, config, checkpoint sidecar) of a run folder."""
    tensors, side = ck.read_checkpoint(run_dir)
    cfg = MaskTaskConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    model = task_for(cfg.task).build(cfg.arch)
    model.load_state_dict(ck.split_prefix(tensors, "model"))
    return model.eval(), cfg, side


def macs_per_pixel(model: nn.Module, task: str) -> float:
    """Inference MACs per pixel of the plain network (no refinement) at 256 x 256."""
    from app.ml.macs import count_macs

    x, m = torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256)
    run = (lambda: model(x, m)) if task == "inpaint" else (lambda: model(x))
    return count_macs(model, run) / 256**2


def service_config(cfg: MaskTaskConfig) -> dict[str, Any]:
    """The manifest ``config``: the arch (the registry takes the inpainting service's
    parameters and description from :mod:`app.ml.services.specs`)."""
    return dict(cfg.arch)


def export_run(run_dir: Path, model_id: str, *, models_dir: Path = MODELS_DIR) -> dict[str, Any]:
    """Export ``run_dir``; returns the manifest entry written."""
    from app.ml.macs import count_params

    model, cfg, side = model_from_run(run_dir)
    task, method, arch, title = KINDS[cfg.task]
    info = read_optional(run_dir / "run_info.json") or {}
    if "command" in info:  # runs started before mask_loop wrote its own command line
        info["command"] = info["command"].replace(
            "app.training (mask_loop)", "app.training.mask_loop"
        )
    training = {
        "config": cfg.to_dict(),
        "steps": side["step"],
        "wall_s": round(side["elapsed"], 1),
        **info,
    }
    meta = {"arch": cfg.arch, "format": f"patina-{arch}-1", "training": training}
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    models_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(models_dir / f"{model_id}.safetensors"),
              metadata={k: json.dumps(v) for k, v in meta.items()})  # fmt: skip
    entry = {
        "id": model_id, "task": task, "method": method, "arch": arch,
        "file": f"{model_id}.safetensors", "title": title, "config": service_config(cfg),
        "card": f"{model_id}.md", "metrics": read_optional(run_dir / "metrics.json") or {},
        "params": count_params(model), "macs_per_pixel": round(macs_per_pixel(model, cfg.task)),
        "weights_dtype": "float32", "training": training,
    }  # fmt: skip
    update_manifest(models_dir, entry)
    write_card(models_dir / f"{model_id}.md", entry, run_dir)
    return entry


def write_card(path: Path, entry: dict[str, Any], run_dir: Path) -> None:
    """Markdown card: what it is, size, training, metrics (flattened), config, notes."""
    tr = entry["training"]
    lines = [
        f"# {entry['title']} (`{entry['id']}`)", "",
        f"- task: {entry['task']}, method: {entry['method']}, architecture: {entry['arch']} "
        f"(`{json.dumps(arch_only(entry['config']))}`)",
        f"- parameters: {entry['params']:,}; MACs per pixel (plain forward): "
        f"{entry['macs_per_pixel']:,}",
        f"- weights: {entry['file']} (float32 safetensors; arch in metadata)",
        f"- training: {tr['steps']} steps, {tr['wall_s'] / 60:.1f} min wall time on "
        f"{tr.get('device', 'cpu')}; data {tr.get('data', '../shared/data/train')}",
        f"- command: `{tr.get('command', '')}`", "",
        "## Metrics", "", *metric_lines(entry.get("metrics", {})), "",
        "## Training config", "", "```json", json.dumps(tr["config"], indent=2), "```", "",
    ]  # fmt: skip
    notes = run_dir / "card_notes.md"
    if notes.exists():
        lines.append(notes.read_text())
    path.write_text("\n".join(lines) + "\n")


def arch_only(config: dict[str, Any]) -> dict[str, Any]:
    """The architecture keys of a manifest config (without service params/description)."""
    return {k: v for k, v in config.items() if k not in ("params", "description")}


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """A table per result group (``inpaint``, ``detect``), other entries as bullets."""
    lines: list[str] = []
    for key, value in metrics.items():
        if key in ("inpaint", "detect") and isinstance(value, dict):
            lines += [f"**{key}**", "", *leaf_table(flatten(value)), ""]
        else:
            lines.append(f"- {key}: `{json.dumps(value)}`")
    return lines


def leaf_table(rows: dict[str, Any]) -> list[str]:
    """Markdown table: one row per flattened name, one column per leaf key."""
    keys: list[str] = []
    for value in rows.values():
        for k in value if isinstance(value, dict) else ["value"]:
            keys += [k] if k not in keys else []
    lines = ["| setting | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, value in rows.items():
        cells = value if isinstance(value, dict) else {"value": value}
        lines.append(f"| {name} | " + " | ".join(str(cells.get(k, "")) for k in keys) + " |")
    return lines


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested ``{a: {b: {"psnr":..}}}`` -> ``{"a / b": {"psnr":..}}`` for the card table."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            out.update(flatten(value, name + " / "))
        else:
            out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m app.training.mask_export RUN_DIR --id ID [--models DIR]``."""
    p = argparse.ArgumentParser(prog="python -m app.training.mask_export", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--id", required=True)
    p.add_argument("--models", default=str(MODELS_DIR))
    args = p.parse_args(argv)
    entry = export_run(Path(args.run_dir), args.id, models_dir=Path(args.models))
    print(json.dumps({k: entry[k] for k in ("id", "file", "params", "macs_per_pixel")}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
