"""Decode image files (8 and 16 bits per channel) into upright float32 RGB and metadata.

:func:`read_image` is the decoding half of :func:`app.core.image_io.load`: Pillow for 8-bit
files, OpenCV for 16-bit PNG (Pillow reads 16-bit RGB PNG as 8 bits), tifffile for TIFF
deeper than 8 bits (OpenCV when tifffile lacks the codec). Whatever a decoder raises ends
as a one-line :class:`~app.core.errors.ImageIOError` naming the file.

Pillow refuses files over ``2 * Image.MAX_IMAGE_PIXELS`` pixels; importing this module
raises that limit to :data:`MAX_PIXELS` so that ``max_pixels`` is what normally decides.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from app.core.errors import ImageIOError, PatinaError, one_line
from app.core.image_exif import orient, orientation_of, read_exif
from app.core.image_formats import PIL_FORMATS, SUPPORTED_LIST, TIFF_MAGICS, from_uint, signature
from app.core.image_meta import ImageMeta, LoadedImage

MAX_PIXELS: int = 200_000_000
_ICC_TAG = 34675

if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # our max_pixels check is the guard (see above)


@dataclass
class _Decoded:
    """A decoded file before orientation: ``array`` is (H, W) or (H, W, C), C in 1..4."""

    array: np.ndarray
    orientation: int
    meta: ImageMeta


def read_image(src: Path, max_pixels: int) -> LoadedImage:
    """Decode the image file ``src`` upright: float32 ``(H, W, 3)`` RGB in [0, 1] (grey as
    three equal channels) and its :class:`ImageMeta` (alpha and dpi oriented too).

    Raises :class:`ImageIOError` naming ``src`` for a missing, unreadable, damaged or
    non-image file, or one of more than ``max_pixels`` pixels.
    """
    _quiet_decoders()
    with _decoding(src):
        decoded = _decode(src, max_pixels)
    array = orient(decoded.array, decoded.orientation)
    rgb, alpha = _split_alpha(array)
    dpi = decoded.meta.dpi
    if dpi is not None and decoded.orientation >= 5:
        dpi = (dpi[1], dpi[0])
    return LoadedImage(rgb, replace(decoded.meta, alpha=alpha, dpi=dpi))


@contextmanager
def _decoding(src: Path) -> Iterator[None]:
    """Turn whatever a decoder raises into a one-line :class:`ImageIOError` naming ``src``."""
    try:
        yield
    except PatinaError:
        raise
    except MemoryError as err:
        raise ImageIOError(f"not enough memory to open {src}") from err
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(err))
        size, limit = (int(found[1]), int(found[2])) if found else (0, MAX_PIXELS)
        raise ImageIOError(
            f"{src} is too large to open safely: {size:,} pixels, more than the limit of "
            f"{min(limit, MAX_PIXELS):,} pixels (possible decompression bomb)"
        ) from err
    except UnidentifiedImageError as err:
        kind = signature(src)
        if kind:
            raise ImageIOError(
                f"{src} is damaged or truncated: it starts like a {kind} file but cannot be read"
            ) from err
        raise ImageIOError(f"{src} is not an image Patina can read ({SUPPORTED_LIST})") from err
    except FileNotFoundError as err:
        raise ImageIOError(f"cannot open {src}: no such file") from err
    except OSError as err:
        if err.errno is not None:
            raise ImageIOError(f"cannot read {src}: {err.strerror}") from err
        raise ImageIOError(f"{src} is damaged or truncated: {one_line(err)}") from err
    except Exception as err:  # decoders raise SyntaxError, ValueError, struct.error, ...
        raise ImageIOError(f"{src} is damaged or not a valid image: {one_line(err)}") from err


def _quiet_decoders() -> None:
    """Keep Pillow's stderr warnings out of the one-line messages: the size check replaces
    DecompressionBombWarning, and a damaged TIFF's tags end in a decode error or a result.
    (Set on every load, not at import: a test runner resets the filters.)"""
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    warnings.filterwarnings("ignore", module=r"PIL\.TiffImagePlugin")


def _decode(src: Path, max_pixels: int) -> _Decoded:
    """Decode ``src`` (not yet oriented) after checking its header size."""
    try:
        image = Image.open(src, formats=PIL_FORMATS)
    except UnidentifiedImageError:
        if _is_tiff(src):  # e.g. float or 16-bit grey+alpha TIFF: Pillow cannot, tifffile can
            return _decode_tiff_only(src, max_pixels)
        raise
    with image:
        _check_size(src, image.size, max_pixels)
        return _decode_opened(src, image)


def _decode_opened(src: Path, image: Image.Image) -> _Decoded:
    """Pixels, orientation and metadata of a file Pillow has opened (16-bit data through
    :func:`_deep_reader`'s reader, EXIF read before Pillow's TIFF load rotates)."""
    fmt = "JPEG" if image.format == "MPO" else str(image.format)
    deep = _deep_reader(src, image, fmt)
    if deep is None and fmt == "PNG":
        image.load()  # an eXIf chunk may follow the pixel data
    exif, orientation = read_exif(image, fmt)  # before Pillow's TIFF load rotates
    icc = image.info.get("icc_profile") or None
    if deep is not None:
        array, tiff_icc = deep(src)
        icc = tiff_icc or icc
    else:
        array = _pillow_array(image)
        if fmt == "TIFF":  # Pillow applies and removes the TIFF orientation when loading
            orientation = orientation_of(image.getexif())
    depth = 8 if array.dtype == np.uint8 else 16
    meta = ImageMeta(fmt, depth, image.mode, icc, exif, None, _dpi(image), src)
    return _Decoded(array, orientation, meta)


def _check_size(src: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageIOError(
            f"{src} is {width}x{height} pixels ({width * height:,}), more than the limit of "
            f"{max_pixels:,} pixels; refusing to decode it (possible decompression bomb)"
        )


def _is_tiff(src: Path) -> bool:
    with src.open("rb") as fh:
        return fh.read(4) in TIFF_MAGICS


def _deep_reader(
    src: Path, image: Image.Image, fmt: str
) -> Callable[[Path], tuple[np.ndarray, bytes | None]] | None:
    """The reader for files deeper than 8 bits per channel, or None to use Pillow."""
    if fmt == "PNG":
        with src.open("rb") as fh:
            header = fh.read(26)  # signature, IHDR length/type, width, height, bit depth
        return _read_png16 if header[24:25] == b"\x10" else None
    if fmt == "TIFF":
        bits = image.tag_v2.get(258, 8)  # type: ignore[attr-defined]
        return _read_tiff_deep if max(np.atleast_1d(bits)) > 8 else None
    return None


def _read_png16(src: Path) -> tuple[np.ndarray, bytes | None]:
    """16-bit PNG via OpenCV: uint16 (H, W[, C]) RGB(A); the ICC comes from Pillow's header."""
    return _cv2_read(src), None


