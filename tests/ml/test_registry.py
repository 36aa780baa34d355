"""Tests for app.ml.registry: listing, defaults, unknown names, manifest-listed models."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.core.progress import Work, drive
from app.ml import registry
from app.ml.classical_services import CLASSICAL_SERVICES, TeleaInpainter
from app.ml.loading import MODELS_ENV
from app.ml.services.base import ParamSpec, Service, ServiceInfo
from app.ml.services.detect import TopHatDetector
from app.ml.services.old_photo import OldPhotoService


class FakeService(Service):
    """Stands in for a learned model: adds ``offset`` (a param) to the image."""

    def __init__(self, entry: registry.ModelEntry, device: str) -> None:
        self.entry = entry
        self.device = device
        self.info = entry.info

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        if False:  # pragma: no cover - makes this a generator
            yield
        return image + np.float32(params.get("offset", 0.0))


def write_manifest(folder: Path, models: list[dict[str, Any]], weights: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"models": models}))
    if weights:
        for m in models:
            if "file" in m:
                (folder / m["file"]).write_bytes(b"weights")


def model(id: str, task: str = "denoise", **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "task": task,
        "method": extra.pop("method", "fake"),
        "arch": extra.pop("arch", "fake"),
        "file": f"{id}.safetensors",
        "title": f"Fake {id}",
        "config": extra.pop("config", {}),
        "card": f"{id}.md",
        "metrics": {"cbsd68_sigma25": {"psnr": 30.0}},
        "params": 1234,  # exporters write the parameter count here; must be ignored
        **extra,
    }


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models folder selected through PATINA_MODELS_DIR, with the fake arch."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv(MODELS_ENV, str(folder))
    monkeypatch.setitem(registry.ARCH_FACTORIES, "fake", f"{__name__}:FakeService")
    return folder


def test_lists_all_classical_services(models_dir: Path) -> None:
    keys = [info.key for info in registry.list_services()]
    assert keys == [cls.info.key for cls in CLASSICAL_SERVICES]
    assert {i.method for i in registry.list_services("upscale")} == {"bicubic", "lanczos"}
    assert registry.list_services("old-photo") == []


def test_classical_defaults(models_dir: Path) -> None:
    expected = {
        "denoise": "bilateral",
        "deblock": "jpeg-filter",
        "upscale": "bicubic",
        "inpaint": "telea",
    }
    for task, method in expected.items():
        assert registry.default_method(task) == method
        service = registry.create_service(task)
        assert service.info.method == method and service.device == "cpu"


def test_create_named_classical_service(models_dir: Path) -> None:
    service = registry.create_service("inpaint", "biharmonic", device="cuda")
    assert service.info.key == "inpaint/biharmonic" and service.device == "cpu"


def test_unknown_names_list_the_valid_ones(models_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="denoise") as err:
        registry.create_service("sharpen")
    assert "upscale" in str(err.value)
    with pytest.raises(InvalidInputError, match="bilateral") as err:
        registry.create_service("denoise", "bm3d")
    assert "nlmeans" in str(err.value)
    with pytest.raises(InvalidInputError):
        registry.default_method("nope")
    with pytest.raises(InvalidInputError, match="no method"):
        registry.default_method("old-photo")


def test_missing_manifest_is_empty(tmp_path: Path) -> None:
    assert registry.load_manifest(tmp_path / "nowhere") == []


def test_manifest_entries(models_dir: Path) -> None:
    params = [
        {"name": "offset", "default": 0.0, "minimum": -1.0, "maximum": 1.0, "help": "added"},
        {"name": "mode", "default": "a", "choices": ["a", "b"]},
    ]
    write_manifest(models_dir, [model("fake-denoise", config={"params": params, "width": 8})])
    (entry,) = registry.load_manifest()
    assert entry == registry.load_manifest(models_dir)[0]
    assert entry.id == "fake-denoise" and entry.arch == "fake" and entry.card == "fake-denoise.md"
    assert Path(entry.file) == models_dir / "fake-denoise.safetensors"
    assert entry.metrics == {"cbsd68_sigma25": {"psnr": 30.0}}
    info = entry.info
    assert info.learned and info.task == "denoise" and info.method == "fake"
    assert info.title == "Fake fake-denoise" and not info.uses_mask and info.scale == 1
    assert info.params == (
        ParamSpec("offset", 0.0, -1.0, 1.0, help="added"),
        ParamSpec("mode", "a", choices=("a", "b")),
    )


def test_learned_models_come_first_and_become_default(models_dir: Path) -> None:
    upscaler = model("fake-up", "upscale", method="fakesr", config={"scale": 4})
    write_manifest(models_dir, [model("fake-denoise"), upscaler])
    denoise = registry.list_services("denoise")
    assert denoise[0].learned and denoise[0].method == "fake"
    assert [i.method for i in denoise[1:]] == ["bilateral", "nlmeans", "gaussian"]
    assert registry.default_method("denoise") == "fake"
    assert registry.default_method("upscale") == "fakesr"
    assert registry.list_services("upscale")[0].scale == 4
    assert registry.default_method("deblock") == "jpeg-filter"
    assert [e.id for e in registry.list_models()] == ["fake-denoise", "fake-up"]
    assert [e.id for e in registry.list_models("upscale")] == ["fake-up"]


def test_a_model_marked_not_default_is_listed_but_not_chosen(models_dir: Path) -> None:
    write_manifest(models_dir, [model("fake-inpaint", "inpaint", default=False)])
    assert registry.list_services("inpaint")[0].method == "fake"
    assert registry.default_method("inpaint") == "telea"


def test_an_est_caveat_is_read_from_the_manifest(models_dir: Path) -> None:
    write_manifest(models_dir, [model("a"), model("b", est_note="EST is not reliable")])
    notes = {e.id: e.est_note for e in registry.list_models()}
    assert notes == {"a": "", "b": "EST is not reliable"}


def test_create_learned_service_through_the_factory(models_dir: Path) -> None:
    params = [{"name": "offset", "default": 0.0, "minimum": -1.0, "maximum": 1.0}]
    write_manifest(models_dir, [model("fake-denoise", config={"params": params})])
    service = registry.create_service("denoise", device="cpu")
    assert isinstance(service, FakeService)
    assert service.device == "cpu" and service.entry.id == "fake-denoise"
    assert registry.create_service("denoise", "fake-denoise").info.key == "denoise/fake"
    image = np.full((4, 5, 3), 0.25, np.float32)
    out = drive(service.run(image, params={"offset": 0.5}))
    assert np.allclose(out, 0.75)
    # classical methods stay available beside the model
    assert registry.create_service("denoise", "bilateral").info.method == "bilateral"


def test_learned_inpaint_model_uses_a_mask(models_dir: Path) -> None:
    write_manifest(models_dir, [model("fake-inpaint", "inpaint")])
    info = registry.list_services("inpaint")[0]
    assert info.learned and info.uses_mask


def test_missing_weights_are_skipped_with_a_warning(
    models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_manifest(models_dir, [model("fake-denoise")], weights=False)
    with caplog.at_level(logging.WARNING, logger="app.ml.registry"):
        assert registry.load_manifest() == []
    assert "fake-denoise" in caplog.text
    assert registry.default_method("denoise") == "bilateral"


def test_unknown_arch_and_task_are_not_services(models_dir: Path) -> None:
    write_manifest(models_dir, [model("other", arch="unknown-arch"), model("detector", "detect")])
    assert [e.id for e in registry.load_manifest()] == ["other", "detector"]
    assert registry.list_models() == []
    assert not any(i.learned for i in registry.list_services())


def test_malformed_manifest_is_skipped(models_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    (models_dir / "manifest.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="app.ml.registry"):
        assert registry.load_manifest() == []
    write_manifest(models_dir, [{"id": "no-task"}, model("fake-denoise")])
    assert [e.id for e in registry.load_manifest()] == ["fake-denoise"]


def test_listing_does_not_import_torch(tmp_path: Path) -> None:
    """The CLI and GUI list services without loading torch (fresh interpreter)."""
    folder = tmp_path / "models"
    write_manifest(folder, [model("vdir-denoise", arch="vdir", method="vdir")])
    code = (
        "import sys; from app.ml import registry; "
        "infos = registry.list_services(); registry.default_method('denoise'); "
        "assert infos[0].learned, infos; print('torch' in sys.modules)"
    )
    env = {"PATINA_MODELS_DIR": str(folder), "PATH": "/usr/bin:/bin"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_service_info_shape() -> None:
    assert all(isinstance(i, ServiceInfo) for i in registry.list_services())


class FakeDetector:
    """Stands in for the learned damage detector (only built, never run here)."""

    method = "learned"

    def __init__(self, entry: registry.ModelEntry, device: str) -> None:
        self.entry = entry
        self.device = device


def old_photo_models(*ids: str) -> list[dict[str, Any]]:
    """Manifest dicts of the models the old-photo pipeline picks by id, those in ``ids``."""
    every = {
        "damage-detector": model("damage-detector", task="detect", arch="fake-detector"),
        "dlnet-inpaint": model("dlnet-inpaint", task="inpaint"),
        "vdir-denoise": model("vdir-denoise", method="vdir"),
        "vdir-old-photo": model("vdir-old-photo", task="old-photo", method="vdir"),
        "vdir-real": model("vdir-real", method="vdir-real", default=False),
        "fake-sr": model("fake-sr", task="upscale"),
    }
    return [every[i] for i in ids]


def test_old_photo_pipeline_takes_the_shipped_models(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.ARCH_FACTORIES, "fake-detector", f"{__name__}:FakeDetector")
    write_manifest(models_dir, old_photo_models(
        "damage-detector", "dlnet-inpaint", "vdir-denoise", "vdir-old-photo", "vdir-real",
        "fake-sr",
    ))  # fmt: skip
    pipeline: Any = registry.create_old_photo_pipeline("cpu")
    assert isinstance(pipeline.detector, FakeDetector)
    assert pipeline.detector.entry.id == "damage-detector"
    assert pipeline.inpainter.entry.id == "dlnet-inpaint"
    assert pipeline.restorer.entry.id == "vdir-old-photo"
    assert pipeline.grain_restorer.entry.id == "vdir-real"
    assert pipeline.upscaler.entry.id == "fake-sr"
    service = registry.create_old_photo_service("cpu")
    assert isinstance(service, OldPhotoService) and service.output_scale({"upscale": 3}) == 3
    detect_service: Any = registry.create_detect_service("cpu")
    assert isinstance(detect_service.detector, FakeDetector)


def test_old_photo_pipeline_falls_back_stage_by_stage(models_dir: Path) -> None:
    write_manifest(models_dir, old_photo_models("vdir-denoise"))
    pipeline: Any = registry.create_old_photo_pipeline("cpu")
    assert isinstance(pipeline.detector, TopHatDetector)
    assert isinstance(pipeline.inpainter, TeleaInpainter)
    assert pipeline.restorer.entry.id == "vdir-denoise"
    assert pipeline.grain_restorer is None
    assert pipeline.upscaler.info.method == "bicubic"  # the classical default upscaler
    assert isinstance(registry.create_inpainter("cpu"), TeleaInpainter)
