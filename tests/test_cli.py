"""Tests of the `patina` command line: subprocess runs of ``python -m app`` on small images.

Error paths that need a fake service (Ctrl-C, unexpected errors) call ``app.cli.main``
in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from app import cli
from app.commands import restore as restore_command
from app.core import image_io
from app.core.image_formats import to_uint
from app.core.metrics import psnr
from app.core.progress import Progress, Work
from app.ml.services.base import Service, ServiceInfo

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "chelsea.png"
SUBCOMMANDS = ("gui", "restore", "degrade", "eval", "bench", "train", "info")


def patina(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app ARGS`` and capture its output."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit code 2 and exactly one stderr line ``patina: error: ...`` containing ``words``."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("patina: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def sample_pixels(size: int = 128) -> np.ndarray:
    """A ``size`` px square crop of the bundled sample (or a synthetic picture without it)."""
    if SAMPLE.exists():
        pixels = image_io.load(SAMPLE).pixels
        y, x = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
        return np.ascontiguousarray(pixels[y : y + size, x : x + size])
    yy, xx = np.mgrid[0:size, 0:size] / size
    return np.dstack([yy, xx, (yy + xx) / 2]).astype(np.float32)


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    """A 128x128 8-bit PNG crop of the sample."""
    return image_io.save(tmp_path / "clean.png", sample_pixels())


def load(path: Path) -> np.ndarray:
    return image_io.load(path).pixels


# ----------------------------------------------------------------------------- help


def test_main_help_lists_every_subcommand() -> None:
    proc = patina("--help")
    assert proc.returncode == 0
    for name in SUBCOMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name: str) -> None:
    proc = patina(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"patina {name}" in proc.stdout and "--debug" in proc.stdout


def test_usage_error_is_one_line() -> None:
    assert_user_error(patina("restore", "in.png"), "-o/--output", "--task")
    assert_user_error(patina("degrade", "in.png", "-o", "x.png", "--sigma", "lots"), "--sigma")


def test_route_default_opens_the_window_for_files() -> None:
    assert cli.route_default([]) == ["gui"]
    assert cli.route_default(["a.jpg"]) == ["gui", "a.jpg"]
    assert cli.route_default(["--debug", "a.jpg"]) == ["gui", "--debug", "a.jpg"]
    assert cli.route_default(["restore", "a.jpg"]) == ["restore", "a.jpg"]
    assert cli.route_default(["--help"]) == ["--help"]


def test_gui_with_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    assert_user_error(patina(tmp_path / "nope.jpg"), "no such file")


# -------------------------------------------------------------------- degrade + restore


def test_degrade_then_denoise_improves_psnr(tmp_path: Path, clean: Path) -> None:
    noisy, spec, out = tmp_path / "noisy.png", tmp_path / "spec.json", tmp_path / "out.png"
    proc = patina("degrade", clean, "-o", noisy, "--sigma", "25", "--seed", "3", "--spec-out", spec)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(spec.read_text())["sigma"] == 25.0
    proc = patina("restore", noisy, "-o", out, "--task", "denoise")  # default method
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a terminal: no progress bar
    reference = load(clean)
    assert psnr(load(out), reference) > psnr(load(noisy), reference) + 2.0


def test_degrade_then_inpaint_with_mask_improves_psnr(tmp_path: Path, clean: Path) -> None:
    damaged, mask, out = tmp_path / "damaged.png", tmp_path / "mask.png", tmp_path / "out.png"
    proc = patina(
        "degrade",
        clean,
        "-o",
        damaged,
        "--spec",
        "scratches=0.7,dust=0.5,seed=2",
        "--mask-out",
        mask,
    )
    assert proc.returncode == 0, proc.stderr
    assert image_io.load_mask(mask).shape == (128, 128) and image_io.load_mask(mask).any()
    proc = patina("restore", damaged, "-o", out, "--task", "inpaint", "--mask", mask)
    assert proc.returncode == 0, proc.stderr
    reference = load(clean)
    assert psnr(load(out), reference) > psnr(load(damaged), reference) + 1.0


def test_degrade_writes_8bit_and_downscales(tmp_path: Path) -> None:
    deep = image_io.save(tmp_path / "deep.png", sample_pixels(), bit_depth=16)
    out = tmp_path / "small.png"
    proc = patina("degrade", deep, "-o", out, "--scale", "2", "--jpeg", "40")
    assert proc.returncode == 0, proc.stderr
    meta = image_io.load(out).meta
    assert meta.bit_depth == 8 and load(out).shape == (64, 64, 3)


def test_restore_refuses_to_overwrite_input_or_output(tmp_path: Path, clean: Path) -> None:
    before = clean.read_bytes()
    assert_user_error(patina("restore", clean, "-o", clean, "--task", "denoise"), "input")
    assert clean.read_bytes() == before
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    assert_user_error(
        patina("restore", clean, "-o", existing, "--task", "denoise"),
        "already exists",
        "--overwrite",
    )
    assert existing.read_bytes() == b"keep me"


def test_text_file_named_png_is_rejected(tmp_path: Path) -> None:
    fake, out = tmp_path / "fake.png", tmp_path / "out.png"
    fake.write_text("this is not an image\n")
    assert_user_error(patina("restore", fake, "-o", out, "--task", "denoise"), "fake.png")
    assert not out.exists()


def test_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    good = image_io.save(tmp_path / "good.jpg", sample_pixels())
    broken, out = tmp_path / "broken.jpg", tmp_path / "out.png"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert_user_error(patina("restore", broken, "-o", out, "--task", "denoise"), "broken.jpg")
    assert not out.exists()


def test_mask_of_wrong_size_names_both_sizes(tmp_path: Path, clean: Path) -> None:
    mask, out = tmp_path / "mask.png", tmp_path / "out.png"
    image_io.save_mask(mask, np.ones((64, 96), np.float32))
    proc = patina("restore", clean, "-o", out, "--task", "inpaint", "--mask", mask)
    assert_user_error(proc, "96x64", "128x128")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.png", "mask.png"]


def test_unknown_method_parameter_is_a_user_error(tmp_path: Path, clean: Path) -> None:
    out = tmp_path / "out.png"
    proc = patina("restore", clean, "-o", out, "--task", "denoise", "--param", "nonsense=1")
    assert_user_error(proc, "has no parameter nonsense")
    proc = patina("restore", clean, "-o", out, "--task", "upscale", "--method", "bicubic",
                  "--sigma", "25")  # fmt: skip
    assert_user_error(proc, "method bicubic has no parameter sigma")
    assert not out.exists()


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_16bit_tiff_with_icc_round_trips(tmp_path: Path) -> None:
    icc = srgb_profile()
    pixels = to_uint(sample_pixels(96), 16)
    src, out = tmp_path / "scan.tif", tmp_path / "restored.tif"
    tifffile.imwrite(src, pixels, photometric="rgb", iccprofile=icc)
    proc = patina("restore", src, "-o", out, "--task", "denoise")
    assert proc.returncode == 0, proc.stderr
    with tifffile.TiffFile(out) as tif:
        page = tif.pages.first
        assert page.dtype == np.uint16 and page.shape == (96, 96, 3)
        assert bytes(page.tags[34675].value) == icc
    assert image_io.load(out).meta.bit_depth == 16


def test_exif_rotated_jpeg_comes_out_upright_with_exif(tmp_path: Path) -> None:
    upright = np.full((96, 64, 3), 0.5, np.float32)  # 64 wide, 96 tall as displayed
    upright[:16, :16] = (1.0, 0.0, 0.0)  # red marker at the top left
    stored = np.rot90(upright, 1)  # orientation 6: the viewer turns it 90 deg clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PatinaTestCam"  # Make
    src, out = tmp_path / "rotated.jpg", tmp_path / "out.jpg"
    Image.fromarray(to_uint(np.ascontiguousarray(stored), 8)).save(
        src, exif=exif.tobytes(), quality=95
    )
    proc = patina("restore", src, "-o", out, "--task", "denoise")
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as written:
        assert written.size == (64, 96)
        tags = written.getexif()
        assert tags.get(0x0112, 1) == 1 and tags.get(0x010F) == "PatinaTestCam"
        raw = np.asarray(written.convert("RGB"), np.float32) / 255
    assert raw[4, 4, 0] > 0.8 and raw[4, 4, 1] < 0.3 and raw[-4, -4, 0] < 0.7


# ----------------------------------------------------------------------- eval / bench / info


def test_eval_writes_json_with_rows_and_means(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pixels = sample_pixels(128)
    for i, (y, x) in enumerate([(0, 0), (64, 0), (0, 64)]):
        image_io.save(data / f"im{i}.png", np.ascontiguousarray(pixels[y : y + 64, x : x + 64]))
    report = tmp_path / "report.json"
    proc = patina(
        "eval", "--task", "denoise", "--data", data, "--degrade", "sigma=25", "--json", report
    )
    assert proc.returncode == 0, proc.stderr
    assert "mean over 3 images" in proc.stdout and "ms/MP" in proc.stdout
    result = json.loads(report.read_text())
    assert result["task"] == "denoise" and result["degrade"] == "sigma=25"
    assert result["method"] and result["device"]
    assert [row["name"] for row in result["per_image"]] == ["im0.png", "im1.png", "im2.png"]
    for row in result["per_image"]:
        assert row["psnr"] > row["input_psnr"] and 0 < row["ssim"] <= 1
    assert result["mean"]["psnr"] > result["mean"]["input_psnr"]
    assert result["ms_per_mp"] > 0


def test_eval_with_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    proc = patina("eval", "--task", "denoise", "--data", tmp_path / "nope", "--degrade", "sigma=5")
    assert_user_error(proc, "not a folder")


def test_bench_on_a_tiny_size_prints_ms_per_mp(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    proc = patina("bench", "--task", "denoise", "--sizes", "0.05", "--json", report)
    assert proc.returncode == 0, proc.stderr
    assert "ms/MP" in proc.stdout and "device" in proc.stdout
    rows = json.loads(report.read_text())["results"]
    assert rows and all(r["service"].startswith("denoise/") for r in rows)
    assert all(r["ms_per_mp"] is not None or r["skipped"] for r in rows)


def test_bench_e2e_times_a_whole_restore_process(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    proc = patina(
        "bench", "--task", "denoise", "--method", "bilateral", "--sizes", "0.02", "--e2e",
        "--json", report,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "e2e s" in proc.stdout
    (row,) = json.loads(report.read_text())["results"]
    assert row["service"] == "denoise/bilateral" and row["e2e_s"] > 0


def test_info_lists_services() -> None:
    proc = patina("info")
    assert proc.returncode == 0, proc.stderr
    assert "patina " in proc.stdout and "device:" in proc.stdout
    for task in ("denoise/", "inpaint/", "upscale/", "deblock/"):
        assert task in proc.stdout
    assert "*" in proc.stdout and "classical" in proc.stdout


# ------------------------------------------------------- in-process: interrupt, crashes


class Raising(Service):
    """A service that yields one tile of progress, then raises ``error``."""

    info = ServiceInfo("denoise", "raising", "Raising")

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        yield Progress(1, 2, "denoise")
        raise self.error


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Make ``patina restore`` use :class:`Raising` with the error put in the list."""
    errors: list[BaseException] = []
    monkeypatch.setattr(restore_command, "create", lambda *a: Raising(errors[0]))
    yield errors


