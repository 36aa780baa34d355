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

Decoders: Pillow for 8-bit files, OpenCV for 16-bit PNG (Pillow reads 16-bit RGB PNG as
8 bits), tifffile for TIFF deeper than 8 bits (OpenCV when tifffile lacks the codec).

Known limits:

- CMYK is converted to RGB by Pillow's plain formula, not through its ICC profile; the
  CMYK profile stays in ``meta.icc_profile`` but is never written. An ICC profile is
  written only when its colour space matches the written pixels: RGB profiles into RGB
  files, grey (``GRAY``) profiles into single-channel grey files.
- 16-bit PNG: eXIf chunks after the pixel data are not read; ICC, EXIF and dpi are written.
- TIFF: EXIF is carried as the baseline text tags plus the Exif and GPS sub-IFDs (not for
  BigTIFF outputs over ~4 GB); other TIFF tags are not copied. Multi-page files: page 1.
- Pillow refuses files over ``2 * Image.MAX_IMAGE_PIXELS`` pixels; importing this module
  raises that limit to :data:`MAX_PIXELS` so that ``max_pixels`` is what normally decides.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import tifffile
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from app.core.atomic import atomic_write
from app.core.errors import ImageIOError, InvalidInputError, PatinaError

MAX_PIXELS: int = 200_000_000
SUPPORTED_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")

_SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF",
                   ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP"}  # fmt: skip
_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")  # JPEG also opens MPO
_DEEP_FORMATS = ("PNG", "TIFF")  # formats that store 16 bits per channel
_ALPHA_FORMATS = ("PNG", "TIFF", "WEBP")
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_TIFF_TEXT_TAGS = (271, 272, 315, 316, 33432)  # Make, Model, Artist, HostComputer, Copyright
_TIFF_EXIF_TAGS = (270, 305, 306, *_TIFF_TEXT_TAGS, _EXIF_IFD, _GPS_IFD)
_ICC_TAG = 34675
_SUPPORTED_LIST = "PNG, JPEG, TIFF, WebP or BMP"
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "MINISBLACK", "MINISWHITE"})
_COLOURS = ("auto", "rgb", "grey")
_LUMA_601 = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 R, G, B weights
_SIGNATURES = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
               b"II+\x00": "TIFF", b"MM\x00+": "TIFF", b"RIFF": "WebP", b"BM": "BMP"}  # fmt: skip
_JPEG_EXIF_MAX = 65533  # bytes of EXIF (with "Exif\0\0") one JPEG APP1 segment holds
# zlib level of PNG and TIFF outputs, chosen for speed: a 12 MP 8-bit PNG takes 1.2 s at
# level 1 and 6.9 s at the encoders' default 6, for files ~12 % larger (docs/throughput.md).
ZLIB_LEVEL = 1

_log = logging.getLogger(__name__)

if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # our max_pixels check is the guard (see above)


@dataclass
class ImageMeta:
    """What :func:`load` keeps beside the pixels, and :func:`save` writes back.

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


@dataclass
class _Decoded:
    """A decoded file before orientation: ``array`` is (H, W) or (H, W, C), C in 1..4."""

    array: np.ndarray
    orientation: int
    meta: ImageMeta


@dataclass(frozen=True)
class _Job:
    """Everything a writer needs; ``icc`` and ``exif`` are already checked.

    ``pixels`` is float ``(H, W, 3)`` RGB or ``(H, W)`` grey (then written single-channel).
    """

    fmt: str
    pixels: np.ndarray
    alpha: np.ndarray | None
    depth: int
    quality: int
    icc: bytes | None
    exif: Image.Exif | None
    exif_bytes: bytes | None
    dpi: tuple[float, float] | None


# ----------------------------------------------------------------------------- public API


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
    _quiet_decoders()
    with _decoding(src):
        decoded = _decode(src, max_pixels)
    array = _orient(decoded.array, decoded.orientation)
    rgb, alpha = _split_alpha(array)
    dpi = decoded.meta.dpi
    if dpi is not None and decoded.orientation >= 5:
        dpi = (dpi[1], dpi[0])
    return LoadedImage(rgb, replace(decoded.meta, alpha=alpha, dpi=dpi))


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
    job = _make_job(fmt, rgb, meta, depth, quality, grey)
    atomic_write(dest, lambda fh: _WRITERS[_writer_key(job)](fh, job), overwrite)
    return dest


def is_grey_mode(mode: str) -> bool:
    """Whether ``mode`` (an :attr:`ImageMeta.mode`) names a grey source: a Pillow grey mode
    ("1", "L", "LA", "La", "I", "F", "I;16*") or tifffile's "MINISBLACK" / "MINISWHITE"."""
    return mode in _GREY_MODES or mode.startswith("I;16")


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


