"""The VDIR exporter: denoise, deblock, real-noise, old-photo runs and preview restorers.

``python -m app.training.export RUN_DIR --id vdir-denoise --task denoise`` (see
:mod:`app.training.export.command`) lands here for a VDIR run. It writes
``models/<id>.safetensors`` (fp16 when rounding the weights changes outputs by less
than ``FP16_TOLERANCE``, else fp32; the arch config and training summary in the
safetensors metadata), adds or replaces the entry in ``models/manifest.json`` and writes
``models/<id>.md`` (:func:`app.training.export.cards.write_vdir_card`). Metrics from
``RUN_DIR/metrics.json`` (written by ``python -m app.evaluation.vdir ... --run RUN_DIR``)
are included when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from app.core.errors import InvalidInputError
from app.ml.archs.vdir import VDIR, build
from app.ml.loading import MODELS_DIR
from app.training import checkpoint as ck
from app.training.export.cards import write_vdir_card
from app.training.export.files import (
    FP16_TOLERANCE,
    read_optional,
    training_summary,
    update_manifest,
    write_safetensors,
)


def save_weights(model: VDIR, path: Path, meta: dict[str, Any], fp16: bool = False) -> None:
    """Write ``model``'s weights (fp16 or fp32) and metadata (values JSON-encoded) to ``path``."""
    dtype = torch.float16 if fp16 else torch.float32
    tensors = {k: v.detach().cpu().to(dtype).contiguous() for k, v in model.state_dict().items()}
    write_safetensors(
        path, tensors, {"arch": model.cfg.to_dict(), "format": "patina-vdir-1", **meta}
    )


def model_from_run(run_dir: Path) -> tuple[VDIR, dict[str, Any], dict[str, Any]]:
    """(model in eval mode, training config dict, checkpoint sidecar) of a run folder."""
    tensors, side = ck.read_checkpoint(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    model = build(cfg["arch"])
    model.load_state_dict(ck.split_prefix(tensors, "model"))
    return model.eval(), cfg, side


def fp16_is_lossless(model: VDIR, size: int = 96, seed: int = 0) -> bool:
    """Whether fp16-rounded weights change outputs on a noisy test pattern by < tolerance."""
    gen = torch.Generator().manual_seed(seed)
    y = (torch.rand(1, 3, size, size, generator=gen) * 0.2 + 0.4).clamp(0, 1)
    rounded = build(model.cfg.to_dict()).eval()
    rounded.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    with torch.no_grad():
        a, b = model(y, sample=False).restored, rounded(y, sample=False).restored
    return float((a - b).abs().max()) < FP16_TOLERANCE


def manifest_config(model: VDIR) -> dict[str, Any]:
    """The manifest's ``config``: the arch config (the registry takes the service's
    parameters and description from :mod:`app.ml.services.specs`)."""
    return model.cfg.to_dict()


def _dtype_of(models_dir: Path, model_id: str) -> str:
    """The ``weights_dtype`` of a listed model ("float32" when not recorded): a preview
    model is stored like its full model, so their shared encoder stays bit-identical."""
    data = read_optional(models_dir / "manifest.json") or {"models": []}
    entry: dict[str, Any] = next((m for m in data["models"] if m.get("id") == model_id), {})
    return str(entry.get("weights_dtype", "float32"))


def link_preview(models_dir: Path, full_id: str, preview_file: str) -> None:
    """Name ``preview_file`` as the quick preview restorer of the listed model ``full_id``
    after checking that it shares that model's encoder (raises InvalidInputError if not,
    or if ``full_id`` is not listed)."""
    from app.ml.loading import load_arch_model
    from app.ml.services.vdir import check_shared_encoder

    path = models_dir / "manifest.json"
    data = json.loads(path.read_text())
    full = next((m for m in data["models"] if m.get("id") == full_id), None)
    if full is None:
        raise InvalidInputError(f"no model {full_id!r} in {path}")
    check_shared_encoder(
        load_arch_model(models_dir / full["file"], build),
        load_arch_model(models_dir / preview_file, build),
        preview_file,
    )
    full["preview"] = preview_file
    update_manifest(models_dir, full)


def export_vdir(
    run_dir: Path,
    model_id: str,
    task: str,
    *,
    models_dir: Path = MODELS_DIR,
    title: str = "",
    manifest: bool = True,
    est_note: str = "",
    method: str = "vdir",
    preview_for: str = "",
    steer_noise: str = "",
) -> dict[str, Any]:
    """Export ``run_dir``; returns the manifest entry (written unless ``manifest`` is false:
    then only the weights and the card are written, and the model is not listed).

    ``preview_for``: the id of the listed model this one is the quick preview restorer
    of (see :mod:`app.training.preview_task`); its entry gets ``"preview": <file>`` and
    this one is listed with ``"default": false`` (never chosen when no method is given).
    ``steer_noise``: the noise of its latent strength axis (``"camera"`` for the
    real-noise model; see :func:`app.ml.steering.edit.noisier`), when not Gaussian.
    """
    from app.ml.macs import count_params, macs_per_pixel

    model, cfg, side = model_from_run(run_dir)
    fp16 = fp16_is_lossless(model) and (
        not preview_for or _dtype_of(models_dir, preview_for) == "float16"
    )
    training = training_summary(cfg, side, run_dir)
    save_weights(model, models_dir / f"{model_id}.safetensors", {"training": training}, fp16)
    macs = macs_per_pixel(model, lambda x: model.restore(x, model.encode(x)[0]))
    if model.spectrum is not None:  # its fixed DCT is a functional conv the counter misses
        macs += model.spectrum.FIXED_MACS_PER_PIXEL
    entry = {
        "id": model_id, "task": task, "method": method, "arch": "vdir",
        "file": f"{model_id}.safetensors", "title": title or f"VDIR {task} (fast)",
        "config": manifest_config(model), "card": f"{model_id}.md",
        "metrics": read_optional(run_dir / "metrics.json") or {},
        "params": count_params(model), "macs_per_pixel": round(macs),
        "params_inference": count_params(model) - count_params(model.decoder),
        "weights_dtype": "float16" if fp16 else "float32", "training": training,
    }  # fmt: skip
    if est_note:
        entry["est_note"] = est_note
    if steer_noise:
        entry["steer_noise"] = steer_noise
    if preview_for:
        entry["default"] = False
    if manifest:
        update_manifest(models_dir, entry)
        if preview_for:
            link_preview(models_dir, preview_for, str(entry["file"]))
    write_vdir_card(models_dir / f"{model_id}.md", entry, run_dir)
    return entry
