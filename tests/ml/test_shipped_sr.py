"""The shipped DL-Net upscaler on a fixed crop of a freely licensed sample: told the blur,
it must beat bicubic at x2 and x4, sharp and blurred (skipped when not shipped)."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core import image_io
from app.core.degradations import DegradationSpec, degrade, quantize8
from app.core.metrics import psnr
from app.core.progress import drive
from app.ml.classical_services import BicubicUpscaler
from app.ml.services.upscale import UpscaleService

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "dlnet-sr.safetensors"


@dataclass(frozen=True)
class FileEntry:
    file: str
    id: str = "shipped-sr"
    task: str = "upscale"
    title: str = ""


@pytest.mark.slow
@pytest.mark.parametrize(("scale", "blur"), [(2, 0.0), (2, 2.6), (4, 0.0), (4, 2.6)])
def test_shipped_upscaler_beats_bicubic(sample_path, scale: int, blur: float) -> None:  # noqa: ANN001
    if not WEIGHTS.is_file():
        pytest.skip("dlnet-sr is not shipped")
    clean = quantize8(image_io.load(sample_path("chelsea.png")).pixels)[:192, 96:288]
    lr = degrade(clean, DegradationSpec(scale=scale, blur=blur)).image
    ours = drive(UpscaleService(FileEntry(str(WEIGHTS)), "cpu").run(
        lr, params={"scale": scale, "blur": blur}
    ))  # fmt: skip
    base = drive(BicubicUpscaler().run(lr, params={"scale": scale}))
    score = {
        name: psnr(quantize8(out), clean, crop=scale, y_channel=True)
        for name, out in (("ours", ours), ("bicubic", base))
    }
    assert score["ours"] > score["bicubic"] + 0.1, score


BLIND_WEIGHTS = WEIGHTS.with_name("vdir-sr.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize(("scale", "blur"), [(2, 1.3), (4, 1.3), (4, 2.6)])
def test_shipped_blind_upscaler_beats_bicubic_untold(sample_path, scale: int, blur: float) -> None:  # noqa: ANN001
    if not BLIND_WEIGHTS.is_file():
        pytest.skip("vdir-sr is not shipped")
    from app.ml.services.upscale_blind import BlindUpscaleService

    clean = quantize8(image_io.load(sample_path("chelsea.png")).pixels)[:192, 96:288]
    lr = degrade(clean, DegradationSpec(scale=scale, blur=blur)).image
    service = BlindUpscaleService(FileEntry(str(BLIND_WEIGHTS), id="shipped-vdir-sr"), "cpu")
    ours = drive(service.run(lr, params={"scale": scale}))
    base = drive(BicubicUpscaler().run(lr, params={"scale": scale}))
    score = {
        name: psnr(quantize8(out), clean, crop=scale, y_channel=True)
        for name, out in (("ours", ours), ("bicubic", base))
    }
    assert score["ours"] > score["bicubic"] + 0.1, score
    assert service.last_blur is not None and 0.0 <= service.last_blur <= 3.0
