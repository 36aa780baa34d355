"""The DL-Net super-resolution exporter: SR weights of one run, estimator of another.

``python -m app.training.export runs/sr_dlnet --est runs/sr_est --id dlnet-sr --task
upscale`` (see :mod:`app.training.export.command`) lands here for an ``sr`` run. It
writes ``models/<id>.safetensors`` (fp16 when rounding the weights changes a K = 5
output by less than :data:`app.training.export.files.FP16_TOLERANCE`, else fp32; arch
and training summary in the metadata), adds or replaces the manifest entry (the default
upscaler) and writes ``models/<id>.md`` (:func:`app.training.export.cards.write_sr_card`).
``RUN/metrics.json`` (the manifest's metrics) and ``RUN/card_notes.md`` (appended to the
card: the measured tables) are used when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from app.ml.archs.sr import SRNet, build
from app.ml.dlnet_sr import upscale_luma
from app.ml.loading import MODELS_DIR
from app.ml.macs import count_macs, count_params
from app.training.export.cards import write_sr_card
from app.training.export.files import (
    FP16_TOLERANCE,
    read_optional,
    training_summary,
    update_manifest,
    write_safetensors,
)
from app.training.export.mask import model_from_run

TITLE = "Learned upscaling (DL-Net, known or estimated blur)"


def merged_model(run_dir: Path, est_run: Path | None) -> tuple[SRNet, dict[str, Any]]:
    """(model, training summary): SR weights of ``run_dir``; with ``est_run`` its
    estimator (and its arch, which names the estimator kind)."""
    model, cfg, side = model_from_run(run_dir)
    assert isinstance(model, SRNet)
    summary = training_summary(cfg.to_dict(), side, run_dir)
    if est_run is None:
        return model, summary
    est, est_cfg, est_side = model_from_run(est_run)
    assert isinstance(est, SRNet)
    sr_part = {k: v for k, v in model.state_dict().items() if not k.startswith("estimator.")}
    est.load_state_dict(sr_part, strict=False)
    summary["estimator_stage"] = training_summary(est_cfg.to_dict(), est_side, est_run)
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


def export_sr(
    run_dir: Path,
    est_run: Path | None,
    model_id: str,
    *,
    models_dir: Path = MODELS_DIR,
    title: str = "",
    manifest: bool = True,
) -> dict[str, Any]:
    """Write weights, manifest entry (unless ``manifest`` is false) and card; returns the
    entry. ``est_run``: the estimator-only stage whose estimator replaces this run's."""
    model, training = merged_model(run_dir, est_run)
    half = fp16_is_lossless(model)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {"arch": model.cfg.to_dict(), "format": "patina-dlnet-sr-1", "training": training}
    write_safetensors(models_dir / f"{model_id}.safetensors", tensors, meta)
    entry = {
        "id": model_id, "task": "upscale", "method": "dlnet", "arch": "dlnet-sr",
        "file": f"{model_id}.safetensors", "title": title or TITLE, "config": model.cfg.to_dict(),
        "card": f"{model_id}.md", "metrics": read_optional(run_dir / "metrics.json") or {},
        "params": count_params(model),
        "macs_per_pixel": round(macs_per_output_pixel(model)),
        "weights_dtype": "float16" if half else "float32", "training": training,
    }  # fmt: skip
    if manifest:
        update_manifest(models_dir, entry)
    write_sr_card(models_dir / f"{model_id}.md", entry, run_dir)
    return entry
