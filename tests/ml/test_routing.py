"""Path-Restore routing on tiny random VDIR models: route maps, exactness of one-path maps,
seam-free merging, the CLI flag and the REINFORCE fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app import cli
from app.core import image_io
from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.core.route_plan import BLEND, BYPASS, FULL, QUICK, grid_shape
from app.ml import registry, routing
from app.ml.archs.pathfinder import FEATURES, Pathfinder
from app.ml.archs.vdir import build
from app.ml.loading import MODELS_ENV
from app.ml.routing import auto_route, choose_route, region_features, restore_routed
from app.ml.services.vdir import ROUTE_LAYER, VDIRService
from app.training.export.vdir import save_weights
from app.training.route_train import save_pathfinder
from tests.ml.test_vdir import TINY


def _random_vdir(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build(TINY.to_dict())
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1) if p.dim() > 1 else torch.nn.init.uniform_(p, -0.1, 0.1)
    return model


def fixed_pathfinder(path: int | None = None, seed: int = 0) -> Pathfinder:
    """A random pathfinder, or one that always answers ``path``."""
    torch.manual_seed(seed)
    model = Pathfinder()
    if path is not None:
        last = model.net[-1]
        assert isinstance(last, torch.nn.Linear)
        torch.nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([0.0, 0.0, 0.0]))
            last.bias[path] = 10.0
    return model.eval()


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder: tiny teacher with a quick restorer (same encoder) and a pathfinder."""
    teacher, quick = _random_vdir(0), _random_vdir(1)
    quick.load_state_dict(
        {k: v for k, v in teacher.state_dict().items() if not k.startswith("restorer.")},
        strict=False,
    )
    folder = tmp_path / "models"
    save_weights(teacher, folder / "teacher.safetensors", {})  # type: ignore[arg-type]
    save_weights(quick, folder / "quick.safetensors", {})  # type: ignore[arg-type]
    save_pathfinder(fixed_pathfinder(seed=3), folder / "route.safetensors", {"p": 1e-5})
    entries = [
        {"id": "teacher", "task": "denoise", "method": "vdir", "arch": "vdir",
         "file": "teacher.safetensors", "preview": "quick.safetensors",
         "route": "route.safetensors"},
        {"id": "teacher-route", "task": "denoise", "method": "vdir-route", "arch": "pathfinder",
         "file": "route.safetensors", "default": False},
    ]  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"models": entries}))
    monkeypatch.setenv(MODELS_ENV, str(folder))
    return folder


def _service() -> VDIRService:
    service = registry.create_service("denoise", "vdir", device="cpu")
    assert isinstance(service, VDIRService)
    return service


