"""`patina latent` and the latent options of `patina restore`, in-process on a tiny VDIR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import cli
from app.commands import latent as latent_command
from app.commands import restore as restore_command
from app.core import image_io
from app.core.progress import drive
from app.ml.recipe import RestoreRecipe, read_sidecar, write_sidecar
from app.ml.steering import SteeredService
from app.ml.steering.edit import LatentEdit, LatentRef, Transplant, quantize_map, save_strength_map
from tests.ml.tiny_vdir import TinyVDIRService, tiny_service
from tests.ui.fakes import InvertService


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch) -> TinyVDIRService:
    service = tiny_service()
    monkeypatch.setattr(restore_command, "create", lambda *a: service)
    monkeypatch.setattr(latent_command, "_create", lambda *a: service)
    return service


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    yy, xx = np.mgrid[0:72, 0:88] / 88.0
    rng = np.random.default_rng(0)
    img = np.dstack([0.5 + 0.3 * np.sin(7 * xx), 0.4 + 0.3 * yy, (xx + yy) / 2])
    img = np.clip(img + rng.normal(0, 0.08, img.shape), 0, 1).astype(np.float32)
    return image_io.save(tmp_path / "photo.png", img, bit_depth=16)


def restore(*args: str | Path) -> int:
    return cli.main(["restore", *map(str, args)])


def test_latent_dump_has_mean_std_and_sigma(base, photo: Path, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "latents.npz"
    assert cli.main(["latent", str(photo), "--out", str(out)]) == 0
    data = np.load(out)
    assert set(data.files) == {"mean", "std", "sigma", "sigma_map"}
    assert data["mean"].shape == data["std"].shape == (18, 22, 4)
    assert data["sigma_map"].shape == (18, 22) and data["sigma"].shape == ()
    pixels = image_io.load(photo).pixels
    np.testing.assert_allclose(data["mean"], base.encode(pixels), atol=1e-6)
    assert float(data["sigma"]) == pytest.approx(base.estimate(data["mean"])["sigma"], rel=1e-5)


def test_latent_dump_reports_quality_for_deblock(monkeypatch, photo: Path, tmp_path: Path) -> None:  # noqa: ANN001
    service = tiny_service(task="deblock")
    monkeypatch.setattr(latent_command, "_create", lambda *a: service)
    out = tmp_path / "q.npz"
    assert cli.main(["latent", str(photo), "--out", str(out), "--task", "deblock"]) == 0
    assert {"quality", "quality_map"} <= set(np.load(out).files)


def test_latent_options_need_a_vdir_method(monkeypatch, photo, tmp_path, capsys) -> None:  # noqa: ANN001
    monkeypatch.setattr(restore_command, "create", lambda *a: InvertService())
    code = restore(photo, "-o", tmp_path / "o.png", "--task", "denoise", "--latent-strength", "2")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "VDIR" in err[0] and "denoise/invert" in err[0]
    monkeypatch.setattr(latent_command, "_create", lambda *a: InvertService())
    assert cli.main(["latent", str(photo), "--out", str(tmp_path / "x.npz")]) == 2


def test_strength_and_map_options_match_the_api(base, photo: Path, tmp_path: Path) -> None:  # noqa: ANN001
    pixels = image_io.load(photo).pixels
    smap = np.full(pixels.shape[:2], 0.5, np.float32)
    smap[10:40, 20:60] = 0.9
    map_path = save_strength_map(tmp_path / "map.png", smap)
    out = tmp_path / "out.png"
    args = ["--task", "denoise", "--latent-strength", "1.8", "--latent-map", map_path]
    assert restore(photo, "-o", out, *args, "--bit-depth", "16") == 0
    expected = drive(SteeredService(base, LatentEdit(strength=1.8), quantize_map(smap)).run(pixels))
    got = image_io.load(out).pixels
    assert np.abs(got - expected).max() <= 1 / 65535 + 1e-7
    assert restore(photo, "-o", tmp_path / "bad.png", "--task", "denoise",
                   "--latent-strength", "9") == 2  # fmt: skip


def test_recipe_sidecar_reproduces_the_pixels(base, photo: Path, tmp_path: Path) -> None:  # noqa: ANN001
    pixels = image_io.load(photo).pixels
    other = image_io.save(tmp_path / "other.png", pixels[::-1].copy(), bit_depth=16)
    smap = np.full(pixels.shape[:2], 0.5, np.float32)
    smap[:, :30] = 0.0
    edit = LatentEdit(strength=1.4, transplant=Transplant(LatentRef("image", path=str(other)),
                      apply_to=(0, 40, 72, 88))).with_channel(0, gain=1.2)  # fmt: skip
    params = {"latent_strength": 1.4, "seed": 3}
    service = SteeredService(base, edit, smap)
    reference = drive(service.run(pixels, params=params))
    recipe = RestoreRecipe(
        "denoise", "vdir", params, service.effective_edit(params), smap, input=str(photo)
    )
    sidecar = write_sidecar(recipe, tmp_path / "photo-restored.png")
    assert sidecar.name == "photo-restored.recipe.json"
    assert read_sidecar(sidecar).latent == service.effective_edit(params)
    out = tmp_path / "again.png"
    assert (
        restore(photo, "-o", out, "--task", "denoise", "--recipe", sidecar, "--bit-depth", "16")
        == 0
    )
    assert np.abs(image_io.load(out).pixels - reference).max() <= 1 / 65535 + 1e-7
    assert restore(photo, "-o", tmp_path / "x.png", "--task", "deblock", "--recipe", sidecar) == 2