def _cv2_read(src: Path) -> np.ndarray:
    array = cv2.imdecode(np.fromfile(src, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageIOError(f"{src} is damaged or truncated: the decoder could not read it")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2RGB if array.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
        array = cv2.cvtColor(array, code)
    return array


def _read_tiff_deep(src: Path) -> tuple[np.ndarray, bytes | None]:
    """A >8-bit TIFF page 1 via tifffile (OpenCV if tifffile lacks the codec) and its ICC."""
    with tifffile.TiffFile(src) as tif:
        page = tif.pages.first
        tag = page.tags.get(_ICC_TAG)
        icc = bytes(tag.value) if tag is not None else None
        try:
            array = page.asarray()
        except (ValueError, KeyError) as err:
            if "imagecodecs" not in str(err):
                raise
            return _cv2_read(src), icc
        return _tiff_channels(page, array), icc


def _tiff_channels(page: Any, array: np.ndarray) -> np.ndarray:
    """tifffile page data -> (H, W) grey or (H, W, C) grey+alpha / RGB / RGBA."""
    if page.axes.startswith("S"):
        array = np.moveaxis(array, 0, -1)
    photometric = int(page.photometric)
    if photometric == 0:  # MINISWHITE
        array = np.iinfo(array.dtype).max - array if array.dtype.kind == "u" else 1.0 - array
    if photometric == 5 and array.ndim == 3 and array.shape[2] >= 4:  # CMYK
        return _cmyk_formula(array)
    if photometric not in (0, 1, 2):
        raise ImageIOError(f"unsupported TIFF colour type (photometric {photometric})")
    if array.ndim == 3:
        array = array[..., : (4 if photometric == 2 else 2)]
    return array


def _cmyk_formula(array: np.ndarray) -> np.ndarray:
    """Plain CMYK -> RGB for 16-bit data (Pillow's formula: R = (1 - C) * (1 - K))."""
    cmyk = from_uint(array[..., :4])
    return (1.0 - cmyk[..., :3]) * (1.0 - cmyk[..., 3:4])


def _decode_tiff_only(src: Path, max_pixels: int) -> _Decoded:
    """A TIFF Pillow cannot open: tifffile pixels, ICC and orientation; no EXIF or dpi."""
    with tifffile.TiffFile(src) as tif:
        page = tif.pages.first
        _check_size(src, (page.imagewidth, page.imagelength), max_pixels)
        orientation = int(page.tags.valueof(274, 1))
    array, icc = _read_tiff_deep(src)
    depth = 8 if array.dtype == np.uint8 else 16
    mode = tifffile.PHOTOMETRIC(page.photometric).name
    meta = ImageMeta("TIFF", depth, mode, icc, None, None, None, src)
    return _Decoded(array, orientation if 1 <= orientation <= 8 else 1, meta)


def _pillow_array(image: Image.Image) -> np.ndarray:
    """Fully decode ``image`` (raises on truncated data) to uint8/uint16/int32 (H, W[, C])."""
    image.load()
    mode = image.mode
    if mode in ("P", "PA", "L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode in ("P", "CMYK", "YCbCr", "HSV", "RGBX"):
        image = image.convert("RGB")
    elif mode in ("1", "RGBa", "La"):
        image = image.convert({"1": "L", "RGBa": "RGBA", "La": "LA"}[mode])
    elif mode not in ("L", "LA", "RGB", "RGBA", "I", "F") and not mode.startswith("I;16"):
        raise ImageIOError(f"unsupported image mode {mode}")
    return np.asarray(image)


def _dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    if not dpi or len(dpi) != 2 or not all(float(v) > 0 for v in dpi):
        return None
    return float(dpi[0]), float(dpi[1])


def _split_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W[, C]) integer or float data -> float32 (H, W, 3) RGB and (H, W) alpha or None."""
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[2]
    alpha = from_uint(array[..., channels - 1]) if channels in (2, 4) else None
    rgb = from_uint(array[..., :3] if channels >= 3 else array[..., :1])
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return rgb, alpha
