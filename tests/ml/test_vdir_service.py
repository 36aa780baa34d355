"""VDIRService with a tiny random model: tiling, encode/restore contract, steering, seeds."""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from app.core.errors import InvalidInputError
from app.core.progress import Progress, drive
from app.ml.archs.vdir import VDIR
from app.ml.services.vdir import VDIRService, dihedral
from app.ml.steering import SteeredService
from app.training.export.vdir import save_weights
from tests.ml.test_vdir import TINY


@dataclass(frozen=True)
class Entry:
    id: str
    task: str
    file: str
    title: str = "tiny"


@pytest.fixture
def service(tmp_path: Path) -> VDIRService:
    torch.manual_seed(0)
    model = VDIR(TINY)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1) if p.dim() > 1 else torch.nn.init.uniform_(p, -0.1, 0.1)
    path = tmp_path / "tiny.safetensors"
    save_weights(model, path, {})
    return VDIRService(Entry(f"tiny-{tmp_path.name}", "denoise", str(path)), device="cpu")


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def forward(service: VDIRService, img: np.ndarray) -> np.ndarray:
    y = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        out = service.model(y, sample=False).restored
    return np.clip(out[0].permute(1, 2, 0).numpy(), 0, 1)


def test_one_tile_run_equals_one_shot_forward(service: VDIRService) -> None:
    img = image(37, 50)
    out = drive(service.run(img))
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, forward(service, img), atol=1e-5)


def test_tiled_encode_equals_one_shot_encode(service: VDIRService) -> None:
    img = image(150, 133)
    tiled = service.encode(img, tile=72)
    y = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        mean = service.model.encode(y)[0][0].permute(1, 2, 0).numpy()
    assert tiled.shape == (38, 34, 4)
    np.testing.assert_allclose(tiled, mean, atol=1e-5)


