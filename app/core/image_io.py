"""Load and save photographs as float32 RGB arrays, keeping their metadata aside.

:func:`load` turns a PNG, JPEG, TIFF, WebP or BMP file (8 or 16 bits per channel; grey,
RGB, RGBA, palette, CMYK) into an upright float32 ``(H, W, 3)`` RGB array in [0, 1] plus an
:class:`ImageMeta` (format, bit depth, source mode, ICC profile, EXIF with Orientation reset
to 1, alpha, dpi). :func:`save` writes such an array back, with that metadata, atomically
and without ever replacing a file it was not told to replace.

Grey in, grey out: when ``meta.mode`` names a grey source (:func:`is_grey_mode`), or with
``save(..., colour="grey")``, the pixels are collapsed to ITU-R 601 luma and written as a
single grey channel (plus alpha where kept): 8-bit PNG/JPEG/BMP, 16-bit PNG, 8/16-bit TIFF
(photometric MINISBLACK). WebP has no grey mode and 16-bit PNG no grey+alpha through
OpenCV: those get the luma in three equal channels (RGB / RGBA). ``colour="rgb"`` always
writes RGB.

The work is done by :mod:`app.core.image_read` (decoders), :mod:`app.core.image_write`
(encoders), :mod:`app.core.image_exif` (EXIF and orientation), :mod:`app.core.image_formats`
(suffixes, signatures, 8/16-bit conversion) and :mod:`app.core.image_meta` (:class:`ImageMeta`).

Known limits:

- CMYK is converted to RGB by Pillow's plain formula, not through its ICC profile; the
  CMYK profile stays in ``meta.icc_profile`` but is never written. An ICC profile is
  written only when its colour space matches the written pixels: RGB profiles into RGB
  files, grey (``GRAY``) profiles into single-channel grey files.
- 16-bit PNG: eXIf chunks after the pixel data are not read; ICC, EXIF and dpi are written.
- TIFF: EXIF is carried as the baseline text tags plus the Exif and GPS sub-IFDs (not for
  BigTIFF outputs over ~4 GB); other TIFF tags are not copied. Multi-page files: page 1.
- Pillow refuses files over ``2 * Image.MAX_IMAGE_PIXELS`` pixels; importing this module
  (through :mod:`app.core.image_read`) raises that limit to :data:`MAX_PIXELS` so that
  ``max_pixels`` is what normally decides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from app.core.atomic import atomic_write
from app.core.errors import ImageIOError, InvalidInputError
from app.core.image_formats import (
    DEEP_FORMATS,
    SUFFIX_FORMATS,
    SUPPORTED_SUFFIXES,
    from_uint,
    to_uint,
)
from app.core.image_meta import ImageMeta, LoadedImage, is_grey_mode
from app.core.image_read import MAX_PIXELS, read_image
from app.core.image_write import make_job, write_job

_COLOURS = ("auto", "rgb", "grey")


def load(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read an image file as upright float32 RGB in [0, 1].

    Grey becomes three equal channels; alpha goes to ``meta.alpha``; EXIF orientation is
    applied to pixels and alpha. Raises :class:`ImageIOError` (message names the file) for a
    missing file, a folder, a non-image, damaged data or more than ``max_pixels`` pixels.
    """
    src = Path(path)
    if src.is_dir():
        raise ImageIOError(f"cannot open {src}: it is a folder, not an image file")
    if src.is_file() and src.stat().st_size == 0:
        raise ImageIOError(f"{src} is empty (0 bytes): not an image")
    return read_image(src, max_pixels)