# ---------------------------------------------------------------------------- loading


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
        kind = _signature(src)
        if kind:
            raise ImageIOError(
                f"{src} is damaged or truncated: it starts like a {kind} file but cannot be read"
            ) from err
        raise ImageIOError(f"{src} is not an image Patina can read ({_SUPPORTED_LIST})") from err
    except FileNotFoundError as err:
        raise ImageIOError(f"cannot open {src}: no such file") from err
    except OSError as err:
        if err.errno is not None:
            raise ImageIOError(f"cannot read {src}: {err.strerror}") from err
        raise ImageIOError(f"{src} is damaged or truncated: {_oneline(err)}") from err
    except Exception as err:  # decoders raise SyntaxError, ValueError, struct.error, ...
        raise ImageIOError(f"{src} is damaged or not a valid image: {_oneline(err)}") from err


def _quiet_decoders() -> None:
    """Keep Pillow's stderr warnings out of the one-line messages: the size check replaces
    DecompressionBombWarning, and a damaged TIFF's tags end in a decode error or a result.
    (Set on every load, not at import: a test runner resets the filters.)"""
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    warnings.filterwarnings("ignore", module=r"PIL\.TiffImagePlugin")


def _signature(src: Path) -> str | None:
    """The format whose magic bytes ``src`` starts with (PNG, JPEG, ...), or None."""
    try:
        with src.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


