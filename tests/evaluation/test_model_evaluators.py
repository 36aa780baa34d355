"""The per-model evaluators' shared plumbing: test-set listing, ``--run`` merging into a
run's ``metrics.json`` (what the exporter copies into the model card)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.evaluation import detect
from app.evaluation.images import find_images, read_uint8
from app.evaluation.metrics_file import merge_metrics


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    """Two 40x40 images one folder down (the evaluators search recursively)."""
    folder = tmp_path / "set" / "sub"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), (rng.random((40, 40, 3)) * 255).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return tmp_path / "set"


def test_find_images_is_recursive_sorted_and_refuses_an_empty_folder(
    nested: Path, tmp_path: Path
) -> None:
    assert [p.name for p in find_images(nested)] == ["0.png", "1.png"]
    assert read_uint8(find_images(nested)[0]).shape == (40, 40, 3)
    with pytest.raises(InvalidInputError, match="no images"):
        find_images(tmp_path / "set" / "sub" / "none")
    with pytest.raises(InvalidInputError, match="cannot read"):
        read_uint8(nested / "sub" / "notes.txt")


def test_merge_metrics_replaces_its_keys_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"a": 1, "b": {"psnr": 2}}))
    path = merge_metrics(tmp_path, {"b": {"psnr": 3}, "c": 4})
    assert json.loads(path.read_text()) == {"a": 1, "b": {"psnr": 3}, "c": 4}


def test_detect_evaluator_merges_its_table_into_the_run(nested: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"earlier": 1}))
    assert detect.main(["--data", str(nested), "--limit", "1", "--run", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["earlier"] == 1 and metrics["images"] == 1
    assert set(metrics["detect"]) == set(detect.SETTINGS)
    assert 0.0 <= metrics["detect"]["damage"]["tophat"]["iou"] <= 1.0
