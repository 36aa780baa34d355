"""Training loop on tiny synthetic data: runs, checkpoints, resumes to the same state."""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from app.ml.archs.vdir import build
from app.training import checkpoint as ck
from app.training.config import TrainConfig
from app.training.loop import load_init, lr_at, train
from tests.ml.test_vdir import TINY


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "nested"
    folder.mkdir(parents=True)
    for i in range(3):
        img = cv2.GaussianBlur(rng.integers(0, 256, (48, 56, 3), dtype=np.uint8), (5, 5), 1.5)
        cv2.imwrite(str(folder / f"im{i}.png"), img)
    return tmp_path / "data"


def tiny_config(task: str = "denoise") -> TrainConfig:
    return TrainConfig.from_dict({
        "task": task, "arch": TINY.to_dict(), "patch": 32, "batch": 2, "steps": 3,
        "warmup": 1, "val_images": 1, "val_crop": 32, "log_every": 1, "val_every": 2,
        "degradation": {"poisson_prob": 0.5, "val": {"sigma": [25, 25], "poisson_prob": 0}},
    })  # fmt: skip


def model_tensors(run: Path) -> dict[str, torch.Tensor]:
    return ck.read_checkpoint(run)[0]


def test_resumed_run_matches_uninterrupted_run(tmp_path: Path, data_dir: Path) -> None:
    cfg = tiny_config()
    full = train(cfg, data_dir, tmp_path / "full")
    assert full["step"] == 3 and np.isfinite(full["val_psnr"])
    train(cfg, data_dir, tmp_path / "part", stop_at=2)
    assert ck.read_checkpoint(tmp_path / "part")[1]["step"] == 2
    train(cfg, data_dir, tmp_path / "part", resume=True)
    a, b = model_tensors(tmp_path / "full"), model_tensors(tmp_path / "part")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = (tmp_path / "full" / "log.jsonl").read_text().splitlines()
    assert any('"val_psnr"' in line for line in log)


@pytest.mark.parametrize("task", ["deblock", "old-photo"])
def test_other_tasks_train(tmp_path: Path, data_dir: Path, task: str) -> None:
    cfg = tiny_config(task).with_overrides(steps=1, degradation={})
    assert train(cfg, data_dir, tmp_path / task)["step"] == 1


def test_naive_blind_ablation_trains(tmp_path: Path, data_dir: Path) -> None:
    cfg = tiny_config().with_overrides(steps=1, use_vae=False)
    assert train(cfg, data_dir, tmp_path / "naive")["step"] == 1


def test_lr_schedule_warms_up_and_decays() -> None:
    cfg = TrainConfig(task="denoise", lr=1e-3, lr_min=1e-5, warmup=10, steps=110)
    assert lr_at(cfg, 0) == pytest.approx(1e-4)
    assert lr_at(cfg, 10) == pytest.approx(1e-3)
    assert lr_at(cfg, 110) == pytest.approx(1e-5)


def test_only_est_retargets_the_est_head_and_nothing_else(tmp_path: Path, data_dir: Path) -> None:
    base = tmp_path / "base"
    train(tiny_config().with_overrides(steps=1), data_dir, base)
    weights = tmp_path / "base.safetensors"
    save_file(ck.split_prefix(model_tensors(base), "model"), str(weights))
    cfg = tiny_config("deblock").with_overrides(
        steps=2, only_est=True, reinit_est=True, degradation={}
    )
    train(cfg, data_dir, tmp_path / "est", init=weights)
    before = ck.split_prefix(model_tensors(base), "model")
    after = ck.split_prefix(model_tensors(tmp_path / "est"), "model")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("est.") for k in changed)
    assert changed == {k for k in before if k.startswith("est.")}


def test_init_adds_a_block_spectrum_that_starts_as_the_old_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    old = build(TINY)
    weights = {k: v.clone() for k, v in old.state_dict().items()}
    new = build(replace(TINY, block_dct=True))
    load_init(new, weights)
    y = torch.rand(1, 3, 36, 44)
    with torch.no_grad():
        torch.testing.assert_close(new.encode(y), old.encode(y))
    del weights["est.0.weight"]
    with pytest.raises(ValueError, match="est.0.weight"):
        load_init(new, weights)