def _oneline(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _decode(src: Path, max_pixels: int) -> _Decoded:
    """Decode ``src`` (not yet oriented) after checking its header size."""
    try:
        image = Image.open(src, formats=_PIL_FORMATS)
    except UnidentifiedImageError:
        if _is_tiff(src):  # e.g. float or 16-bit grey+alpha TIFF: Pillow cannot, tifffile can
            return _decode_tiff_only(src, max_pixels)
        raise
    with image:
        _check_size(src, image.size, max_pixels)
        return _decode_opened(src, image)


def _decode_opened(src: Path, image: Image.Image) -> _Decoded:
    fmt = "JPEG" if image.format == "MPO" else str(image.format)
    deep = _deep_reader(src, image, fmt)
    if deep is None and fmt == "PNG":
        image.load()  # an eXIf chunk may follow the pixel data
    exif, orientation = _read_exif(image, fmt)  # before Pillow's TIFF load rotates
    icc = image.info.get("icc_profile") or None
    if deep is not None:
        array, tiff_icc = deep(src)
        icc = tiff_icc or icc
    else:
        array = _pillow_array(image)
        if fmt == "TIFF":  # Pillow applies and removes the TIFF orientation when loading
            orientation = _orientation_of(image.getexif())
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
        return fh.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


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


def _read_exif(image: Image.Image, fmt: str) -> tuple[bytes | None, int]:
    """(EXIF bytes with Orientation reset to 1 or None, orientation 1-8) of an open image."""
    try:
        if fmt == "PNG" and "exif" not in image.info:
            return None, 1  # getexif() would decode the pixels to look for it
        exif = image.getexif()
        orientation = _orientation_of(exif)
        if fmt == "TIFF":
            return _tiff_exif(exif), orientation
        raw = image.info.get("exif")
        return (_exif_with_orientation_1(raw) if raw else None), orientation
    except Exception as err:  # broken EXIF must not make the photo unreadable
        name = getattr(image, "filename", "")
        _log.warning("ignoring unreadable EXIF in %s: %s", name, _oneline(err))
        return None, 1


def _orientation_of(exif: Image.Exif) -> int:
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_with_orientation_1(raw: bytes) -> bytes | None:
    """``raw`` EXIF (``Exif\\0\\0`` header added), re-serialized only if rotated; None if
    no tag can be read from it."""
    raw = raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw
    exif = Image.Exif()
    exif.load(raw)
    if not exif:
        return None
    if exif.get(_ORIENTATION, 1) == 1:
        return raw
    exif[_ORIENTATION] = 1
    return exif.tobytes()


def _tiff_exif(tags: Image.Exif) -> bytes | None:
    """The EXIF-like part of a TIFF's first IFD (text tags, Exif/GPS sub-IFDs), or None."""
    kept = Image.Exif()
    for tag in _TIFF_EXIF_TAGS:
        if tag in tags:
            kept[tag] = tags.get_ifd(tag) if tag in (_EXIF_IFD, _GPS_IFD) else tags[tag]
    if not kept:
        return None
    if _ORIENTATION in tags:
        kept[_ORIENTATION] = 1
    return kept.tobytes()


def _dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    if not dpi or len(dpi) != 2 or not all(float(v) > 0 for v in dpi):
        return None
    return float(dpi[0]), float(dpi[1])


_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1-8 (as PIL.ImageOps.exif_transpose does); returns a view."""
    return _ORIENT.get(orientation, lambda a: a)(array)


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


# ----------------------------------------------------------------------------- saving


def _save_format(dest: Path) -> str:
    fmt = _SUFFIX_FORMATS.get(dest.suffix.lower())
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
        return source if fmt in _DEEP_FORMATS and source in (8, 16) else 8
    if requested not in (8, 16):
        raise InvalidInputError(f"bit depth must be 8 or 16, got {requested}")
    if requested == 16 and fmt not in _DEEP_FORMATS:
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


def _make_job(
    fmt: str, rgb: np.ndarray, meta: ImageMeta, depth: int, quality: int, grey: bool
) -> _Job:
    alpha = meta.alpha
    if fmt not in _ALPHA_FORMATS or alpha is None or alpha.shape != rgb.shape[:2]:
        alpha = None
    pixels = _grey_pixels(rgb, _stores_grey(fmt, depth, alpha is not None)) if grey else rgb
    icc = _matching_icc(meta.icc_profile, b"GRAY" if pixels.ndim == 2 else b"RGB ")
    exif, exif_bytes = _exif_for_save(meta.exif)
    if fmt == "JPEG" and exif_bytes and len(exif_bytes) > _JPEG_EXIF_MAX:
        _log.warning("not writing EXIF of %d bytes: a JPEG holds at most 64 KB", len(exif_bytes))
        exif, exif_bytes = None, None
    return _Job(fmt, pixels, alpha, depth, quality, icc, exif, exif_bytes, meta.dpi)


def _stores_grey(fmt: str, depth: int, has_alpha: bool) -> bool:
    """Whether the writer for ``fmt`` at ``depth`` can write one grey channel (+ alpha)."""
    if fmt == "WEBP":
        return False  # WebP has no grey mode: Pillow would encode RGB anyway
    # OpenCV's PNG encoder takes 1, 3 or 4 channels, so 16-bit grey+alpha falls back to RGBA
    return not (fmt == "PNG" and depth == 16 and has_alpha)


def _grey_pixels(rgb: np.ndarray, single_channel: bool) -> np.ndarray:
    """ITU-R 601 luma of ``rgb`` (clipped) as float32 ``(H, W)``, or as three equal
    channels when the file cannot store a single grey channel."""
    clipped = np.clip(rgb, 0.0, 1.0, dtype=np.float32)
    luma = np.tensordot(clipped, _LUMA_601, axes=1)  # BLAS; equal channels give the channel
    return luma if single_channel else np.repeat(luma[..., None], 3, axis=2)


def _matching_icc(icc: bytes | None, space: bytes) -> bytes | None:
    """``icc`` if its header colour space (bytes 16-20) is ``space``, else None."""
    return icc if icc and icc[16:20] == space else None


def _exif_for_save(raw: bytes | None) -> tuple[Image.Exif | None, bytes | None]:
    """``raw`` EXIF parsed and as bytes, both with Orientation 1; (None, None) if unusable."""
    if not raw:
        return None, None
    try:
        exif = Image.Exif()
        exif.load(raw)
        if not exif:
            raise ValueError("no EXIF tags found")
        exif[_ORIENTATION] = 1
        return exif, _exif_with_orientation_1(raw)
    except Exception as err:  # unreadable EXIF must not stop the export
        _log.warning("not writing unreadable EXIF: %s", _oneline(err))
        return None, None


def _stack_uint(job: _Job, depth: int) -> np.ndarray:
    """uint8/uint16 (H, W) grey, (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA."""
    colour = to_uint(job.pixels, depth)
    return colour if job.alpha is None else np.dstack([colour, to_uint(job.alpha, depth)])


def _writer_key(job: _Job) -> str:
    """PNG goes through OpenCV (faster than Pillow's encoder) except 8-bit grey+alpha,
    which OpenCV cannot write."""
    if job.fmt == "PNG" and (job.depth == 16 or job.pixels.ndim == 3 or job.alpha is None):
        return "PNG_CV"
    return job.fmt


def _write_pillow(fh: IO[bytes], job: _Job) -> None:
    """8-bit PNG, JPEG, WebP or BMP through Pillow (L, LA, RGB or RGBA), with the metadata
    the format stores."""
    options: dict[str, Any] = {"icc_profile": job.icc, "exif": job.exif_bytes, "dpi": job.dpi}
    if job.fmt == "JPEG":
        options.update(quality=job.quality, subsampling=0 if job.quality >= 90 else 2)
    elif job.fmt == "WEBP":
        options.update(quality=job.quality, lossless=job.quality == 100, dpi=None)
    elif job.fmt == "BMP":
        options.update(icc_profile=None, exif=None)
    elif job.fmt == "PNG":
        options.update(compress_level=ZLIB_LEVEL)
    options = {key: value for key, value in options.items() if value is not None}
    Image.fromarray(_stack_uint(job, 8)).save(fh, format=job.fmt, **options)


def _write_png_cv(fh: IO[bytes], job: _Job) -> None:
    """8/16-bit grey, RGB or RGBA PNG through OpenCV (zlib :data:`ZLIB_LEVEL`), with iCCP,
    pHYs and eXIf chunks added after IHDR (grey+alpha never comes here: see
    :func:`_stores_grey` and :func:`_writer_key`)."""
    data = _stack_uint(job, job.depth)
    if data.ndim == 3:
        code = cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        data = cv2.cvtColor(data, code)
    ok, encoded = cv2.imencode(".png", data, [cv2.IMWRITE_PNG_COMPRESSION, ZLIB_LEVEL])
    if not ok:
        raise OSError("the PNG encoder failed")
    png = encoded.reshape(-1).data
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR: length, type, 13 bytes, CRC
    fh.write(png[:ihdr_end])
    for kind, body in _png_chunks(job):
        fh.write(struct.pack(">I", len(body)) + kind + body)
        fh.write(struct.pack(">I", zlib.crc32(kind + body)))
    fh.write(png[ihdr_end:])


def _png_chunks(job: _Job) -> list[tuple[bytes, bytes]]:
    chunks = []
    if job.icc:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(job.icc)))
    if job.dpi:
        per_metre = (round(job.dpi[0] / 0.0254), round(job.dpi[1] / 0.0254))
        chunks.append((b"pHYs", struct.pack(">IIB", *per_metre, 1)))
    if job.exif_bytes:
        chunks.append((b"eXIf", job.exif_bytes.removeprefix(_EXIF_HEADER)))
    return chunks


def _write_tiff(fh: IO[bytes], job: _Job) -> None:
    """8/16-bit deflate TIFF through tifffile, RGB or MINISBLACK grey (alpha as an extra
    sample): ICC in tag 34675, EXIF as tags and sub-IFDs."""
    data = _stack_uint(job, job.depth)
    bigtiff = data.nbytes > 2**32 - 2**25
    exif = None if bigtiff else job.exif
    sub_ifds = _sub_ifds(exif)
    photometric = "minisblack" if job.pixels.ndim == 2 else "rgb"
    tifffile.imwrite(
        fh, data, photometric=photometric, planarconfig="contig", compression="zlib",
        compressionargs={"level": ZLIB_LEVEL}, predictor=True,
        extrasamples=None if job.alpha is None else ("unassalpha",),
        iccprofile=job.icc, resolution=job.dpi, resolutionunit="INCH" if job.dpi else None,
        metadata=None, byteorder="<", bigtiff=bigtiff, **_tiff_text_args(exif, sub_ifds),
    )  # fmt: skip
    for tag, ifd in sub_ifds.items():
        _append_sub_ifd(fh, tag, ifd)


def _sub_ifds(exif: Image.Exif | None) -> dict[int, TiffImagePlugin.ImageFileDirectory_v2]:
    """The Exif and GPS sub-IFDs of ``exif`` that serialize (others are dropped, logged)."""
    result = {}
    for tag in (_EXIF_IFD, _GPS_IFD):
        if exif is None or tag not in exif:
            continue
        try:
            ifd = TiffImagePlugin.ImageFileDirectory_v2(group=tag)
            for key, value in exif.get_ifd(tag).items():
                if key != _INTEROP_IFD:
                    ifd[key] = value
            ifd.tobytes(0)
        except Exception as err:  # odd EXIF values must not stop the export
            _log.warning("not writing EXIF sub-IFD %#x: %s", tag, _oneline(err))
            continue
        result[tag] = ifd
    return result


def _tiff_text_args(
    exif: Image.Exif | None, sub_ifds: dict[int, TiffImagePlugin.ImageFileDirectory_v2]
) -> dict[str, Any]:
    """tifffile arguments for EXIF text tags (7-bit ASCII only) and sub-IFD placeholders."""

    def text(tag: int) -> str | None:
        value = exif.get(tag) if exif is not None else None
        if not isinstance(value, str) or not value.isascii() or "\x00" in value:
            return None
        return value.strip() or None

    extratags: list[tuple[Any, ...]] = [
        (tag, "s", 0, text(tag), True) for tag in _TIFF_TEXT_TAGS if text(tag)
    ]
    names = {_EXIF_IFD: "ExifTag", _GPS_IFD: "GPSTag"}  # names: tifffile filters these codes
    extratags += [(names[tag], 4, 1, 0, True) for tag in sub_ifds]
    args = {"description": text(270), "software": text(305) or "Patina", "datetime": text(306)}
    return {**args, "extratags": extratags}


def _append_sub_ifd(fh: IO[bytes], tag: int, ifd: TiffImagePlugin.ImageFileDirectory_v2) -> None:
    """Append ``ifd`` at the end of a little-endian classic TIFF and point IFD 0's ``tag``
    (a LONG placeholder) at it."""
    offset = fh.seek(0, os.SEEK_END)
    if offset % 2:
        offset += fh.write(b"\x00")
    fh.write(ifd.tobytes(offset))
    fh.seek(4)
    (ifd0,) = struct.unpack("<I", fh.read(4))
    fh.seek(ifd0)
    (count,) = struct.unpack("<H", fh.read(2))
    table = fh.read(12 * count)
    for index in range(count):
        if struct.unpack_from("<H", table, 12 * index)[0] == tag:
            fh.seek(ifd0 + 2 + 12 * index + 8)
            fh.write(struct.pack("<I", offset))
            return
    raise OSError(f"TIFF tag {tag} placeholder missing")


_WRITERS: dict[str, Callable[[IO[bytes], _Job], None]] = {
    "PNG": _write_pillow,
    "JPEG": _write_pillow,
    "WEBP": _write_pillow,
    "BMP": _write_pillow,
    "PNG_CV": _write_png_cv,
    "TIFF": _write_tiff,
}