def test_tiled_encode_with_the_block_spectrum_equals_one_shot(tmp_path: Path) -> None:
    """Encoder tiles start on the 8x8 grid, so the block-DCT branch sees the same blocks."""
    torch.manual_seed(1)
    model = VDIR(replace(TINY, block_dct=True))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    path = tmp_path / "dct.safetensors"
    save_weights(model, path, {})
    service = VDIRService(Entry("tiny-dct", "deblock", str(path)), device="cpu")
    img = image(150, 133)
    y = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        mean = service.model.encode(y)[0][0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(service.encode(img, tile=76), mean, atol=1e-5)


def test_many_tiles_cover_the_image(service: VDIRService) -> None:
    img = image(150, 133)
    reports = []
    out = drive(service.run(img, tile=72), reports.append)
    assert out.shape == img.shape
    assert {r.stage for r in reports} == {"encode", "restore"}


def test_restore_with_own_latent_equals_run(service: VDIRService) -> None:
    img = image(41, 30)
    latent = service.encode(img)
    np.testing.assert_allclose(drive(service.restore(img, latent)), drive(service.run(img)),
                               atol=1e-6)  # fmt: skip
    with pytest.raises(InvalidInputError, match="latent"):
        drive(service.restore(img, latent[:-1]))


def test_seed_and_strength_params(service: VDIRService) -> None:
    img = image(32, 40)
    base = drive(service.run(img))
    s1 = drive(service.run(img, params={"seed": 3}))
    assert np.array_equal(s1, drive(service.run(img, params={"seed": 3})))
    assert not np.allclose(s1, base)
    assert np.array_equal(base, drive(service.run(img, params={"latent_strength": 1.0})))
    assert not np.allclose(drive(service.run(img, params={"latent_strength": 2.0})), base)


@pytest.mark.parametrize("params", [{"latent_strength": 1.7}, {"seed": 5, "latent_strength": 0.5}])
def test_strength_and_seed_params_agree_with_the_steered_service(
    service: VDIRService, params: dict[str, float]
) -> None:
    """One definition of the strength axis: --param latent_strength == --latent-strength."""
    img = image(40, 48)
    steered = SteeredService(service)
    expected = drive(steered.run(img, params=params))
    assert np.array_equal(drive(service.run(img, params=params)), expected)


def test_encode_with_std_and_estimate(service: VDIRService) -> None:
    mean, std = service.encode_with_std(image(24, 24))
    assert mean.shape == std.shape == (6, 6, 4) and (std > 0).all()
    est = service.estimate(mean)
    assert set(est) == {"sigma"} and np.isfinite(est["sigma"])


def test_info_and_missing_weights(tmp_path: Path) -> None:
    svc = VDIRService(Entry("gone", "deblock", str(tmp_path / "no.safetensors")), device="cpu")
    assert svc.info.key == "deblock/vdir" and svc.info.learned
    with pytest.raises(InvalidInputError, match="not found"):
        drive(svc.run(image(8, 8)))


@pytest.mark.parametrize("k", range(8))
def test_dihedral_views_are_undone_exactly(k: int) -> None:
    a = image(6, 9)
    turned = dihedral(a, k)
    assert turned.shape == ((9, 6, 3) if k % 2 else (6, 9, 3))
    np.testing.assert_array_equal(dihedral(turned, k, inverse=True), a)
    assert len({dihedral(a, j).tobytes() for j in range(8)}) == 8  # eight distinct views


def test_ensemble_is_the_mean_of_the_turned_restores(service: VDIRService) -> None:
    img = image(36, 52)  # one tile: each view is one unclipped model.restore
    latent = service.encode(img)

    def unclipped(y: np.ndarray, c: np.ndarray) -> np.ndarray:
        yt = torch.from_numpy(y.transpose(2, 0, 1).copy())[None]
        ct = torch.from_numpy(c.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            return service.model.restore(yt, ct)[0].permute(1, 2, 0).numpy()

    views = [
        dihedral(unclipped(dihedral(img, k), dihedral(latent, k)), k, inverse=True)
        for k in range(8)
    ]
    expected = np.clip(np.mean(views, axis=0), 0, 1)  # the mean of the views, then clipped
    reports: list[Progress] = []
    out = drive(service.restore(img, latent, ensemble=8), reports.append)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert not np.allclose(out, drive(service.restore(img, latent)), atol=1e-3)
    assert [r.done for r in reports] == list(range(1, 9)) and {r.total for r in reports} == {8}


def test_eightfold_ensemble_commutes_with_turning_the_photo(service: VDIRService) -> None:
    """With the latent turned along, an 8-view ensemble of a turned photo is the turned
    ensemble (up to float rounding): the views of the turned photo are the same eight."""
    img, k = image(40, 56), 5
    latent = service.encode(img)
    turned = drive(service.restore(dihedral(img, k).copy(), dihedral(latent, k).copy(), ensemble=8))
    np.testing.assert_allclose(
        turned, dihedral(drive(service.restore(img, latent, ensemble=8)), k), atol=1e-5
    )


def test_ensemble_param_reaches_plain_and_steered_runs(service: VDIRService) -> None:
    img = image(40, 48)
    plain = drive(service.run(img, params={"ensemble": "4"}))
    latent = service.encode(img)
    np.testing.assert_allclose(plain, drive(service.restore(img, latent, ensemble=4)), atol=1e-6)
    steered = SteeredService(service)
    params = steered.resolve_params({"latent_strength": 1.0, "ensemble": "4"})
    np.testing.assert_allclose(drive(steered.run(img, params=params)), plain, atol=1e-6)
    with pytest.raises(InvalidInputError):
        service.resolve_params({"ensemble": "3"})
    with pytest.raises(InvalidInputError):
        drive(service.restore(img, latent, ensemble=3))


def test_tiled_ensemble_covers_non_square_images(service: VDIRService) -> None:
    """Turned views of a non-square image tile differently; every view still lands
    back in place (mean over views of the per-view tiled restores). Sides are multiples
    of 4 here, so a view of the image is also a view of the padded image the service
    turns (otherwise the padding moves to the other side in the expected value)."""
    img = image(148, 132)
    latent = service.encode(img, tile=72)
    reports: list[Progress] = []
    out = drive(service.restore(img, latent, tile=72, ensemble=2), reports.append)
    views = [drive(service.restore(dihedral(img, k), dihedral(latent, k), tile=72)) for k in (0, 4)]
    mirrored = dihedral(views[1], 4, inverse=True)
    inside = (views[0] > 0) & (views[0] < 1) & (mirrored > 0) & (mirrored < 1)  # not clipped
    np.testing.assert_allclose(out[inside], ((views[0] + mirrored) / 2)[inside], atol=1e-5)
    assert reports[-1].done == reports[-1].total and len(reports) == reports[-1].total
