"""Export the DL-Net super-resolution model: SR weights of one run, estimator of another.

``python -m app.training.sr_export runs/sr_dlnet --est runs/sr_est --id dlnet-sr`` writes
``models/<id>.safetensors`` (fp16 when rounding the weights changes a K = 5 output by
less than :data:`app.training.export.FP16_TOLERANCE`, else fp32; arch and training
summary in the metadata), adds or replaces the manifest entry (the default upscaler)
and writes ``models/<id>.md``. ``RUN/metrics.json`` (the manifest's metrics) and
``RUN/card_notes.md`` (appended to the card: the measured tables) are used when present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from app.ml.archs.sr import SRNet, build
from app.ml.dlnet_sr import upscale_luma
from app.ml.macs import count_macs, count_params
from app.training.export import FP16_TOLERANCE, MODELS_DIR, read_optional, update_manifest
from app.training.mask_export import model_from_run

TITLE = "Learned upscaling (DL-Net, known or estimated blur)"


def merged_model(run_dir: Path, est_run: Path | None) -> tuple[SRNet, dict[str, Any]]:
    """(model, training summary): SR weights of ``run_dir``; with ``est_run`` its
    estimator (and its arch, which names the estimator kind)."""
    model, cfg, side = model_from_run(run_dir)
    assert isinstance(model, SRNet)
    summary: dict[str, Any] = {"config": cfg.to_dict(), "steps": side["step"],
                               "wall_s": round(side["elapsed"], 1),
                               **(read_optional(run_dir / "run_info.json") or {})}  # fmt: skip
    if est_run is None:
        return model, summary
    est, est_cfg, est_side = model_from_run(est_run)
    assert isinstance(est, SRNet)
    sr_part = {k: v for k, v in model.state_dict().items() if not k.startswith("estimator.")}
    est.load_state_dict(sr_part, strict=False)
    summary["estimator_stage"] = {"config": est_cfg.to_dict(), "steps": est_side["step"],
                                  "wall_s": round(est_side["elapsed"], 1),
                                  **(read_optional(est_run / "run_info.json") or {})}  # fmt: skip
    return est.eval(), summary


def fp16_is_lossless(model: SRNet, size: int = 48, seed: int = 0) -> bool:
    """Whether fp16-rounded weights move K = 5 x2..x4 outputs by < FP16_TOLERANCE."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(1, 1, size, size, generator=gen) * 0.5 + 0.25
    rounded = build(model.cfg.to_dict()).eval()
    rounded.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    worst = 0.0
    for s in model.cfg.scales:
        u = torch.tensor([1.3])
        a, b = upscale_luma(model, y, u, s), upscale_luma(rounded, y, u, s)
        worst = max(worst, float((a - b).abs().max()))
    return worst < FP16_TOLERANCE


def macs_per_output_pixel(model: SRNet, scale: int = 2) -> float:
    """MACs per output pixel of the plain network (K = 1) at ``scale`` (x2: the most)."""
    y = torch.zeros(1, 1, 64, 64)
    return count_macs(model, lambda: model(y, torch.zeros(1), scale)) / (64 * scale) ** 2


def export(
    run_dir: Path, est_run: Path | None, model_id: str, models_dir: Path = MODELS_DIR
) -> dict[str, Any]:
    """Write weights, manifest entry and card; returns the entry."""
    model, training = merged_model(run_dir, est_run)
    half = fp16_is_lossless(model)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {"arch": model.cfg.to_dict(), "format": "patina-dlnet-sr-1", "training": training}
    models_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(models_dir / f"{model_id}.safetensors"),
              metadata={k: json.dumps(v) for k, v in meta.items()})  # fmt: skip
    entry = {
        "id": model_id, "task": "upscale", "method": "dlnet", "arch": "dlnet-sr",
        "file": f"{model_id}.safetensors", "title": TITLE, "config": model.cfg.to_dict(),
        "card": f"{model_id}.md", "metrics": read_optional(run_dir / "metrics.json") or {},
        "params": count_params(model),
        "macs_per_pixel": round(macs_per_output_pixel(model)),
        "weights_dtype": "float16" if half else "float32", "training": training,
    }  # fmt: skip
    update_manifest(models_dir, entry)
    write_card(models_dir / f"{model_id}.md", entry, run_dir)
    return entry


def write_card(path: Path, entry: dict[str, Any], run_dir: Path) -> None:
    """Markdown card: what it is, size, both training stages, config, notes (tables)."""
    tr = entry["training"]
    lines = [
        f"# {entry['title']} (`{entry['id']}`)", "",
        f"- task: upscale (x2, x3, x4), method: dlnet, architecture: dlnet-sr "
        f"(`{json.dumps(entry['config'])}`)",
        f"- parameters: {entry['params']:,}; MACs per output pixel at x2 (plain forward, "
        f"the most of the three scales): {entry['macs_per_pixel']:,}",
        f"- weights: {entry['file']} ({entry['weights_dtype']} safetensors; arch in metadata)",
        f"- SR training: {tr['steps']} steps, {tr['wall_s'] / 60:.1f} min on "
        f"{tr.get('device', 'cpu')}; data {tr.get('data', '')}",
        f"- command: `{tr.get('command', '')}`",
        *[f"- then: `{c}`" for c in tr.get("later_commands", [])],
    ]  # fmt: skip
    est = tr.get("estimator_stage")
    if est:
        lines += [
            f"- estimator stage: {est['steps']} steps, {est['wall_s'] / 60:.1f} min, "
            f"command `{est.get('command', '')}`",
        ]
    lines += ["", "## Training config", "", "```json", json.dumps(tr["config"], indent=2), "```"]
    notes = run_dir / "card_notes.md"
    if notes.exists():
        lines += ["", notes.read_text()]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """CLI; prints the entry's id, file, dtype, params and MACs."""
    p = argparse.ArgumentParser(prog="python -m app.training.sr_export", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--est", default=None, help="run folder of the estimator-only stage")
    p.add_argument("--id", default="dlnet-sr")
    p.add_argument("--models", default=str(MODELS_DIR))
    args = p.parse_args(argv)
    est = Path(args.est) if args.est else None
    entry = export(Path(args.run_dir), est, args.id, Path(args.models))
    keys = ("id", "file", "weights_dtype", "params", "macs_per_pixel")
    print(json.dumps({k: entry[k] for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
