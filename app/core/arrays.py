"""Small array checks shared by the core modules."""

from __future__ import annotations

import numpy as np

from app.core.errors import InvalidInputError


def as_rgb_float(img: np.ndarray) -> np.ndarray:
    """``img`` as float32 ``(H, W, 3)`` (no copy when it already is)."""
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(f"expected a float image in [0, 1], got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)
