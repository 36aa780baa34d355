"""Fixtures shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Three blurred random 48x48 images: a training folder small enough for 2-step runs."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):
        img = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i}.png"), cv2.GaussianBlur(img, (0, 0), 2))
    return folder
