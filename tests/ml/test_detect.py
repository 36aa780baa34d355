"""Damage detector network and services on tiny random weights; the top-hat baseline."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.core.damage import scratches
from app.core.progress import drive
from app.ml import registry
from app.ml.archs.detector import DetectorConfig, build
from app.ml.services import detect

TINY = DetectorConfig(widths=(4, 4, 4), dilations=(2,))


class TinyDetector(detect.LearnedDetector):
    def __init__(self) -> None:
        super().__init__(detect.ManifestEntry("tiny", "detect", ""), device="cpu")
        torch.manual_seed(0)
        self._model = build(TINY).eval()

    @property
    def model(self) -> torch.nn.Module:  # type: ignore[override]
        return self._model


@pytest.mark.parametrize("size", [(16, 16), (23, 41)])
def test_network_any_size(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    assert build(TINY)(torch.rand(2, 3, *size)).shape == (2, 1, *size)


def test_learned_probability_tiled(rng: np.random.Generator) -> None:
    img = rng.random((150, 170, 3), dtype=np.float32)
    reports = []
    prob = drive(TinyDetector().probability(img, tile=72), reports.append)
    assert prob.shape == (150, 170) and prob.dtype == np.float32
    assert prob.min() >= 0 and prob.max() <= 1
    assert len(reports) > 1 and reports[-1].stage == "detect"


def test_tophat_finds_a_scratch(rng: np.random.Generator) -> None:
    img = np.full((128, 128, 3), 0.5, np.float32)
    damaged, mask = scratches(img, 0.5, rng)
    prob = drive(detect.TopHatDetector(level=0.04).probability(damaged))
    found = detect.to_mask(prob, 0.5)
    assert (found * mask).sum() > 0.5 * mask.sum()
    assert found[mask == 0].mean() < 0.01


def test_to_mask_threshold_and_grow() -> None:
    prob = np.zeros((20, 20), np.float32)
    prob[10, 10] = 0.8
    assert detect.to_mask(prob, 0.9).sum() == 0
    assert detect.to_mask(prob, 0.5).sum() == 1
    assert detect.to_mask(prob, 0.5, grow=2).sum() > 9


def test_detect_service_returns_image_and_probability(rng: np.random.Generator) -> None:
    img = rng.random((40, 50, 3), dtype=np.float32)
    svc = detect.DetectService(detect.TopHatDetector())
    out = drive(svc.run(img))
    assert np.array_equal(out, img)
    assert svc.extra_layers["probability"].shape == (40, 50)


def test_the_registry_finds_the_detector_in_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "d.safetensors").write_bytes(b"x")
    models = [{"id": "damage-detector", "task": "detect", "arch": "damage-detector",
               "file": "d.safetensors"},
              {"id": "missing", "task": "detect", "arch": "damage-detector",
               "file": "nope.safetensors"}]  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"models": models}))
    entry = registry.find_model("damage-detector", tmp_path)
    assert entry is not None and entry.file.endswith("d.safetensors")
    assert registry.find_model("missing", tmp_path) is None
    assert registry.find_model("damage-detector", tmp_path / "none") is None
