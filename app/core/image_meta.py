"""Carry an input's metadata over to an output of another size (upscaled or downscaled)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from app.core.image_io import ImageMeta


def meta_for_size(meta: ImageMeta, old: tuple[int, int], new: tuple[int, int]) -> ImageMeta:
    """``meta`` of an image of size ``old`` (H, W) adapted to an output of size ``new``.

    Alpha is resized and dpi scaled so the print size stays the same; ICC profile and EXIF
    are kept. Same size: ``meta`` itself.
    """
    if tuple(old) == tuple(new):
        return meta
    (old_h, old_w), (height, width) = old, new
    dpi = meta.dpi
    if dpi is not None:
        dpi = (dpi[0] * width / old_w, dpi[1] * height / old_h)
    alpha = meta.alpha
    if alpha is not None:
        shrink = height * width < old_h * old_w
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        alpha = cv2.resize(alpha, (width, height), interpolation=interpolation)
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    return replace(meta, alpha=alpha, dpi=dpi)
