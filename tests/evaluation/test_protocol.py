"""Tests for app.evaluation (protocol, images, bench): the evaluation protocol, scoring,
reports and the benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core import image_io
from app.core.degradations import DegradationSpec
from app.core.errors import InvalidInputError
from app.core.progress import Work
from app.core.tiling import process_tiled
from app.evaluation.bench import bench_service, image_shape, synthetic_image
from app.evaluation.images import list_images
from app.evaluation.protocol import (
    EvalSetup,
    eval_report,
    evaluate,
    parse_holes,
    prepare_case,
    service_params,
    summarize,
)
from app.ml.services.base import ParamSpec, Service, ServiceInfo


class Identity(Service):
    """Returns its input (or a nearest-neighbour enlargement for ``scale``); records params."""

    def __init__(self, task: str = "denoise", scale: int = 1, uses_mask: bool = False) -> None:
        params = (ParamSpec("sigma", 25.0, 0.0, 255.0), ParamSpec("strength", 1.0, 0.0, 2.0))
        self.info = ServiceInfo(
            task, "identity", "Identity", scale=scale, uses_mask=uses_mask, params=params
        )
        self.seen: list[dict[str, Any]] = []

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        self.seen.append(params)
        scale = self.info.scale

        def op(t: np.ndarray) -> np.ndarray:
            return np.repeat(np.repeat(t, scale, axis=0), scale, axis=1)

        return (yield from process_tiled(image, op, tile=tile, overlap=8, scale=scale))


def write_images(folder: Path, count: int = 3, size: int = 48) -> list[Path]:
    """``count`` small RGB PNGs with different content; returns their paths."""
    paths = []
    for i in range(count):
        image = synthetic_image((size, size + 8 * i), seed=i)
        paths.append(image_io.save(folder / f"img{i}.png", image))
    return paths


def test_list_images_sorts_filters_and_limits(tmp_path: Path) -> None:
    write_images(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(tmp_path)] == ["img0.png", "img1.png", "img2.png"]
    assert [p.name for p in list_images(tmp_path, limit=2)] == ["img0.png", "img1.png"]


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no images"):
        list_images(tmp_path)
    with pytest.raises(InvalidInputError, match="not a folder"):
        list_images(tmp_path / "missing")


def test_parse_holes() -> None:
    assert parse_holes("32x8") == (32, 8)
    for bad in ("32", "axb", "0x3", "3x4x5"):
        with pytest.raises(InvalidInputError, match="SIZExCOUNT|positive"):
            parse_holes(bad)


def test_prepare_case_is_seeded_and_8bit() -> None:
    clean = synthetic_image((40, 40), seed=1) + np.float32(0.3 / 255)  # off the 8-bit grid
    setup = EvalSetup("denoise", DegradationSpec(sigma=25))
    a, b = prepare_case(clean, setup, seed=5), prepare_case(clean, setup, seed=5)
    c = prepare_case(clean, setup, seed=6)
    np.testing.assert_array_equal(a.degraded, b.degraded)
    assert not np.array_equal(a.degraded, c.degraded)
    for image in (a.clean, a.degraded):
        np.testing.assert_allclose(image * 255, np.round(image * 255), atol=1e-3)
    assert a.mask is None


def test_prepare_case_float_mode_keeps_float() -> None:
    clean = synthetic_image((40, 40), seed=1)
    case = prepare_case(clean, EvalSetup("denoise", DegradationSpec(sigma=25), float_mode=True), 0)
    assert np.abs(case.degraded * 255 - np.round(case.degraded * 255)).max() > 0.01


def test_prepare_case_upscale_crops_to_a_multiple() -> None:
    clean = synthetic_image((42, 45), seed=0)
    case = prepare_case(clean, EvalSetup("upscale", DegradationSpec(scale=4)), 0)
    assert case.clean.shape == (40, 44, 3)
    assert case.degraded.shape == (10, 11, 3)


def test_prepare_case_inpaint_holes_and_damage() -> None:
    clean = synthetic_image((64, 64), seed=0)
    holes = prepare_case(clean, EvalSetup("inpaint", DegradationSpec(), holes=(8, 3)), 0)
    assert holes.mask is not None and 64 <= holes.mask.sum() <= 3 * 64
    assert np.all(holes.degraded[holes.mask > 0] == 1.0)
    damage = prepare_case(clean, EvalSetup("inpaint", DegradationSpec(scratches=0.8)), 0)
    assert damage.mask is not None and damage.mask.any()
    with pytest.raises(InvalidInputError, match="--holes"):
        prepare_case(clean, EvalSetup("inpaint", DegradationSpec(sigma=10)), 0)


def test_service_params_passes_known_degradation_and_overrides() -> None:
    service = Identity()
    setup = EvalSetup("denoise", DegradationSpec(sigma=15, jpeg=30), params={"strength": "0.5"})
    assert service_params(service, setup) == {"sigma": 15.0, "strength": "0.5"}
    with pytest.raises(InvalidInputError, match="has no parameter radius"):
        service_params(service, EvalSetup("denoise", DegradationSpec(), params={"radius": 3}))


def test_evaluate_identity_scores_equal_the_input(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 3)
    service = Identity()
    rows = list(evaluate(service, paths, EvalSetup("denoise", DegradationSpec(sigma=25, seed=7))))
    assert [r.name for r in rows] == ["img0.png", "img1.png", "img2.png"]
    for row in rows:
        assert row.scores["psnr"] == pytest.approx(row.scores["input_psnr"])
        assert 15 < row.scores["psnr"] < 25 and 0 < row.scores["ssim"] < 1
        assert row.ms >= 0 and row.megapixels == pytest.approx(row.width * row.height / 1e6)
    assert service.seen[-1]["sigma"] == 25.0


def test_evaluate_upscale_and_deblock_report_y(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 1, size=64)
    up = Identity("upscale", scale=2)
    (row,) = evaluate(up, paths, EvalSetup("upscale", DegradationSpec(scale=2)))
    assert {"psnr", "ssim", "psnr_y", "ssim_y"} <= set(row.scores)
    assert "input_psnr" not in row.scores
    assert (row.height, row.width) == (64, 64)
    (row,) = evaluate(Identity("deblock"), paths, EvalSetup("deblock", DegradationSpec(jpeg=20)))
    assert {"psnr_y", "ssim_y", "input_psnr"} <= set(row.scores)


def test_evaluate_inpaint_reports_mask_psnr(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 2, size=64)
    service = Identity("inpaint", uses_mask=True)
    rows = list(evaluate(service, paths, EvalSetup("inpaint", DegradationSpec(), holes=(8, 4))))
    for row in rows:
        assert row.scores["psnr_mask"] < row.scores["psnr"]


def test_summarize_and_report_are_json(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 3)
    service = Identity()
    setup = EvalSetup("denoise", DegradationSpec(sigma=25))
    rows = list(evaluate(service, paths, setup))
    summary = summarize(rows)
    assert summary["mean"]["psnr"] == pytest.approx(np.mean([r.scores["psnr"] for r in rows]))
    report = eval_report(service, "sigma=25", setup, rows)
    text = json.dumps(report, allow_nan=False)
    data = json.loads(text)
    assert data["task"] == "denoise" and data["method"] == "identity"
    assert data["degrade"] == "sigma=25" and data["device"] == "cpu"
    assert len(data["per_image"]) == 3 and data["per_image"][0]["name"] == "img0.png"
    assert set(data["mean"]) >= {"psnr", "ssim"} and data["ms_per_mp"] > 0


def test_image_shape_and_synthetic_image() -> None:
    h, w = image_shape(1.0)
    assert abs(h * w - 1e6) < 2000 and w > h
    image = synthetic_image((20, 30), seed=0)
    assert image.shape == (20, 30, 3) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1
    with pytest.raises(InvalidInputError):
        image_shape(0)


def test_bench_service_times_and_skips() -> None:
    (result,) = bench_service(Identity(), [0.01], probe_mp=0.005)
    assert result.skipped is None and result.ms is not None and result.ms_per_mp is not None
    assert result.as_dict()["service"] == "denoise/identity"
    up = list(bench_service(Identity("upscale", scale=2), [0.02], probe_mp=0.005))
    assert up[0].megapixels == pytest.approx(0.02, rel=0.1)  # output size
    (slow,) = bench_service(Identity(), [0.01], max_seconds=0.0, probe_mp=0.005)
    assert slow.skipped is not None and slow.skipped.startswith("slow")
    assert slow.ms is None and slow.ms_per_mp is None


def test_bench_inpaint_gets_a_mask() -> None:
    (result,) = bench_service(Identity("inpaint", uses_mask=True), [0.01], probe_mp=0.005)
    assert result.ms is not None


def test_real_pairs_are_scored_as_given(tmp_path: Path) -> None:
    from app.cli import main

    clean_dir, noisy_dir = tmp_path / "clean", tmp_path / "noisy"
    clean_dir.mkdir()
    noisy_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        clean = np.full((24, 32, 3), 0.5, np.float32)
        noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
        image_io.save(clean_dir / f"{name}.png", clean, bit_depth=8)
        image_io.save(noisy_dir / f"{name}.jpg", noisy, bit_depth=8, quality=98)
    out = tmp_path / "r.json"
    argv = ["eval", "--task", "denoise", "--method", "gaussian", "--data", str(clean_dir),
            "--noisy", str(noisy_dir), "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["per_image"]] == ["a.png", "b.png"]
    assert 24.0 < report["mean"]["input_psnr"] < 28.0  # sigma 0.05 ~ 26 dB, not re-degraded
    (noisy_dir / "b.jpg").unlink()
    assert main(argv[:-2]) == 2  # b has no pair: a one-line error
    assert main([*argv[:-2], "--degrade", "sigma=5"]) == 2  # one protocol at a time