def test_ctrl_c_during_restore_exits_130_without_output(
    tmp_path: Path,
    clean: Path,
    fake_service: list[BaseException],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_service.append(KeyboardInterrupt())
    out = tmp_path / "out.png"
    assert cli.main(["restore", str(clean), "-o", str(out), "--task", "denoise"]) == 130
    assert not out.exists()
    assert "interrupted" in capsys.readouterr().err


def test_unexpected_error_is_short_without_debug(
    tmp_path: Path,
    clean: Path,
    fake_service: list[BaseException],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_service.append(RuntimeError("boom"))
    args = ["restore", str(clean), "-o", str(tmp_path / "out.png"), "--task", "denoise"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "Traceback" not in err
    assert cli.main([*args, "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_degrade_camera_preset_writes_its_spec(tmp_path: Path, clean: Path) -> None:
    out, spec_out = tmp_path / "cam.png", tmp_path / "cam.json"
    argv = ["degrade", str(clean), "-o", str(out), "--camera", "iso3200", "--grain", "0.2",
            "--grain-size", "1.5", "--spec-out", str(spec_out)]  # fmt: skip
    assert cli.main(argv) == 0
    spec = json.loads(spec_out.read_text())
    assert spec["camera"] == "iso3200" and spec["shot"] > 0 and spec["read"] > 0
    assert spec["grain_size"] == 1.5
    assert cli.main(["degrade", str(clean), "-o", str(tmp_path / "b.png"), "--camera", "x"]) == 2
