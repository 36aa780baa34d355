"""Tests for app.ml.classical_services (services) and app.ml.classical_operators (operators)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from app.core.errors import InvalidInputError
from app.core.metrics import psnr
from app.core.progress import Progress, drive
from app.ml import classical_operators as ops
from app.ml.classical_services import CLASSICAL_SERVICES, DEFAULT_METHODS, ClassicalService
from app.ml.services.base import Service

SERVICES = {cls.info.key: cls for cls in CLASSICAL_SERVICES}


def smooth_image(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A float32 photo-like test image: smooth gradients, a few edges, mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / 9) * np.cos(yy / 13)], axis=2)
    base[h // 3 : 2 * h // 3, w // 4 : w // 2] = (0.8, 0.3, 0.2)
    texture = cv2.GaussianBlur(rng.normal(0, 0.03, (h, w, 3)).astype(np.float32), (0, 0), 1.0)
    return np.clip(0.1 + 0.8 * base + texture, 0, 1).astype(np.float32)


def cartoon_image(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """Piecewise-smooth float32 image (gradients and discs): what JPEG deblocking is for."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack(
        [0.2 + 0.6 * xx / w, 0.3 + 0.4 * yy / h, 0.5 + 0.2 * np.sin(xx / 17 + yy / 23)], axis=2
    )
    for _ in range(6):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(6, 25)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    return np.clip(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.8), 0, 1)


def noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    """8-bit protocol: add N(0, sigma/255), round to 8-bit levels, clip."""
    rng = np.random.default_rng(seed)
    out = np.clip(np.rint((img + rng.normal(0, sigma / 255, img.shape)) * 255), 0, 255) / 255
    return out.astype(np.float32)


def run(service: Service, img: np.ndarray, mask: np.ndarray | None = None, **kw: object):
    reports: list[Progress] = []
    params = {k: v for k, v in kw.items() if k != "tile"}
    tile = int(kw.get("tile", 512))  # type: ignore[call-overload]
    out = drive(service.run(img, mask=mask, params=params, tile=tile), reports.append)
    return out, reports


def test_every_task_has_a_default_and_methods_are_unique() -> None:
    assert len(SERVICES) == len(CLASSICAL_SERVICES)
    for task, method in DEFAULT_METHODS.items():
        assert f"{task}/{method}" in SERVICES
    for cls in CLASSICAL_SERVICES:
        assert cls.info.title and cls.info.description and not cls.info.learned
        assert cls().device == "cpu"


