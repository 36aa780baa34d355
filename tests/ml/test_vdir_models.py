"""Smoke test of the shipped VDIR weights (skipped when a weights file is absent)."""

from pathlib import Path

import numpy as np
import pytest

from app.core import image_io
from app.core.degradations import DegradationSpec, degrade, quantize8
from app.core.metrics import psnr
from app.core.progress import drive
from app.training.evaluate import service_for

MODELS = Path(__file__).resolve().parents[2] / "models"
# (model id, degradation of the sample, minimum PSNR gain in dB)
SHIPPED = [
    ("vdir-denoise", DegradationSpec(sigma=25, seed=0), 3.0),
    ("vdir-deblock", DegradationSpec(jpeg=20, seed=0), 0.1),
    ("vdir-old-photo", DegradationSpec(sigma=25, seed=0), 1.0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "spec", "gain"), SHIPPED, ids=[m[0] for m in SHIPPED])
def test_shipped_model_improves_psnr(
    model_id: str, spec: DegradationSpec, gain: float, sample_path
) -> None:
    weights = MODELS / f"{model_id}.safetensors"
    if not weights.is_file():
        pytest.skip(f"{weights.name} is not shipped")
    try:
        clean = quantize8(image_io.load(sample_path("chelsea.png")).pixels)
    except FileNotFoundError:
        pytest.skip("resources/samples/chelsea.png is absent")
    noisy = degrade(clean, spec).image
    service = service_for(weights, "cpu")
    restored = drive(service.run(noisy))
    assert restored.shape == clean.shape and np.isfinite(restored).all()
    assert psnr(restored, clean) > psnr(noisy, clean) + gain


def test_manifest_lists_the_service_parameters_of_every_vdir_model() -> None:
    """The window and CLI read a model's parameters from the manifest (without loading
    torch); they must be the VDIR service's own, or a control goes missing."""
    from app.ml import registry
    from app.ml.services.vdir import PARAMS

    listed = [e for e in registry.list_services() if e.method == "vdir"]
    assert {e.task for e in listed} >= {"denoise", "deblock", "old-photo"}
    for info in listed:
        assert info.params == PARAMS, info.key
