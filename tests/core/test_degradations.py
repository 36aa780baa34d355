"""Tests of app.core.degradations: the spec, the pipeline and each step's statistics."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from app.core import degradations as D
from app.core.degradations import DegradationSpec, degrade
from app.core.errors import InvalidInputError

FULL = DegradationSpec(
    sigma=10,
    poisson=0.005,
    jpeg=50,
    blur=1.2,
    blur_ratio=0.5,
    blur_angle=30,
    scale=2,
    scratches=0.5,
    dust=0.5,
    tears=0.5,
    grain=0.3,
    fade=0.4,
    seed=7,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def grey() -> np.ndarray:
    return np.full((256, 256, 3), 0.5, np.float32)


@pytest.fixture
def photo() -> np.ndarray:
    """A 96x128 textured colour image in [0.1, 0.9]: gradients, stripes and a checkerboard."""
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    checker = ((x // 8 + y // 8) % 2).astype(np.float32)
    r = 0.5 + 0.3 * np.sin(x / 5.0)
    g = 0.2 + 0.6 * y / 96
    b = 0.2 + 0.6 * checker
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


# --- the spec -------------------------------------------------------------------------


def test_spec_json_round_trip() -> None:
    assert DegradationSpec.from_json(FULL.to_json()) == FULL
    assert DegradationSpec.from_dict(FULL.to_dict()) == FULL
    assert json.loads(FULL.to_json())["jpeg"] == 50
    assert DegradationSpec.from_json(DegradationSpec().to_json()) == DegradationSpec()


def test_parse_good_strings() -> None:
    spec = DegradationSpec.parse(" sigma=25, jpeg=30,seed=3 ")
    assert (spec.sigma, spec.jpeg, spec.seed) == (25.0, 30, 3)
    assert isinstance(spec.jpeg, int) and isinstance(spec.sigma, float)
    assert DegradationSpec.parse("") == DegradationSpec()
    assert DegradationSpec.parse("jpeg=none").jpeg is None
    other = DegradationSpec.parse("quantize=false,scale=2,scale_method=blur,blur_ratio=0.5")
    assert (other.quantize, other.scale, other.scale_method, other.blur_ratio) == (
        False,
        2,
        "blur",
        0.5,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sigmaa=3", "valid names: sigma, poisson"),
        ("sigma=abc", "sigma"),
        ("sigma", "name=value"),
        ("sigma=1,sigma=2", "twice"),
        ("sigma=300", "sigma must be"),
        ("jpeg=0", "jpeg"),
        ("jpeg=high", "jpeg"),
        ("scale=2.5", "scale"),
        ("scale=9", "scale"),
        ("blur_ratio=0", "blur_ratio"),
        ("scale_method=lanczos", "bicubic"),
        ("quantize=maybe", "quantize"),
        ("seed=-1", "seed"),
        ("fade=nan", "fade"),
    ],
)
def test_parse_bad_strings_say_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        DegradationSpec.parse(text)


def test_from_dict_and_json_reject_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="unknown degradation parameter 'noise'"):
        DegradationSpec.from_dict({"noise": 3})
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        DegradationSpec.from_json("{sigma: 3")
    with pytest.raises(InvalidInputError, match="mapping"):
        DegradationSpec.from_json("[1, 2]")
    with pytest.raises(InvalidInputError, match="sigma"):
        DegradationSpec.from_dict({"sigma": True})


def test_validate_catches_directly_built_specs(photo: np.ndarray) -> None:
    DegradationSpec().validate()
    FULL.validate()
    for bad in (DegradationSpec(sigma=-1), DegradationSpec(jpeg=101), DegradationSpec(scale=0)):
        with pytest.raises(InvalidInputError):
            bad.validate()
        with pytest.raises(InvalidInputError):
            degrade(photo, bad)


def test_is_identity() -> None:
    assert DegradationSpec().is_identity()
    assert DegradationSpec(quantize=False, blur_angle=30, seed=9).is_identity()
    assert not DegradationSpec(sigma=1).is_identity()
    assert not DegradationSpec(jpeg=95).is_identity()
    assert not DegradationSpec(scale=2).is_identity()
    assert not FULL.is_identity()


# --- the pipeline ---------------------------------------------------------------------


def test_degrade_is_deterministic_per_seed(photo: np.ndarray) -> None:
    first, again = degrade(photo, FULL), degrade(photo, FULL)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.mask, again.mask)
    other = degrade(photo, DegradationSpec(**{**FULL.to_dict(), "seed": 8}))
    assert not np.array_equal(first.image, other.image)
    assert not np.array_equal(first.mask, other.mask)


def test_enabling_a_step_keeps_other_steps_randomness(photo: np.ndarray) -> None:
    noisy = degrade(photo, DegradationSpec(sigma=10, seed=5))
    dusty = degrade(photo, DegradationSpec(sigma=10, dust=0.5, seed=5))
    outside = dusty.mask == 0
    assert dusty.mask.any() and outside.any()
    np.testing.assert_array_equal(noisy.image[outside], dusty.image[outside])


def test_degrade_output_contract(photo: np.ndarray) -> None:
    before = photo.copy()
    image = photo[:95, :125]  # not divisible by the scale
    out = degrade(image, DegradationSpec(**{**FULL.to_dict(), "scale": 3}))
    assert out.image.shape == (31, 41, 3) and out.mask.shape == (31, 41)
    assert out.image.dtype == np.float32 and out.mask.dtype == np.float32
    assert out.image.min() >= 0.0 and out.image.max() <= 1.0
    assert set(np.unique(out.mask)) <= {0.0, 1.0} and out.mask.any()
    np.testing.assert_array_equal(photo, before)


def test_identity_spec_only_quantizes(photo: np.ndarray) -> None:
    out = degrade(photo, DegradationSpec())
    np.testing.assert_array_equal(out.image, D.quantize8(photo))
    assert not out.mask.any()
    raw = degrade(photo, DegradationSpec(quantize=False))
    np.testing.assert_array_equal(raw.image, photo)


def test_no_quantize_clips_to_unit_range(grey: np.ndarray) -> None:
    out = degrade(grey, DegradationSpec(sigma=80, quantize=False)).image
    assert out.min() == 0.0 and out.max() == 1.0
    assert not np.allclose(out * 255, np.round(out * 255), atol=1e-3)


@pytest.mark.parametrize(
    "image",
    [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32), np.zeros((8, 8, 4), np.float32)],
)
def test_degrade_rejects_bad_images(image: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        degrade(image, DegradationSpec(sigma=5))


# --- noise, quantization, JPEG --------------------------------------------------------


def test_gaussian_noise_std_matches_sigma(grey: np.ndarray, rng: np.random.Generator) -> None:
    noise = D.add_gaussian_noise(grey, 25, rng) - grey
    assert noise.dtype == np.float32
    assert abs(noise.std() / (25 / 255) - 1) < 0.05
    assert abs(noise.mean()) < 0.01


def test_poisson_noise_std_follows_signal(rng: np.random.Generator) -> None:
    for level in (0.25, 0.81):
        img = np.full((256, 256, 3), level, np.float32)
        shot = D.add_poisson_gaussian(img, 0.01, 0.0, rng) - img
        assert abs(shot.std() / math.sqrt(0.01 * level) - 1) < 0.05
    img = np.full((256, 256, 3), 0.5, np.float32)
    both = D.add_poisson_gaussian(img, 0.01, 20, rng) - img
    assert abs(both.std() / math.sqrt(0.005 + (20 / 255) ** 2) - 1) < 0.05


def test_quantize8_is_on_the_8bit_grid(rng: np.random.Generator) -> None:
    img = rng.uniform(-0.2, 1.2, (32, 32, 3)).astype(np.float32)
    q = D.quantize8(img)
    assert q.dtype == np.float32 and q.min() >= 0.0 and q.max() <= 1.0
    np.testing.assert_allclose(q * 255, np.round(q * 255), atol=1e-4)
    inside = (img > 0) & (img < 1)
    assert np.abs(q - img)[inside].max() <= 0.5 / 255 + 1e-6


def test_jpeg_lower_quality_lower_psnr(photo: np.ndarray) -> None:
    low, high = D.jpeg_compress(photo, 10), D.jpeg_compress(photo, 90)
    assert low.shape == photo.shape and low.dtype == np.float32
    assert psnr(low, photo) < psnr(high, photo) - 3
    np.testing.assert_allclose(high * 255, np.round(high * 255), atol=1e-4)


def test_jpeg_keeps_channel_order() -> None:
    red = np.zeros((32, 32, 3), np.float32)
    red[..., 0] = 0.9
    out = D.jpeg_compress(red, 75)
    assert out[..., 0].mean() > 0.8 and out[..., 2].mean() < 0.1


def test_jpeg_rejects_bad_quality(photo: np.ndarray) -> None:
    for quality in (0, 101):
        with pytest.raises(InvalidInputError):
            D.jpeg_compress(photo, quality)


# --- blur and scale -------------------------------------------------------------------


def test_blur_reduces_high_frequencies(rng: np.random.Generator) -> None:
    img = rng.random((64, 64, 3)).astype(np.float32)
    for ratio, angle in ((1.0, 0.0), (0.4, 30.0)):
        out = D.gaussian_blur(img, 2.0, ratio, angle)
        assert out.shape == img.shape and out.dtype == np.float32
        energy = [np.var(cv2.Laplacian(a, cv2.CV_32F)) for a in (img, out)]
        assert energy[1] < 0.1 * energy[0]
        assert abs(out.mean() - img.mean()) < 0.01


def test_blur_zero_is_identity(photo: np.ndarray) -> None:
    np.testing.assert_array_equal(D.gaussian_blur(photo, 0.0), photo)


def test_isotropic_blur_matches_its_kernel(photo: np.ndarray) -> None:
    direct = cv2.filter2D(photo, -1, D.blur_kernel(1.5), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(D.gaussian_blur(photo, 1.5), direct, atol=1e-5)


def principal_angle(kernel: np.ndarray) -> float:
    """Major axis direction in degrees, counter-clockwise from the displayed horizontal."""
    r = kernel.shape[0] // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    up = -y  # rows grow downwards; flip to the usual mathematical orientation
    cov = np.array(
        [
            [np.sum(kernel * x * x), np.sum(kernel * x * up)],
            [np.sum(kernel * x * up), np.sum(kernel * up * up)],
        ]
    )
    vals, vecs = np.linalg.eigh(cov)
    vx, vy = vecs[:, np.argmax(vals)]
    return math.degrees(math.atan2(vy, vx)) % 180


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 135.0])
def test_anisotropic_kernel_is_normalised_and_elongated(angle: float) -> None:
    k = D.blur_kernel(3.0, 0.3, angle)
    assert k.dtype == np.float32 and k.ndim == 2
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1 and 17 <= k.shape[0] <= 21
    assert abs(float(k.sum()) - 1.0) < 1e-5
    got = principal_angle(k)
    assert min(abs(got - angle), 180 - abs(got - angle)) < 2.0


def test_blur_kernel_shape_and_identity() -> None:
    iso = D.blur_kernel(1.0)
    np.testing.assert_allclose(iso, iso.T, atol=1e-7)
    np.testing.assert_array_equal(D.blur_kernel(0.0), np.ones((1, 1), np.float32))
    assert D.blur_kernel(0.2).shape == (3, 3)


def test_anisotropic_blur_spreads_an_impulse_along_the_angle() -> None:
    img = np.zeros((41, 41, 3), np.float32)
    img[20, 20] = 1.0
    out = D.gaussian_blur(img, 3.0, 0.2, 0.0)[..., 0]
    assert out[20, 26] > 5 * out[26, 20]  # spread along x (angle 0), not along y


@pytest.mark.parametrize("method", ["bicubic", "blur"])
@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_downscale_shape_and_range(photo: np.ndarray, method: str, factor: int) -> None:
    out = D.downscale(photo[:95, :127], factor, method)
    assert out.shape == (95 // factor, 127 // factor, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    flat = D.downscale(np.full((40, 40, 3), 0.3, np.float32), factor, method)
    np.testing.assert_allclose(flat, 0.3, atol=1e-5)


def test_downscale_rejects_too_large_factor(photo: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        D.downscale(photo[:2, :2], 3)


# --- film look ------------------------------------------------------------------------


def test_film_grain_is_correlated_and_strongest_in_midtones(rng: np.random.Generator) -> None:
    grain = D.film_grain(np.full((128, 128, 3), 0.5, np.float32), 0.5, rng) - 0.5
    assert abs(grain.std() / 0.05 - 1) < 0.1
    g = grain[..., 1]
    assert np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1] > 0.3
    assert np.corrcoef(grain[..., 0].ravel(), grain[..., 2].ravel())[0, 1] > 0.5
    dark = D.film_grain(np.full((128, 128, 3), 0.03, np.float32), 0.5, rng) - 0.03
    assert dark.std() < 0.6 * grain.std()


def test_fade_lowers_contrast_lifts_blacks_and_warms(photo: np.ndarray) -> None:
    out = D.fade(photo, 1.0)
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() < 0.85 * photo.std()
    black = D.fade(np.zeros((4, 4, 3), np.float32), 1.0)
    assert black.min() > 0.05
    mid = D.fade(np.full((4, 4, 3), 0.7, np.float32), 1.0)[0, 0]
    assert mid[0] > mid[2] + 0.05  # red above blue: a warm, yellowed cast
    np.testing.assert_array_equal(D.fade(photo, 0.0), photo)


# --- damage ---------------------------------------------------------------------------

DAMAGE = [D.scratches, D.dust, D.torn_corners]


@pytest.mark.parametrize("step", DAMAGE)
def test_damage_mask_is_exactly_the_changed_pixels(photo: np.ndarray, step: D.DamageFn) -> None:
    for seed in range(3):
        out, mask = step(photo, 0.6, np.random.default_rng(seed))
        assert out.shape == photo.shape and mask.shape == photo.shape[:2]
        assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, 1.0}
        outside = mask == 0
        np.testing.assert_array_equal(out[outside], photo[outside])
        change = np.abs(out - photo).max(axis=2)
        assert change[~outside].min() > 1 / 255


@pytest.mark.parametrize("step", DAMAGE)
def test_damage_off_changes_nothing(photo: np.ndarray, step: D.DamageFn) -> None:
    out, mask = step(photo, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, photo)
    assert mask.shape == photo.shape[:2] and not mask.any()


@pytest.mark.parametrize("step", DAMAGE)
def test_damage_small_amount_still_damages(grey: np.ndarray, step: D.DamageFn) -> None:
    _, mask = step(grey[:64, :64], 0.01, np.random.default_rng(3))
    assert mask.any()


def test_degrade_mask_is_union_at_output_size(photo: np.ndarray) -> None:
    spec = DegradationSpec(scratches=0.5, dust=0.5, scale=2, seed=2)
    out = degrade(photo, spec)
    assert out.mask.shape == (48, 64) and out.mask.any()
    scratched = degrade(photo, DegradationSpec(scratches=0.5, scale=2, seed=2)).mask
    assert np.all(out.mask >= scratched)


def test_random_holes(rng: np.random.Generator) -> None:
    mask = D.random_holes((128, 96, 3), 32, 3, rng)
    assert mask.shape == (128, 96) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert 32 * 32 <= mask.sum() <= 3 * 32 * 32
    big = D.random_holes((16, 16), 32, 1, rng)
    assert big.all()
    np.testing.assert_array_equal(
        D.random_holes((64, 64), 8, 4, np.random.default_rng(5)),
        D.random_holes((64, 64), 8, 4, np.random.default_rng(5)),
    )