def _image(h: int = 150, w: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_the_pathfinder_is_listed_but_is_not_a_service(models: Path) -> None:
    assert [e.id for e in registry.list_models("denoise")] == ["teacher"]
    assert registry.list_models("denoise")[0].route.endswith("route.safetensors")


def test_route_map_has_one_path_per_64px_region(models: Path) -> None:
    service, img = _service(), _image()
    latent = service.encode(img)
    route = auto_route(service, img[:148], latent[:37])
    assert route.shape == grid_shape(148, 200) == (3, 4)
    assert set(np.unique(route)) <= {BYPASS, QUICK, FULL}
    preview = auto_route(service, img[:148], latent[:37], preview=True)
    assert FULL not in preview
    feats = region_features(img[:148], latent[:37], np.zeros(latent[:37].shape[:2], np.float32))
    assert feats.shape == (3, 4, FEATURES) and np.isfinite(feats).all()


def test_choose_route_respects_the_allowed_paths() -> None:
    feats = np.random.default_rng(0).normal(size=(2, 3, FEATURES)).astype(np.float32)
    assert (choose_route(fixed_pathfinder(FULL), feats) == FULL).all()
    assert (choose_route(fixed_pathfinder(FULL), feats, allowed=(BYPASS, QUICK)) != FULL).all()


def test_an_all_full_route_is_the_full_restorer_bit_for_bit(models: Path) -> None:
    service, img = _service(), _image()
    full = drive(service.run(img))
    service.pathfinder.load_state_dict(fixed_pathfinder(FULL).state_dict())
    routed = drive(service.run(img, params={"route": "auto"}))
    np.testing.assert_array_equal(routed, full)
    assert service.last_route is not None and np.all(service.last_route == FULL)
    assert service.extra_layers[ROUTE_LAYER].shape == (38, 50)


def test_an_all_quick_route_is_the_quick_restorer(models: Path) -> None:
    service, img = _service(), _image(64, 96)
    latent = service.encode(img)
    quick = drive(service.quick().restore(img, latent))
    route = np.full(grid_shape(64, 96), QUICK)
    routed = drive(restore_routed(service, img, latent, 512, route))
    np.testing.assert_array_equal(np.clip(routed, 0, 1), quick)
    assert not np.allclose(quick, drive(service.restore(img, latent)))


def test_mixed_routes_merge_without_seams(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offsets = {BYPASS: 0.0, QUICK: 0.3, FULL: 0.6}

    def fake_path(service: object, path: int, image: np.ndarray, latent: object, tile: int):  # type: ignore[no-untyped-def]
        yield from ()
        return image + offsets[path]

    monkeypatch.setattr(routing, "_run_path", fake_path)
    img = np.zeros((128, 192, 3), np.float32)
    route = np.array([[BYPASS, FULL, QUICK], [QUICK, QUICK, FULL]])
    out = drive(restore_routed(_service(), img, np.zeros((32, 48, 4), np.float32), 512, route))
    steps = np.abs(np.diff(out, axis=1)).max(), np.abs(np.diff(out, axis=0)).max()
    assert max(steps) <= 0.6 / (2 * BLEND) + 1e-6  # ramps over 2 * BLEND px, never a step
    assert out[:56, :56].max() == 0.0 and out[72:, 136:].min() == pytest.approx(0.6)
    assert out[20, 100] == pytest.approx(0.6) and out[100, 20] == pytest.approx(0.3)


def test_quick_previews_never_take_the_full_path(models: Path) -> None:
    service, img = _service(), _image()
    service.pathfinder.load_state_dict(fixed_pathfinder(FULL).state_dict())
    quick = service.quick()
    out = drive(quick.run(img, params={"route": "auto"}))
    assert quick.last_route is not None and (quick.last_route == QUICK).all()
    np.testing.assert_array_equal(out, drive(quick.run(img)))


def test_route_auto_needs_a_pathfinder_and_no_ensemble(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInputError, match="ensemble"):
        drive(_service().run(_image(), params={"route": "auto", "ensemble": "2"}))
    manifest = json.loads((models / "manifest.json").read_text())
    del manifest["models"][0]["route"]
    (models / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match="no pathfinder"):
        drive(_service().run(_image(), params={"route": "auto"}))


def test_restore_cli_routes_with_route_auto(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.png"
    image_io.save(src, _image(70, 90))
    outs = {}
    for route in ("full", "auto"):
        out = tmp_path / f"{route}.png"
        assert cli.main(["restore", str(src), "-o", str(out), "--task", "denoise",
                         "--route", route, "--device", "cpu"]) == 0  # fmt: skip
        outs[route] = image_io.load(out).pixels
    assert not np.array_equal(outs["full"], outs["auto"])
    assert "route bypass" in capsys.readouterr().out  # the auto run says how it routed
    bad = ["restore", str(src), "-o", str(tmp_path / "x.png"), "--task", "denoise"]
    assert cli.main([*bad, "--route", "fast"]) != 0


def test_batch_takes_route_as_a_parameter() -> None:
    from app.commands import batch

    args = cli.build_parser().parse_args(
        ["batch", "in/", "out/", "--task", "denoise", "--route", "auto"]
    )
    assert batch._params(args)["route"] == "auto"
    plain = cli.build_parser().parse_args(["batch", "in/", "out/", "--task", "denoise"])
    assert "route" not in batch._params(plain)