def save(
    path: str | Path,
    pixels: np.ndarray,
    meta: ImageMeta | None = None,
    *,
    bit_depth: int | None = None,
    quality: int = 95,
    overwrite: bool = False,
    protect: Sequence[Path] = (),
    colour: str = "auto",
) -> Path:
    """Write float ``(H, W, 3)`` RGB ``pixels`` (clipped to [0, 1]) to ``path``; return it.

    The format follows the suffix (:data:`SUPPORTED_SUFFIXES`). ``bit_depth`` (8 or 16;
    16 only for PNG/TIFF) defaults to ``meta.bit_depth`` where the format allows, else 8.
    ``quality`` (1-100) applies to JPEG and WebP (100 = lossless WebP). ICC, EXIF and dpi
    of ``meta`` are written where the format stores them, and ``meta.alpha`` for
    PNG/TIFF/WebP when its size matches.

    ``colour`` picks the channels: ``"auto"`` (default) writes grey when ``meta.mode`` is a
    grey mode (:func:`is_grey_mode`), else RGB; ``"rgb"`` always writes RGB; ``"grey"``
    always writes grey. Grey is the ITU-R 601 luma of ``pixels`` in one channel (plus alpha
    where kept), except in WebP and in 16-bit PNG with alpha, which store it as three equal
    channels (see the module notes). The ICC profile is written only if its colour space
    matches the written channels (``GRAY`` for grey, ``RGB`` otherwise). Another
    ``colour`` raises :class:`InvalidInputError`.

    The write is atomic (temp file, fsync, rename); an existing file is replaced only with
    ``overwrite``; a path in ``protect`` never is. On failure an :class:`ImageIOError` is
    raised and nothing at ``path`` has changed.
    """
    dest = Path(path)
    fmt = _save_format(dest)
    rgb = _check_pixels(pixels)
    meta = meta or ImageMeta(format=fmt, bit_depth=8, mode="RGB")
    depth = _save_depth(dest, fmt, bit_depth, meta.bit_depth)
    if not 1 <= quality <= 100:
        raise InvalidInputError(f"quality must be between 1 and 100, got {quality}")
    grey = _wants_grey(colour, meta.mode)
    _check_destination(dest, overwrite, protect)
    job = make_job(fmt, rgb, meta, depth, quality, grey)
    atomic_write(dest, lambda fh: write_job(fh, job), overwrite)
    return dest


def load_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as float32 ``(H, W)`` in [0, 1] (1 = damaged).

    The brightest channel counts, times the alpha if there is one. With ``size=(H, W)`` a
    mask of another size raises :class:`InvalidInputError` naming both sizes.
    """
    image = load(path)
    mask = image.pixels.max(axis=2)
    if image.meta.alpha is not None:
        mask *= image.meta.alpha
    if size is not None and mask.shape != tuple(size):
        (h, w), (want_h, want_w) = mask.shape, size
        raise InvalidInputError(
            f"mask {path} is {w}x{h} pixels but the image is {want_w}x{want_h} "
            "(width x height); paint or export the mask at the image's size"
        )
    return mask


def save_mask(path: str | Path, mask: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write a float ``(H, W)`` mask in [0, 1] as an 8-bit grey PNG, atomically; return path."""
    dest = Path(path)
    if dest.suffix.lower() != ".png":
        raise ImageIOError(f"cannot save mask {dest}: masks are saved as .png files")
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise InvalidInputError(f"expected a mask of shape (H, W), got {array.shape}")
    _check_destination(dest, overwrite, ())
    grey = Image.fromarray(to_uint(array, 8))
    atomic_write(dest, lambda fh: grey.save(fh, format="PNG"), overwrite)
    return dest


# ----------------------------------------------------------------------------- saving checks


def _save_format(dest: Path) -> str:
    fmt = SUFFIX_FORMATS.get(dest.suffix.lower())
    if fmt is None:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        suffix = dest.suffix or "(none)"
        raise ImageIOError(f"cannot save {dest}: unsupported file type {suffix}; use {kinds}")
    return fmt


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    array = np.asarray(pixels)
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise InvalidInputError(f"expected pixels of shape (H, W, 3), got {array.shape}")
    return array if array.dtype.kind == "f" else from_uint(array)


def _save_depth(dest: Path, fmt: str, requested: int | None, source: int) -> int:
    if requested is None:
        return source if fmt in DEEP_FORMATS and source in (8, 16) else 8
    if requested not in (8, 16):
        raise InvalidInputError(f"bit depth must be 8 or 16, got {requested}")
    if requested == 16 and fmt not in DEEP_FORMATS:
        raise ImageIOError(f"cannot save {dest} with 16 bits: {fmt} stores 8; use .png or .tif")
    return requested


def _check_destination(dest: Path, overwrite: bool, protect: Sequence[Path]) -> None:
    """Refuse protected paths, folders, missing folders and (unless ``overwrite``) files."""
    for guarded in protect:
        if _same_file(dest, Path(guarded)):
            raise ImageIOError(
                f"refusing to write {dest}: it is an input file and is never overwritten; "
                "choose another output path"
            )
    if dest.is_dir():
        raise ImageIOError(f"cannot write {dest}: it is a folder")
    if not dest.parent.is_dir():
        raise ImageIOError(f"cannot write {dest}: folder {dest.parent} does not exist")
    if dest.exists() and not overwrite:
        raise ImageIOError(f"{dest} already exists; use --overwrite to replace it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _wants_grey(colour: str, mode: str) -> bool:
    """Whether ``save(colour=...)`` writes grey for a source of Pillow/tifffile ``mode``."""
    if colour not in _COLOURS:
        raise InvalidInputError(f"colour must be 'auto', 'rgb' or 'grey', got {colour!r}")
    return colour == "grey" or (colour == "auto" and is_grey_mode(mode))
