"""What an image file carries beside its pixels, and carrying it to an output of another size.

:class:`ImageMeta` is what :func:`app.core.image_io.load` keeps aside and
:func:`app.core.image_io.save` writes back; :func:`meta_for_size` adapts it to an upscaled
or downscaled output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "MINISBLACK", "MINISWHITE"})


@dataclass
class ImageMeta:
    """What :func:`~app.core.image_io.load` keeps beside the pixels, and
    :func:`~app.core.image_io.save` writes back.

    ``exif`` is raw EXIF starting with ``b"Exif\\0\\0"``, Orientation reset to 1.
    ``alpha`` is float32 ``(H, W)`` in [0, 1], oriented like the pixels.
    """

    format: str
    bit_depth: int
    mode: str
    icc_profile: bytes | None = None
    exif: bytes | None = None
    alpha: np.ndarray | None = None
    dpi: tuple[float, float] | None = None
    source: Path | None = None


@dataclass
class LoadedImage:
    """An upright float32 ``(H, W, 3)`` RGB image in [0, 1] and its metadata."""

    pixels: np.ndarray
    meta: ImageMeta


def is_grey_mode(mode: str) -> bool:
    """Whether ``mode`` (an :attr:`ImageMeta.mode`) names a grey source: a Pillow grey mode
    ("1", "L", "LA", "La", "I", "F", "I;16*") or tifffile's "MINISBLACK" / "MINISWHITE"."""
    return mode in _GREY_MODES or mode.startswith("I;16")


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
