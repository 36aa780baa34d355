"""REINFORCE for the routing pathfinder on a toy table (no data, no VDIR model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.evaluation.routing import Table, sigma_map
from app.ml.archs.pathfinder import FEATURES, Pathfinder
from app.ml.routing import load_pathfinder
from app.training.route_train import (
    FitConfig,
    difficulty,
    expected_loss,
    fit,
    policy_summary,
    reinforce_step,
    rewards,
    save_pathfinder,
)


def toy_table(n: int = 2000, seed: int = 0) -> Table:
    """Feature 0 > 0 marks hard regions, where the full path is clearly better than quick;
    feature 1 > 0.5 marks noise-free ones, where the input is already as good."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, FEATURES)).astype(np.float32)
    hard, clean = feats[:, 0] > 0, feats[:, 1] > 0.5
    full = np.full(n, 1e-3)
    quick = np.where(hard, 1.2e-3, 1.0005e-3)
    bypass = np.where(clean, 1e-3, 1e-2)
    l2 = np.stack([bypass, quick, full], 1)
    return Table(feats, l2, np.zeros(n), np.arange(n))


def test_difficulty_is_linear_below_l0_and_logarithmic_above() -> None:
    np.testing.assert_allclose(difficulty(np.array([0.5, 1.0, np.e]), 1.0), [0.5, 1.0, 2.0])


def test_rewards_charge_p_per_unit_of_path_cost() -> None:
    table = toy_table(10)
    r0, r1 = rewards(table, 0.0), rewards(table, 1e-4)
    np.testing.assert_allclose(r0[:, 0] - r1[:, 0], 0.0)
    np.testing.assert_allclose(r0[:, 2] - r1[:, 2], 1e-4)
    assert (r0[:, 0] == 0).all()  # bypass gains nothing over the input


def test_a_reinforce_step_lowers_the_loss_on_a_toy_table() -> None:
    table = toy_table()
    feats = torch.from_numpy(table.features)
    raw = rewards(table, 5e-5)
    reward = torch.from_numpy(raw / raw.std()).float()
    torch.manual_seed(0)
    model = Pathfinder()
    model.fit_normaliser(feats)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    before = expected_loss(model, feats, reward)
    for _ in range(50):
        reinforce_step(model, opt, feats, reward, gen, entropy=0.0)
    assert expected_loss(model, feats, reward) < before


def test_fit_learns_to_spend_the_full_path_on_hard_regions(tmp_path: Path) -> None:
    table = toy_table()
    log: list[dict[str, float]] = []
    model = fit(table, FitConfig(p=5e-5, steps=600, batch=256), log)
    assert log[-1]["loss"] < log[0]["loss"]
    with torch.no_grad():
        action = model(torch.from_numpy(table.features)).argmax(1).numpy()
    hard, clean = table.features[:, 0] > 0, table.features[:, 1] > 0.5
    assert np.mean(action[hard & ~clean] == 2) > 0.9
    assert np.mean(action[~hard & ~clean] == 1) > 0.9
    assert np.mean(action[clean] == 0) > 0.6
    assert 0 < policy_summary(model, table)["cost"] < 1
    save_pathfinder(model, tmp_path / "pf.safetensors", {"p": 5e-5})
    again = load_pathfinder(tmp_path / "pf.safetensors")
    x = torch.from_numpy(table.features[:5])
    torch.testing.assert_close(again(x), model(x))


def test_noise_maps_stay_in_range() -> None:
    rng = np.random.default_rng(0)
    for kind in ("uniform", "linear", "peaks"):
        sigma = sigma_map(kind, (40, 60), rng)
        assert sigma.shape == (40, 60) and sigma.min() >= 0 and sigma.max() <= 75
