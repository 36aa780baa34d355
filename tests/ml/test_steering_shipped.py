"""The strength direction of the shipped denoiser (skipped when its weights are absent).

Over 0..1.5 more strength leaves less noise; beyond about 2 the residual noise level
plateaus while the picture gets smoother (docs/steering.md), so the test stays below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import image_io
from app.core.degradations import DegradationSpec, degrade, quantize8
from app.core.progress import drive
from app.ml.services.vdir import VDIRService
from app.ml.steering import SteeredService
from app.ml.steering.edit import LatentEdit
from app.ml.steering.views import noise_level
from tests.ml.tiny_vdir import Entry

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "vdir-denoise.safetensors"


@pytest.mark.slow
def test_more_strength_leaves_less_noise(sample_path) -> None:  # noqa: ANN001
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS.name} is not shipped")
    try:
        clean = quantize8(image_io.load(sample_path("chelsea.png")).pixels[60:220, 120:320])
    except FileNotFoundError:
        pytest.skip("resources/samples/chelsea.png is absent")
    noisy = degrade(clean, DegradationSpec(sigma=30, seed=0)).image
    base = VDIRService(Entry("vdir-denoise", "denoise", str(WEIGHTS)), device="cpu")
    left = [noise_level(drive(SteeredService(base, LatentEdit(strength=s)).run(noisy)))
            for s in (0.25, 1.0, 1.5)]  # fmt: skip
    assert left[0] > left[1] > left[2], f"residual noise by strength: {left}"
    assert left[0] < noise_level(noisy)
