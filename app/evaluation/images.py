"""Test-set images: listing a folder and reading a file as 8-bit RGB."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.core.errors import InvalidInputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


def list_images(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files (png, jpg, bmp, tif) directly in ``folder``, sorted by name; first ``limit``.

    Raises InvalidInputError when the folder is missing or holds no images.
    """
    if not folder.is_dir():
        raise InvalidInputError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None:
        paths = paths[: max(limit, 0)]
    if not paths:
        raise InvalidInputError(f"no images (png, jpg, bmp, tif) found in {folder}")
    return paths


def find_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted; raises InvalidInputError if none."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"no images found under {folder}")
    return files


def read_uint8(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; InvalidInputError when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidInputError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
