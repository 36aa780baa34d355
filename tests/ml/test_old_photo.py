"""Old-photo pipeline with tiny/classical stages: every stage's output, recipe, masks."""

import numpy as np
import pytest

from app.core.damage import scratches
from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.ml.classical import BicubicUpscaler, GaussianDenoiser, NavierStokesInpainter
from app.ml.services.detect import TopHatDetector
from app.ml.services.old_photo import OldPhotoPipeline, OldPhotoService


@pytest.fixture
def scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((96, 120, 3), 0.5, np.float32) + rng.normal(0, 0.01, (96, 120, 3))
    damaged, mask = scratches(img.astype(np.float32).clip(0, 1), 0.5, rng)
    return damaged, mask


def _pipeline(upscale: bool = False) -> OldPhotoPipeline:
    return OldPhotoPipeline(
        TopHatDetector(level=0.1), NavierStokesInpainter(), GaussianDenoiser(),
        BicubicUpscaler() if upscale else None,
    )  # fmt: skip


def test_all_stages_and_recipe(scan: tuple[np.ndarray, np.ndarray]) -> None:
    img, truth = scan
    stages = []
    res = drive(_pipeline(True).run(img, params={"upscale": 2}), lambda p: stages.append(p.stage))
    assert res.probability is not None and res.probability.shape == img.shape[:2]
    assert (res.mask * truth).sum() > 0.5 * truth.sum()
    assert res.inpainted is not None and res.restored is not None
    assert res.final.shape == (192, 240, 3)
    assert [e["stage"] for e in res.recipe] == ["detect", "inpaint", "denoise", "upscale"]
    assert {"detect", "inpaint", "denoise", "upscale"} <= set(stages)
    keep = res.mask == 0
    assert np.array_equal(res.inpainted[keep], img[keep])


def test_user_mask_without_detection(scan: tuple[np.ndarray, np.ndarray]) -> None:
    img, truth = scan
    res = drive(_pipeline().run(img, mask=truth, params={"detect": False}))
    assert res.probability is None
    assert np.array_equal(res.mask, truth)
    assert res.recipe[0]["stage"] == "inpaint"


def test_service_wrapper_needs_a_mask_without_detection(
    scan: tuple[np.ndarray, np.ndarray],
) -> None:
    img, truth = scan
    svc = OldPhotoService(_pipeline())
    with pytest.raises(InvalidInputError):
        drive(svc.run(img, params={"detect": False}))
    out = drive(svc.run(img, mask=truth, params={"detect": False}))
    assert out.shape == img.shape and svc.last is not None


def test_no_damage_skips_inpainting() -> None:
    img = np.full((64, 64, 3), 0.5, np.float32)
    res = drive(_pipeline().run(img))
    assert res.inpainted is None and res.mask.sum() == 0
