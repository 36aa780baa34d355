"""The shipped learned inpainting model on the freely licensed samples: the likelihood
refinement (K = 5) must beat the plain network (K = 1) and OpenCV Telea inside 32 px
holes, and keep every known pixel (skipped when the weights are not shipped)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.core import damage, image_io
from app.core.degradations import quantize8
from app.core.progress import drive
from app.evaluation.inpaint import FileEntry, opencv_8bit
from app.ml.services.inpaint import InpaintService

WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "dlnet-inpaint.safetensors"
SAMPLES = ("astronaut.jpg", "chelsea.png", "coffee.png")


def _hole_mse(out: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    return float((((quantize8(out) - clean) ** 2) * mask[:, :, None]).sum() / (3 * mask.sum()))


@pytest.mark.slow
def test_shipped_inpainting_refinement_beats_k1_and_telea(sample_path) -> None:  # noqa: ANN001
    if not WEIGHTS.is_file():
        pytest.skip("dlnet-inpaint is not shipped")
    service = InpaintService(FileEntry(str(WEIGHTS)), "cpu")
    errors: dict[str, float] = {"telea": 0.0, "k1": 0.0, "k5": 0.0}
    for i, name in enumerate(SAMPLES):
        clean = quantize8(image_io.load(sample_path(name)).pixels)
        mask = damage.random_holes(clean.shape, 32, 3, np.random.default_rng(i))
        y = clean * (1 - mask[:, :, None])
        for k in (1, 5):
            out = drive(service.run(y, mask=mask, params={"k": k}))
            assert np.array_equal(out[mask == 0], y[mask == 0])
            errors[f"k{k}"] += _hole_mse(out, clean, mask)
        errors["telea"] += _hole_mse(opencv_8bit(y, mask, cv2.INPAINT_TELEA), clean, mask)
    assert errors["k5"] < errors["k1"]
    assert errors["k5"] < errors["telea"]
