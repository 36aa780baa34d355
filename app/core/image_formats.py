"""The file formats Patina reads and writes, and 8/16-bit sample conversion.

Tables shared by :mod:`app.core.image_read` and :mod:`app.core.image_write`: which suffix
is which format, which formats store 16 bits or alpha, how each file starts, and the zlib
level of PNG/TIFF outputs. :func:`to_uint` and :func:`from_uint` convert between float32
samples in [0, 1] and the integers stored in files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.errors import InvalidInputError

SUPPORTED_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
SUPPORTED_LIST = "PNG, JPEG, TIFF, WebP or BMP"  # for messages

SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF",
                  ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP"}  # fmt: skip
PIL_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")  # JPEG also opens MPO
DEEP_FORMATS = ("PNG", "TIFF")  # formats that store 16 bits per channel
ALPHA_FORMATS = ("PNG", "TIFF", "WEBP")
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_SIGNATURES = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", **dict.fromkeys(TIFF_MAGICS, "TIFF"),
               b"RIFF": "WebP", b"BM": "BMP"}  # fmt: skip

# zlib level of PNG and TIFF outputs, chosen for speed: a 12 MP 8-bit PNG takes 1.2 s at
# level 1 and 6.9 s at the encoders' default 6, for files ~12 % larger (docs/throughput.md).
ZLIB_LEVEL = 1


def signature(src: Path) -> str | None:
    """The format whose magic bytes ``src`` starts with (PNG, JPEG, ...), or None."""
    try:
        with src.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


def to_uint(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float values in [0, 1] (clipped) -> uint8 (``bit_depth`` 8) or uint16 (16), rounded."""
    if bit_depth not in (8, 16):
        raise InvalidInputError(f"bit depth must be 8 or 16, got {bit_depth}")
    scaled = np.clip(pixels, 0.0, 1.0).astype(np.float32, copy=False)
    scaled *= 255.0 if bit_depth == 8 else 65535.0
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8 if bit_depth == 8 else np.uint16)


def from_uint(array: np.ndarray) -> np.ndarray:
    """uint8 / uint16 (also bool, int: 16-bit scale, float: clipped) -> new float32 in [0, 1]."""
    if array.dtype.kind == "f":  # NaN (float TIFF) becomes 0, like -inf
        return np.nan_to_num(np.clip(array, 0.0, 1.0), nan=0.0).astype(np.float32, order="C")
    if array.dtype.kind == "i":
        array = np.clip(array, 0, 65535)  # Pillow's "I" mode (int32) holds 16-bit data
    out = array.astype(np.float32, order="C")
    out /= {np.dtype(np.uint8): 255.0, np.dtype(np.bool_): 1.0}.get(array.dtype, 65535.0)
    return out
