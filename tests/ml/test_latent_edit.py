"""LatentEdit data and the numpy arithmetic of apply_edit (no model involved)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.ml.steering.edit import (
    CROP_ALIGN,
    FACTOR,
    Interpolation,
    LatentEdit,
    LatentRef,
    Transplant,
    apply_edit,
    cells,
    hashed_normal,
    load_strength_map,
    pool_map,
    quantize_map,
    save_strength_map,
)


def latents(h: int = 10, w: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal((h, w, 4), dtype=np.float32)
    std = rng.random((h, w, 4), dtype=np.float32)
    direction = rng.standard_normal((h, w, 4), dtype=np.float32)
    return mean, std, direction


def test_edit_round_trips_through_json() -> None:
    edit = LatentEdit(
        strength=1.7,
        gains=(1.0, 0.5, 1.0, 2.0),
        offsets=(0.0, 0.1, -0.2, 0.0),
        transplant=Transplant(LatentRef("region", (0, 4, 16, 20)), apply_to=(8, 8, 40, 40)),
        interpolation=Interpolation(LatentRef("image", path="/tmp/other.png"), t=0.25),
        sample=True,
        seed=7,
        strength_map="layer:Latent strength",
    )
    data = json.loads(json.dumps(edit.to_dict()))
    assert data["transplant"]["apply_to"] == [8, 8, 40, 40]
    assert LatentEdit.from_dict(data) == edit
    glob = LatentEdit(transplant=Transplant(LatentRef("region", (0, 0, 4, 4))))
    assert glob.to_dict()["transplant"]["apply_to"] == "global"
    assert LatentEdit.from_dict(json.loads(json.dumps(glob.to_dict()))) == glob


def test_bad_edits_are_refused_with_a_message() -> None:
    with pytest.raises(InvalidInputError, match="unknown"):
        LatentEdit.from_dict({"strenght": 2})
    with pytest.raises(InvalidInputError, match="gains"):
        LatentEdit(gains=(1.0, 1.0))
    with pytest.raises(InvalidInputError, match="rectangle"):
        LatentRef("region")
    with pytest.raises(InvalidInputError, match="source"):
        LatentRef("somewhere", (0, 0, 4, 4))
    with pytest.raises(InvalidInputError, match="t must"):
        Interpolation(LatentRef("image", path="x.png"), 1.5)


def test_neutral_edit_returns_the_mean_exactly() -> None:
    mean, std, direction = latents()
    assert np.array_equal(apply_edit(mean, std, LatentEdit(), None), mean)
    assert np.array_equal(apply_edit(mean, std, LatentEdit(), direction), mean)


def test_strength_moves_along_the_direction() -> None:
    mean, std, direction = latents()
    out = apply_edit(mean, std, LatentEdit(strength=2.5), direction)
    np.testing.assert_allclose(out, mean + 1.5 * direction, rtol=1e-6)
    with pytest.raises(InvalidInputError, match="direction"):
        apply_edit(mean, std, LatentEdit(strength=2.0), None)


def test_channel_gain_and_offset_then_reset_is_exact() -> None:
    mean, std, direction = latents()
    edit = LatentEdit().with_channel(2, gain=1.5, offset=-0.3)
    out = apply_edit(mean, std, edit, direction)
    np.testing.assert_allclose(out[..., 2], mean[..., 2] * 1.5 - 0.3, rtol=1e-6)
    assert np.array_equal(out[..., [0, 1, 3]], mean[..., [0, 1, 3]])
    reset = edit.with_channel(2, gain=1.0, offset=0.0)
    assert reset == LatentEdit() and np.array_equal(apply_edit(mean, std, reset, direction), mean)


def test_strength_map_changes_only_painted_cells() -> None:
    mean, std, direction = latents(10, 12)
    smap = np.full((40, 48), 0.5, np.float32)
    smap[8:16, 20:28] = 1.0  # cells rows 2..3, cols 5..6
    out = apply_edit(mean, std, LatentEdit(map_gain=1.0), direction, smap)
    changed = np.any(out != mean, axis=2)
    assert changed[2:4, 5:7].all() and changed.sum() == 4
    np.testing.assert_allclose(out[2, 5], mean[2, 5] + direction[2, 5], rtol=1e-6)


def test_transplant_globally_and_into_a_region() -> None:
    mean, std, direction = latents(10, 12)
    vector = np.array([1.0, -1.0, 0.5, 2.0], np.float32)
    part = Transplant(LatentRef("region", (0, 0, 8, 8)))
    everywhere = apply_edit(
        mean, std, LatentEdit(transplant=part), None, sources={"transplant": vector}
    )
    assert np.array_equal(everywhere, np.broadcast_to(vector, mean.shape))
    boxed = Transplant(LatentRef("region", (0, 0, 8, 8)), apply_to=(4, 8, 12, 16))
    out = apply_edit(mean, std, LatentEdit(transplant=boxed), None, sources={"transplant": vector})
    inside = np.zeros(mean.shape[:2], bool)
    inside[1:3, 2:4] = True
    assert np.array_equal(out[inside], np.broadcast_to(vector, (4, 4)))
    assert np.array_equal(out[~inside], mean[~inside])
    with pytest.raises(InvalidInputError, match="resolved"):
        apply_edit(mean, std, LatentEdit(transplant=part), None)


def test_interpolation_blends_toward_the_other_latent() -> None:
    mean, std, _ = latents()
    other = np.zeros_like(mean)
    edit = LatentEdit(interpolation=Interpolation(LatentRef("image", path="b.png"), t=0.25))
    out = apply_edit(mean, std, edit, None, sources={"interpolation": other})
    np.testing.assert_allclose(out, 0.75 * mean, rtol=1e-6)


def test_sampling_is_seeded_and_crop_consistent() -> None:
    mean, std, _ = latents(20, 24)
    edit = LatentEdit(sample=True, seed=3)
    whole = apply_edit(mean, std, edit, None)
    assert not np.array_equal(whole, mean)
    assert np.array_equal(whole, apply_edit(mean, std, edit, None))
    crop = apply_edit(mean[5:15, 3:20], std[5:15, 3:20], edit, None, origin=(20, 12))
    assert np.array_equal(crop, whole[5:15, 3:20])


def test_hashed_noise_does_not_depend_on_the_crop() -> None:
    whole = hashed_normal((150, 170), 3, (0, 0), seed=5)
    part = hashed_normal((70, 90), 3, (37, 61), seed=5)
    assert np.array_equal(part, whole[37:107, 61:151])
    assert not np.array_equal(whole, hashed_normal((150, 170), 3, (0, 0), seed=6))
    assert abs(float(whole.std()) - 1.0) < 0.05


def test_pool_map_and_cells() -> None:
    smap = np.arange(8 * 9, dtype=np.float32).reshape(8, 9) / 100
    pooled = pool_map(smap, (2, 3))
    assert pooled.shape == (2, 3)
    assert pooled[0, 0] == pytest.approx(smap[:4, :4].mean())
    assert pooled[1, 2] == pytest.approx(
        np.pad(smap, ((0, 0), (0, 3)), mode="edge")[4:8, 8:12].mean()
    )
    assert cells((4, 8, 12, 17), (0, 0), (10, 10)) == (slice(1, 3), slice(2, 5))
    assert cells((4, 8, 12, 17), (4, 8), (10, 10)) == (slice(0, 2), slice(0, 3))


def test_strength_map_png_round_trip_is_exact(tmp_path: Path) -> None:
    smap = np.random.default_rng(1).random((21, 34), dtype=np.float32)
    path = save_strength_map(tmp_path / "map.png", smap)
    assert np.array_equal(load_strength_map(path, (21, 34)), quantize_map(smap))
    with pytest.raises(InvalidInputError, match="34x21"):
        load_strength_map(path, (20, 34))


def test_auto_step_follows_the_estimate_within_bounds() -> None:
    from app.ml.steering.edit import auto_step

    assert auto_step(3.0) == 15.0 and auto_step(26.04) == 26.0 and auto_step(70.0) == 40.0
    assert auto_step(None) == 15.0 and auto_step(float("nan")) == 15.0
    with pytest.raises(InvalidInputError, match="step"):
        LatentEdit(steer_sigma=0.0)


def test_crops_align_to_the_encoders_block_grid() -> None:
    from app.ml.archs.vdir import ALIGN

    assert CROP_ALIGN == ALIGN and CROP_ALIGN % FACTOR == 0


def test_camera_like_noise_is_correlated_unit_and_crop_independent() -> None:
    from app.ml.steering.edit import camera_like_normal

    whole = camera_like_normal((150, 170), 3, (0, 0), seed=5)
    part = camera_like_normal((70, 90), 3, (37, 61), seed=5)
    np.testing.assert_array_equal(part, whole[37:107, 61:151])
    assert float(whole.std()) == pytest.approx(1.0, rel=0.05)
    g = whole[..., 1]
    assert np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1] > 0.4


def test_noisier_kinds() -> None:
    from app.ml.steering.edit import noisier

    grey = np.full((64, 64, 3), 0.5, np.float32)
    white = noisier(grey, (0, 0), 20.0, 1) - grey
    camera = noisier(grey, (0, 0), 20.0, 1, "camera") - grey
    assert float(white.std() * 255) == pytest.approx(20.0, rel=0.1)
    assert float(camera.std() * 255) == pytest.approx(20.0, rel=0.1)
    with pytest.raises(InvalidInputError, match="steering noise"):
        noisier(grey, (0, 0), 20.0, 1, "pink")
