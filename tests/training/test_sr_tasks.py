"""Super-resolution training tasks on tiny models: DL-Net SR (train, resume, estimator
stage, export, load as the service) and VDIR-SR (blind; trains, starts at bicubic)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.core.progress import drive
from app.ml.archs.vdir_sr import build as build_vdir_sr
from app.ml.services.upscale import UpscaleService
from app.ml.sr_ops import bicubic_up
from app.training import mask_loop
from app.training.export import export_run

TINY_SR = {"width": 4, "blocks": 1, "cond_hidden": 4, "est_width": 4, "est_layers": 1}
TINY_VDIR = {"width": 4, "blocks": 1, "latent": 2, "enc_width": 4, "sft_hidden": 4}


def _cfg(task: str, arch: dict[str, Any], steps: int, **data: Any) -> mask_loop.MaskTaskConfig:
    return mask_loop.MaskTaskConfig.from_dict({
        "task": task, "arch": arch, "patch": 8, "batch": 2, "steps": steps, "warmup": 1,
        "val_images": 1, "val_crop": 24, "log_every": 1, "val_every": 2, "k_train": 3,
        "k_plain_steps": 1, "data": data,
    })  # fmt: skip


@dataclass(frozen=True)
class Entry:
    file: str
    id: str = "exported-sr"
    task: str = "upscale"
    title: str = ""


def test_sr_train_resume_estimator_stage_export(data_dir: Path, tmp_path: Path) -> None:
    run, est_run, models = tmp_path / "run", tmp_path / "est", tmp_path / "models"
    mask_loop.train(_cfg("sr", TINY_SR, 2), data_dir, run)
    summary = mask_loop.train(_cfg("sr", TINY_SR, 3), data_dir, run, resume=True)
    assert summary["step"] == 3 and "val_x2_u0_k3" in summary
    energy = {**TINY_SR, "est_kind": "energy", "est_layers": 3}
    est_cfg = _cfg("sr", energy, 2, only_est=True, init=str(run))
    assert "val_est_err" in mask_loop.train(est_cfg, data_dir, est_run)
    entry = export_run(run, "exported-sr", est_run=est_run, models_dir=models)
    manifest = json.loads((models / "manifest.json").read_text())["models"]
    assert [m["id"] for m in manifest] == ["exported-sr"] and manifest[0]["task"] == "upscale"
    assert entry["config"]["est_kind"] == "energy" and (models / "exported-sr.md").exists()
    service = UpscaleService(Entry(str(models / "exported-sr.safetensors")), "cpu")
    img = np.random.default_rng(1).random((10, 12, 3), dtype=np.float32)
    assert drive(service.run(img, params={"scale": 3})).shape == (30, 36, 3)


def test_estimator_stage_keeps_the_sr_weights_frozen(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    mask_loop.train(_cfg("sr", TINY_SR, 1), data_dir, run)
    from app.training import sr_task

    cfg = _cfg("sr", {**TINY_SR, "est_kind": "energy"}, 1, only_est=True, init=str(run))
    model = sr_task.build(cfg.arch)
    sr_task.warm_start(model, cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("estimator.") for n in trainable)


def test_vdir_sr_trains_and_starts_at_bicubic(data_dir: Path, tmp_path: Path) -> None:
    summary = mask_loop.train(_cfg("vdir-sr", TINY_VDIR, 2), data_dir, tmp_path / "run")
    assert summary["step"] == 2 and np.isfinite(summary["val_x4_u2.6_blind"])
    torch.manual_seed(0)
    net = build_vdir_sr(TINY_VDIR).eval()
    y = torch.rand(1, 1, 9, 7)
    out = net(y, 2, sample=False)
    torch.testing.assert_close(out.restored, bicubic_up(y, 2))
    assert out.decoded.shape == y.shape and out.estimate.shape == (1,)


def test_vdir_sr_run_exports_through_the_one_exporter(data_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    run, models = tmp_path / "run", tmp_path / "models"
    mask_loop.train(_cfg("vdir-sr", TINY_VDIR, 1), data_dir, run)
    entry = export_run(run, "tiny-vdir-sr", "upscale", models_dir=models, manifest=False)
    assert entry["arch"] == "vdir-sr" and entry["task"] == "upscale"
    assert entry["macs_per_pixel"] > 0 and not (models / "manifest.json").exists()
    weights = load_file(str(models / "tiny-vdir-sr.safetensors"))
    assert set(weights) == set(build_vdir_sr(TINY_VDIR).state_dict())
