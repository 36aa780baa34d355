"""Smoke test of the shipped VDIR weights (skipped when a weights file is absent)."""

from pathlib import Path

import numpy as np
import pytest

from app.core import image_io
from app.core.degradations import DegradationSpec, degrade, quantize8
from app.core.metrics import psnr
from app.core.progress import drive
from app.evaluation.vdir import service_for

MODELS = Path(__file__).resolve().parents[2] / "models"
OLD_PHOTO = DegradationSpec(fade=0.3, blur=0.8, grain=0.3, sigma=15, jpeg=60, seed=0)
# (model id, degradation of the sample, minimum PSNR gain in dB) on the whole chelsea.png;
# measured (one thread): denoise +12.12, deblock +1.007 (the denoiser's weights there:
# +0.048), old-photo on its own chain +3.40 (the denoiser's weights: -0.01). The tighter
# gates on fixed crops, with the swapped-weights checks: tests/ml/test_quality_gates.py.
SHIPPED = [
    ("vdir-denoise", DegradationSpec(sigma=25, seed=0), 11.0),
    ("vdir-deblock", DegradationSpec(jpeg=20, seed=0), 0.7),
    ("vdir-old-photo", OLD_PHOTO, 2.6),
]


def degraded_sample(sample_path, spec: DegradationSpec) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(clean, degraded) chelsea.png, 8-bit; skips the test when the sample is absent."""
    try:
        clean = quantize8(image_io.load(sample_path("chelsea.png")).pixels)
    except FileNotFoundError:
        pytest.skip("resources/samples/chelsea.png is absent")
    return clean, degrade(clean, spec).image


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "spec", "gain"), SHIPPED, ids=[m[0] for m in SHIPPED])
def test_shipped_model_improves_psnr(
    model_id: str, spec: DegradationSpec, gain: float, sample_path
) -> None:
    weights = MODELS / f"{model_id}.safetensors"
    if not weights.is_file():
        pytest.skip(f"{weights.name} is not shipped")
    clean, noisy = degraded_sample(sample_path, spec)
    service = service_for(weights, "cpu")
    restored = drive(service.run(noisy))
    assert restored.shape == clean.shape and np.isfinite(restored).all()
    assert psnr(restored, clean) > psnr(noisy, clean) + gain


def test_every_shipped_model_is_listed_with_its_services_own_parameters() -> None:
    """The window and CLI list a model's parameters without loading torch; they must be
    the ones its service takes, or a control goes missing."""
    from app.ml import registry

    models = registry.list_models()
    assert {m.arch for m in models} >= {"vdir", "dlnet-inpaint"}
    for entry in models:
        service = registry.create_service(entry.task, entry.id, device="cpu")
        assert entry.info.params == service.info.params, entry.id
        assert entry.info.description == service.info.description, entry.id


def test_inpainting_defaults_are_dlnets() -> None:
    from app.ml.dlnet import PAPER_GAMMA, PAPER_K
    from app.ml.services.specs import INPAINT_PARAMS

    defaults = {p.name: p.default for p in INPAINT_PARAMS}
    assert (defaults["k"], defaults["gamma"]) == (PAPER_K, PAPER_GAMMA)


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "spec", "gain"), SHIPPED, ids=[m[0] for m in SHIPPED])
def test_quick_preview_restorer_follows_its_full_model(
    model_id: str, spec: DegradationSpec, gain: float, sample_path
) -> None:
    """The quick restorer the window previews with restores the full model's own latent
    (its encoder is checked to be the full model's) nearly as well as the full one."""
    from app.ml import registry

    entry = next((e for e in registry.list_models() if e.id == model_id), None)
    if entry is None or not entry.preview:
        pytest.skip(f"{model_id} ships no quick preview restorer")
    clean, noisy = degraded_sample(sample_path, spec)
    full = registry.create_service(entry.task, entry.id, device="cpu")
    quick = full.quick()  # type: ignore[attr-defined]
    assert quick is not full and quick.restorer_model is not full.model
    latent = full.encode(noisy)  # type: ignore[attr-defined]
    slow = psnr(drive(full.restore(noisy, latent)), clean)  # type: ignore[attr-defined]
    fast = psnr(drive(quick.restore(noisy, latent)), clean)
    assert fast > psnr(noisy, clean) + gain
    assert fast > slow - 1.0
