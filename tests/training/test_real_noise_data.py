"""The real-noise training mixture (app.training.data.synth_real) and its config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.training.config import TrainConfig
from app.training.data import SIGMA_NORM, sample_batch, synth_real

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def patch() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    return np.stack([x / 63, y / 63, 0.5 + 0.2 * np.sin(x / 5)], axis=2).astype(np.float32)


@pytest.mark.parametrize("kind", ["awgn", "camera", "grain"])
def test_each_kind_adds_noise_and_its_est_target_measures_it(patch: np.ndarray, kind: str) -> None:
    rng = np.random.default_rng(3)
    x, y, t = synth_real(patch, rng, {"mix": {kind: 1.0}, "sigma": [20, 20]})
    assert x.shape == y.shape == (64, 64, 3) and t.shape == (64, 64)
    assert y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    rms = float(np.sqrt(np.mean((y - x) ** 2)) * 255)
    assert rms > 1.0
    # the target is the noise's std on 0..255 over 75, within a factor of the real RMS
    assert 0.5 * rms < float(t.mean()) * SIGMA_NORM < 2.0 * rms


def test_mixture_is_seeded_and_draws_every_kind(patch: np.ndarray) -> None:
    cfg = json.loads((ROOT / "configs" / "vdir_real.json").read_text())["degradation"]
    bank = [np.clip(patch * 255, 0, 255).astype(np.uint8)]
    a = sample_batch(bank, "denoise-real", cfg, 32, 12, np.random.default_rng(1))
    b = sample_batch(bank, "denoise-real", cfg, 32, 12, np.random.default_rng(1))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert a[1].shape == (12, 3, 32, 32) and a[2].shape == (12, 1, 32, 32)


def test_the_shipped_real_noise_config_loads() -> None:
    cfg = TrainConfig.load(ROOT / "configs" / "vdir_real.json")
    assert cfg.task == "denoise-real" and cfg.degradation["mix"]["camera"] > 0
