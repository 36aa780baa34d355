"""Quick preview restorer: distil a tiny VDIR, export it as the teacher's preview, and
check the service restores with it while keeping the teacher's latent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.evaluation.vdir import service_for
from app.ml import registry
from app.ml.archs.vdir import build
from app.ml.loading import MODELS_ENV, load_arch_model
from app.ml.services.vdir import VDIRService, check_shared_encoder
from app.training import mask_loop, preview_task
from app.training.export import export_run
from app.training.export.vdir import save_weights
from tests.ml.test_vdir import TINY

STUDENT = {**TINY.to_dict(), "enc_blocks": [0, 1], "dec_blocks": [0, 1], "sft_levels": [1, 2, 3]}


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder listing one tiny VDIR teacher, ``teacher``."""
    torch.manual_seed(0)
    teacher = build(TINY.to_dict())
    for p in teacher.parameters():
        torch.nn.init.normal_(p, std=0.1) if p.dim() > 1 else torch.nn.init.uniform_(p, -0.1, 0.1)
    folder = tmp_path / "models"
    save_weights(teacher, folder / "teacher.safetensors", {})
    entry = {"id": "teacher", "task": "denoise", "method": "vdir", "arch": "vdir",
             "file": "teacher.safetensors", "title": "Teacher"}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
    return folder


def _cfg(models: Path, steps: int) -> mask_loop.MaskTaskConfig:
    return mask_loop.MaskTaskConfig.from_dict({
        "task": "preview", "arch": STUDENT, "patch": 32, "batch": 2, "steps": steps,
        "lr": 3e-3, "warmup": 1, "val_images": 1, "val_crop": 32, "log_every": 1, "val_every": 2,
        "data": {"teacher": str(models / "teacher.safetensors")},
    })  # fmt: skip


def test_warm_start_copies_and_freezes_everything_but_the_restorer(models: Path) -> None:
    cfg = _cfg(models, 1)
    student = preview_task.build(cfg.arch)
    preview_task.warm_start(student, cfg)
    teacher = preview_task.teacher(cfg.data["teacher"])
    check_shared_encoder(teacher, student, "student")  # raises when a weight differs
    trainable = {n for n, p in student.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("restorer.") for n in trainable)
    shared = student.restorer.mid[0].norm1.weight  # a restorer weight the teacher also has
    assert torch.equal(shared, teacher.restorer.mid[0].norm1.weight)


def test_distillation_moves_the_student_towards_the_teacher(
    models: Path, data_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    cfg = _cfg(models, 30)
    mask_loop.train(cfg, data_dir, run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [rec["l1"] for rec in log if "l1" in rec]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert any("val_vs_teacher" in rec for rec in log)


def test_steered_codes_follow_the_window_edits(models: Path) -> None:
    cfg = _cfg(models, 1)
    teacher = preview_task.teacher(cfg.data["teacher"])
    y = torch.rand(4, 3, 32, 32)
    data = {**preview_task.settings(cfg), "p_neutral": 1.0, "p_channels": 0.0, "p_sample": 0.0}
    gen = torch.Generator().manual_seed(0)
    neutral = preview_task.steered_codes(teacher, y, y + 0.1, data, gen)
    assert torch.allclose(neutral, teacher.encode(y)[0])
    moved = preview_task.steered_codes(teacher, y, y + 0.1, {**data, "p_neutral": 0.0}, gen)
    assert not torch.allclose(moved, neutral)


def test_exported_preview_is_the_quick_restorer_of_its_teacher(
    models: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"
    mask_loop.train(_cfg(models, 2), data_dir, run)
    export_run(run, "teacher-preview", "denoise", models_dir=models, method="vdir-preview",
               preview_for="teacher")  # fmt: skip
    manifest = {m["id"]: m for m in json.loads((models / "manifest.json").read_text())["models"]}
    assert manifest["teacher"]["preview"] == "teacher-preview.safetensors"
    assert manifest["teacher-preview"]["default"] is False
    assert service_for(models / "teacher-preview.safetensors").info.task == "denoise"
    monkeypatch.setenv(MODELS_ENV, str(models))
    full = registry.create_service("denoise", "vdir", device="cpu")
    assert registry.default_method("denoise") == "vdir"
    assert isinstance(full, VDIRService)
    quick = full.quick()
    assert quick is full.quick() and quick.is_quick and "quick" in quick.info.title
    img = np.random.default_rng(0).random((40, 44, 3), dtype=np.float32)
    np.testing.assert_array_equal(quick.encode(img), full.encode(img))
    latent = full.encode(img)
    a, b = drive(full.restore(img, latent)), drive(quick.restore(img, latent))
    student = load_arch_model(models / "teacher-preview.safetensors", build).eval()
    y = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        expected = student.restore(y, torch.from_numpy(latent.transpose(2, 0, 1).copy())[None])
    np.testing.assert_allclose(b, np.clip(expected[0].permute(1, 2, 0).numpy(), 0, 1), atol=1e-5)
    assert not np.allclose(a, b)


def test_a_preview_with_another_encoder_is_refused(models: Path, tmp_path: Path) -> None:
    teacher = load_arch_model(models / "teacher.safetensors", build)
    other = build(STUDENT)  # fresh random encoder
    with pytest.raises(InvalidInputError, match="does not share the encoder"):
        check_shared_encoder(teacher, other, "other")


def test_a_model_without_preview_has_no_quick_variant(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODELS_ENV, str(models))
    full = registry.create_service("denoise", "vdir", device="cpu")
    assert isinstance(full, VDIRService) and full.quick() is full
    with pytest.raises(InvalidInputError, match="no quick preview"):
        VDIRService(registry.list_models("denoise")[0], "cpu", quick=True)