@pytest.mark.parametrize("key", sorted(SERVICES))
@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (33, 70), (130, 97)])
def test_shapes_dtype_and_progress(key: str, shape: tuple[int, int]) -> None:
    service = SERVICES[key]()
    img = smooth_image(*shape)
    mask = None
    if service.info.uses_mask:
        mask = np.zeros(shape, np.float32)
        mask[shape[0] // 3 : shape[0] // 2 + 1, shape[1] // 3 : shape[1] // 2 + 1] = 1
    out, reports = run(service, img, mask, tile=64)
    s = service.output_scale({})
    assert out.shape == (shape[0] * s, shape[1] * s, 3)
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert reports and [r.done for r in reports] == list(range(1, len(reports) + 1))
    assert all(r.stage == service.info.task for r in reports)


def test_16bit_derived_input() -> None:
    img16 = np.rint(smooth_image(40, 50) * 65535) / 65535
    img = img16.astype(np.float32)
    for key in ("denoise/bilateral", "upscale/lanczos", "deblock/jpeg-filter"):
        out, _ = run(SERVICES[key](), img)
        assert out.dtype == np.float32 and np.isfinite(out).all()


def test_tiled_denoise_has_no_seams() -> None:
    """Tiled and untiled bilateral agree (sigma fixed once, tiles blended)."""
    img = noisy(smooth_image(150, 170), 20)
    service = SERVICES["denoise/bilateral"]()
    whole, _ = run(service, img, sigma=20.0, tile=1024)
    tiled, reports = run(service, img, sigma=20.0, tile=64)
    assert len(reports) > 4
    assert np.abs(whole - tiled).max() < 0.02
    assert psnr(whole, tiled) > 45


@pytest.mark.parametrize("key", ["denoise/bilateral", "denoise/nlmeans", "denoise/gaussian"])
def test_denoisers_improve_psnr(key: str) -> None:
    clean = smooth_image(96, 128)
    degraded = noisy(clean, 25)
    out, _ = run(SERVICES[key](), degraded, sigma=25.0)
    assert psnr(out, clean) > psnr(degraded, clean) + 3


def test_blind_sigma_is_used_when_negative() -> None:
    clean = smooth_image(96, 128)
    degraded = noisy(clean, 25)
    service = SERVICES["denoise/bilateral"]()
    blind, _ = run(service, degraded)  # default sigma = -1
    known, _ = run(service, degraded, sigma=25.0)
    assert psnr(blind, clean) > psnr(degraded, clean) + 3
    assert psnr(blind, known) > 35


def test_zero_sigma_is_identity() -> None:
    img = smooth_image(20, 30)
    out, _ = run(SERVICES["denoise/bilateral"](), img, sigma=0.0)
    assert np.array_equal(out, img)


def test_sigma_out_of_range() -> None:
    with pytest.raises(InvalidInputError):
        run(SERVICES["denoise/bilateral"](), smooth_image(8, 8), sigma=101.0)


@pytest.mark.parametrize("sigma", [5, 15, 30, 50])
def test_estimate_noise_sigma(sigma: int) -> None:
    clean = smooth_image(200, 200)
    est = ops.estimate_noise_sigma(noisy(clean, sigma, seed=sigma))
    assert est == pytest.approx(sigma, rel=0.15, abs=1.5)


def test_estimate_noise_sigma_grey_and_clean() -> None:
    clean = smooth_image(200, 200)
    grey = clean.mean(axis=2, keepdims=True)
    rng = np.random.default_rng(3)
    g = np.clip(np.rint((grey + rng.normal(0, 20 / 255, grey.shape)) * 255), 0, 255) / 255
    est = ops.estimate_noise_sigma(np.repeat(g, 3, axis=2).astype(np.float32))
    assert est == pytest.approx(20, rel=0.15)
    assert ops.estimate_noise_sigma(clean) < 3
    assert ops.estimate_noise_sigma(clean[:2, :2]) == 0.0


def test_grey_image_stays_grey() -> None:
    clean = smooth_image(64, 64).mean(axis=2, keepdims=True).repeat(3, axis=2)
    degraded = noisy(clean[..., :1], 20).repeat(3, axis=2)
    for key in ("denoise/bilateral", "denoise/nlmeans"):
        out, _ = run(SERVICES[key](), degraded, sigma=20.0)
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
        assert psnr(out, clean) > psnr(degraded, clean) + 3


def test_opponent_transform_is_orthonormal() -> None:
    img = smooth_image(10, 10)
    assert np.allclose(ops.from_opponent(ops.to_opponent(img)), img, atol=1e-6)
    noise = np.random.default_rng(0).normal(0, 1, (200_000, 3)).astype(np.float32)
    assert np.allclose(ops.to_opponent(noise).std(axis=0), 1.0, atol=0.01)


# --- deblock ---------------------------------------------------------------------------


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    return ops.jpeg_roundtrip(ops.to_uint8(img), quality).astype(np.float32) / 255


@pytest.mark.parametrize("quality", [10, 20])
def test_jpeg_filter_beats_the_jpeg(quality: int) -> None:
    clean = cartoon_image(96, 128)
    compressed = jpeg(clean, quality)
    service = SERVICES["deblock/jpeg-filter"]()
    out, _ = run(service, compressed, quality=quality, tile=64)
    assert psnr(out, clean) > psnr(compressed, clean) + 0.2
    blind, _ = run(service, compressed, tile=64)  # quality detected: same result
    assert np.array_equal(blind, out)


def test_jpeg_filter_leaves_high_quality_alone() -> None:
    compressed = jpeg(cartoon_image(32, 32), 90)
    out, _ = run(SERVICES["deblock/jpeg-filter"](), compressed, quality=90)
    assert np.array_equal(out, compressed)


@pytest.mark.parametrize("quality", [10, 25, 50, 75])
def test_estimate_jpeg_quality(quality: int) -> None:
    compressed = jpeg(cartoon_image(128, 160, seed=2), quality)
    assert ops.estimate_jpeg_quality(compressed) == quality


def test_estimate_jpeg_quality_finds_a_shifted_grid() -> None:
    compressed = jpeg(cartoon_image(136, 168, seed=4), 20)[3:, 5:]
    assert ops.block_grid(compressed)[:2] == (13, 11)  # 16 - 3, 16 - 5 (4:2:0 macroblocks)
    assert ops.estimate_jpeg_quality(compressed) == 20


def test_guess_jpeg_quality_without_blocking_leaves_the_image_alone() -> None:
    clean = cartoon_image(96, 96)
    assert ops.guess_jpeg_quality(clean) == 100
    out, _ = run(SERVICES["deblock/jpeg-filter"](), clean)
    assert np.array_equal(out, clean)


def test_guess_jpeg_quality_from_blockiness() -> None:
    """A JPEG with non-libjpeg (flat) tables has no exact quality but strong blocking."""
    clean = cartoon_image(128, 160, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(ops.to_uint8(clean)).save(buffer, "JPEG", qtables=[[50] * 64, [80] * 64])
    custom = np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255
    assert ops.estimate_jpeg_quality(custom) is None
    assert ops.guess_jpeg_quality(custom) == 10


def test_estimate_jpeg_quality_none_without_jpeg() -> None:
    assert ops.estimate_jpeg_quality(smooth_image(96, 96)) is None
    assert ops.estimate_jpeg_quality(smooth_image(8, 8)) is None


# --- upscale ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["upscale/bicubic", "upscale/lanczos"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_scale_param(key: str, scale: int) -> None:
    service = SERVICES[key]()
    assert service.info.scale == 0
    assert service.output_scale({"scale": scale}) == scale
    img = smooth_image(41, 29)
    out, _ = run(service, img, scale=scale, tile=32)
    assert out.shape == (41 * scale, 29 * scale, 3)
    interpolation = cv2.INTER_CUBIC if key.endswith("bicubic") else cv2.INTER_LANCZOS4
    ref = np.clip(cv2.resize(img, (29 * scale, 41 * scale), interpolation=interpolation), 0, 1)
    assert psnr(out, ref) > 45  # tiles blend to the whole-image resize
    small = cv2.resize(out, (29, 41), interpolation=cv2.INTER_AREA)
    assert psnr(small, img) > 30


def test_upscale_scale_out_of_range() -> None:
    with pytest.raises(InvalidInputError):
        SERVICES["upscale/bicubic"]().output_scale({"scale": 5})


# --- inpaint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["inpaint/telea", "inpaint/navier-stokes", "inpaint/harmonic", "inpaint/biharmonic"]
)
def test_inpaint_fills_holes_and_keeps_known_pixels(key: str) -> None:
    clean = smooth_image(120, 140)
    mask = np.zeros((120, 140), np.float32)
    mask[60:70, 60:75] = 1.0  # straddles a tile boundary with tile=64 (overlap 32)
    mask[10:12, :] = 1.0  # a scratch across several tiles
    damaged = clean.copy()
    damaged[mask > 0] = 1.0
    out, reports = run(SERVICES[key](), damaged, mask, tile=64)
    assert len(reports) > 1
    known = mask == 0
    assert np.array_equal(out[known], damaged[known])
    holes = mask > 0
    err_filled = np.abs(out[holes] - clean[holes]).mean()
    err_damaged = np.abs(damaged[holes] - clean[holes]).mean()
    assert err_filled < 0.25 * err_damaged


def test_inpaint_soft_mask_blends() -> None:
    img = smooth_image(40, 40)
    mask = np.zeros((40, 40), np.float32)
    mask[15:25, 15:25] = 0.5
    out, _ = run(SERVICES["inpaint/telea"](), img, mask)
    fill = ops.inpaint_opencv(img, mask, 3, cv2.INPAINT_TELEA)
    np.testing.assert_allclose(out, 0.5 * fill + 0.5 * img, atol=1e-6)


def test_inpaint_needs_a_mask_of_the_right_size() -> None:
    service = SERVICES["inpaint/telea"]()
    with pytest.raises(InvalidInputError):
        run(service, smooth_image(20, 20))
    with pytest.raises(InvalidInputError):
        run(service, smooth_image(20, 20), np.zeros((20, 21), np.float32))


def test_empty_mask_returns_the_image() -> None:
    img = smooth_image(30, 30)
    out, _ = run(SERVICES["inpaint/biharmonic"](), img, np.zeros((30, 30), np.float32))
    assert np.array_equal(out, img)


def test_classical_services_are_classical() -> None:
    assert all(issubclass(cls, ClassicalService) for cls in CLASSICAL_SERVICES)


def test_harmonic_inpainting_reproduces_a_linear_ramp() -> None:
    """A linear ramp is harmonic, so the Laplace fill of a hole in it is the ramp itself."""
    yy, xx = np.mgrid[0:64, 0:80].astype(np.float32)
    ramp = np.dstack([0.2 + xx / 200, 0.3 + yy / 150, 0.5 + (xx - yy) / 400]).astype(np.float32)
    mask = np.zeros((64, 80), np.float32)
    mask[20:44, 30:54] = 1.0
    damaged = ramp.copy()
    damaged[mask > 0] = 0.0
    out, _ = run(SERVICES["inpaint/harmonic"](), damaged, mask)
    assert np.abs(out - ramp).max() < 0.01
