"""Old-photo pipeline with tiny/classical stages: every stage's output, recipe, masks."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core.damage import scratches
from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.ml import registry
from app.ml.classical_services import (
    BicubicUpscaler,
    GaussianDenoiser,
    NavierStokesInpainter,
    TeleaInpainter,
)
from app.ml.loading import MODELS_ENV
from app.ml.services import detect
from app.ml.services import old_photo as op
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


def test_stages_pair_each_output_with_its_recipe_entry(
    scan: tuple[np.ndarray, np.ndarray],
) -> None:
    img, truth = scan
    user = np.zeros(img.shape[:2], np.float32)
    user[5:9, 5:40] = 1
    svc = OldPhotoService(_pipeline(True))
    final = drive(svc.run(img, mask=user, params={"upscale": 2}))
    stages = svc.extra_stages
    assert [s["stage"] for s in stages] == ["probability", "mask", *op.IMAGE_STAGES]
    assert [s["kind"] for s in stages] == ["probability", "mask", "image", "image", "image"]
    assert stages[0]["entry"] is None and stages[1]["entry"]["stage"] == "detect"
    assert stages[1]["entry"]["params"]["merged"] is True
    assert np.all(stages[1]["data"] >= user)  # the given mask is never dropped
    assert [s["entry"]["stage"] for s in stages[2:]] == ["inpaint", "denoise", "upscale"]
    assert np.array_equal(stages[-1]["data"], final)


def test_stages_without_detection_have_no_mask_stage(
    scan: tuple[np.ndarray, np.ndarray],
) -> None:
    img, truth = scan
    res = drive(OldPhotoPipeline(None, TeleaInpainter()).run(img, mask=truth))
    assert [s["stage"] for s in res.stages()] == ["inpainted"]


def test_defaults_match_the_detector_and_device_follows_the_stages() -> None:
    assert op.DEFAULT_THRESHOLD == detect.DEFAULT_THRESHOLD
    assert op.DEFAULT_GROW == detect.DEFAULT_GROW
    assert OldPhotoService(_pipeline()).device == "cpu"
    gpu = GaussianDenoiser()
    gpu.device = "cuda"
    assert OldPhotoService(OldPhotoPipeline(None, TeleaInpainter(), gpu)).device == "cuda"


def test_default_pipeline_falls_back_to_telea(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "manifest.json").write_text('{"models": []}')
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    pipeline = registry.create_old_photo_pipeline("cpu")
    assert isinstance(pipeline.inpainter, TeleaInpainter)
    assert isinstance(pipeline.detector, TopHatDetector) and pipeline.restorer is None


def test_importing_the_pipeline_does_not_import_torch() -> None:
    """The window lists PIPELINE_INFO at start-up without loading torch."""
    code = "import sys, app.ml.services.old_photo as m; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_restore_choice_picks_the_grain_restorer(scan: tuple[np.ndarray, np.ndarray]) -> None:
    from app.ml.classical_services import BilateralDenoiser

    img, _ = scan
    pipeline = OldPhotoPipeline(None, NavierStokesInpainter(), GaussianDenoiser(), None,
                                BilateralDenoiser())  # fmt: skip
    grain = drive(pipeline.run(img, params={"detect": False, "restore": "grain"}))
    printed = drive(pipeline.run(img, params={"detect": False}))
    assert grain.recipe[-1]["method"] != printed.recipe[-1]["method"]
    assert grain.recipe[-1]["method"].endswith("bilateral")
    no_grain = OldPhotoPipeline(None, NavierStokesInpainter(), GaussianDenoiser())
    same = drive(no_grain.run(img, params={"detect": False, "restore": "grain"}))
    np.testing.assert_array_equal(same.final, printed.final)
    with pytest.raises(InvalidInputError, match="restore must be one of"):
        drive(pipeline.run(img, params={"restore": "sepia"}))
