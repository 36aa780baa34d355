"""Tests of the camera-noise pipeline (app.core.camera_noise), film grain knobs
(app.core.film) and their place in DegradationSpec."""

from __future__ import annotations

import numpy as np
import pytest

from app.core import camera_noise as C
from app.core import film
from app.core.degradations import DegradationSpec, degrade
from app.core.errors import InvalidInputError


@pytest.fixture
def ramp() -> np.ndarray:
    """A smooth colour image: horizontal and vertical ramps, no noise."""
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    return np.stack([x / 127, y / 95, 0.5 + 0.3 * np.sin(x / 20)], axis=2).astype(np.float32)


def test_mosaic_is_rggb() -> None:
    img = np.zeros((4, 4, 3), np.float32)
    img[..., 0], img[..., 1], img[..., 2] = 0.9, 0.5, 0.1
    raw = C.mosaic(img)
    assert raw[0, 0] == pytest.approx(0.9) and raw[1, 1] == pytest.approx(0.1)
    assert raw[0, 1] == pytest.approx(0.5) and raw[1, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("method", C.DEMOSAIC_METHODS)
@pytest.mark.parametrize("shape", [(32, 48), (33, 47)])
def test_demosaic_inverts_the_mosaic_of_flat_colour(method: str, shape: tuple[int, int]) -> None:
    img = np.empty((*shape, 3), np.float32)
    img[...] = (0.8, 0.4, 0.1)
    out = C.demosaic(C.mosaic(img), method)
    assert out.shape == img.shape
    np.testing.assert_allclose(out, img, atol=1e-4)


def test_edge_aware_demosaic_beats_bilinear_on_edges() -> None:
    img = np.zeros((64, 64, 3), np.float32)
    img[:, 32:] = (0.9, 0.7, 0.5)
    err = {m: np.abs(C.demosaic(C.mosaic(img), m) - img).mean() for m in C.DEMOSAIC_METHODS}
    assert err["ea"] < err["bilinear"]


def test_tone_curve_round_trip(ramp: np.ndarray) -> None:
    back = C.linear_to_srgb(C.srgb_to_linear(ramp))
    np.testing.assert_allclose(back, ramp, atol=1e-5)


def test_noise_is_signal_dependent_in_linear_light() -> None:
    shot, read = 0.1, 0.01
    stds = []
    for level in (0.05, 0.5):
        lin = np.full((128, 128, 3), level, np.float32)
        raw = C.mosaic(lin)
        std = C.noise_std_linear(raw, shot, read)
        stds.append(float(std.mean()))
        assert stds[-1] == pytest.approx(np.sqrt(shot**2 * level + read**2), rel=1e-5)
    assert stds[1] > 2 * stds[0]


def test_pipeline_noise_grows_with_iso_and_is_spatially_correlated() -> None:
    grey = np.full((128, 128, 3), 0.5, np.float32)
    prev = 0.0
    for name in ("iso100", "iso800", "iso6400"):
        shot, read = C.preset(name)
        noise = C.camera_pipeline_noise(grey, shot, read, np.random.default_rng(3)) - grey
        std = float(noise.std())
        assert std > prev
        prev = std
    # demosaicking correlates neighbours: adjacent green-channel noise is positively correlated
    g = noise[..., 0]
    corr = np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1]
    assert corr > 0.2


def test_pipeline_without_noise_changes_little(ramp: np.ndarray) -> None:
    out = C.camera_pipeline_noise(ramp, 0.0, 0.0, np.random.default_rng(0))
    assert np.abs(out - ramp).mean() < 0.01
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_effective_sigma_map_recovers_awgn() -> None:
    clean = np.full((128, 128, 3), 0.5, np.float32)
    noisy = clean + np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32) * 0.1
    est = C.effective_sigma_map(clean, noisy)
    assert est.shape == (128, 128)
    assert float(est.mean()) == pytest.approx(25.5, rel=0.05)


def test_preset_rejects_unknown_names() -> None:
    with pytest.raises(InvalidInputError, match="iso3200"):
        C.preset("iso99999")


def test_spec_camera_preset_fills_shot_and_read() -> None:
    spec = DegradationSpec.parse("camera=iso3200,seed=2")
    assert (spec.shot, spec.read) == C.ISO_PRESETS["iso3200"]
    explicit = DegradationSpec.parse("camera=iso3200,shot=0.05")
    assert explicit.shot == 0.05 and explicit.read == 0.0
    assert not spec.is_identity()
    assert DegradationSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [("camera=iso7", "unknown camera preset"), ("demosaic=vng", "demosaic must be one of"),
     ("shot=0.9", "shot must be"), ("grain_size=0", "grain_size must be")],
)  # fmt: skip
def test_spec_rejects_bad_camera_and_grain_values(text: str, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        DegradationSpec.parse(text)


def test_degrade_with_camera_noise_is_seeded(ramp: np.ndarray) -> None:
    spec = DegradationSpec.parse("camera=iso1600,jpeg=90,seed=5")
    a, b = degrade(ramp, spec).image, degrade(ramp, spec).image
    np.testing.assert_array_equal(a, b)
    other = degrade(ramp, DegradationSpec.parse("camera=iso1600,jpeg=90,seed=6")).image
    assert not np.array_equal(a, other)
    assert 5.0 < float(np.abs(a - ramp).mean() * 255) < 20.0


def test_grain_size_sets_the_clump_size() -> None:
    grey = np.full((256, 256, 3), 0.5, np.float32)
    rng = np.random.default_rng

    def corr_at(size: float, lag: int) -> float:
        g = film.film_grain(grey, 0.5, rng(1), size=size)[..., 1] - 0.5
        return float(np.corrcoef(g[:, :-lag].ravel(), g[:, lag:].ravel())[0, 1])

    assert corr_at(2.5, 3) > corr_at(0.8, 3) + 0.3
    # amplitude does not depend on the size
    fine = film.film_grain(grey, 0.5, rng(1), size=0.8).std()
    coarse = film.film_grain(grey, 0.5, rng(1), size=2.5).std()
    assert coarse == pytest.approx(fine, rel=0.15)


def test_grain_color_zero_is_monochrome() -> None:
    grey = np.full((64, 64, 3), 0.5, np.float32)
    mono = film.film_grain(grey, 0.5, np.random.default_rng(2), color=0.0)
    np.testing.assert_allclose(mono[..., 0], mono[..., 2], atol=1e-6)
    colour = film.film_grain(grey, 0.5, np.random.default_rng(2), color=1.0)
    assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 0.01
