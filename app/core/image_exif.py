"""EXIF: read it with its orientation, apply the orientation, reset it, write it into TIFF.

Raw EXIF is kept as bytes starting with ``b"Exif\\0\\0"`` and Orientation reset to 1, since
:func:`orient` has already turned the pixels upright. TIFF files carry EXIF as tags of
their first IFD: on reading, the baseline text tags plus the Exif and GPS sub-IFDs are kept
(:func:`tiff_exif`); on writing, :func:`tiff_text_args` and :func:`append_sub_ifd` put
them back. Broken EXIF is logged and dropped, never fatal.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from PIL import Image, TiffImagePlugin

from app.core.errors import one_line

EXIF_HEADER = b"Exif\x00\x00"
JPEG_EXIF_MAX = 65533  # bytes of EXIF (with "Exif\0\0") one JPEG APP1 segment holds
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_TIFF_TEXT_TAGS = (271, 272, 315, 316, 33432)  # Make, Model, Artist, HostComputer, Copyright
_TIFF_EXIF_TAGS = (270, 305, 306, *_TIFF_TEXT_TAGS, _EXIF_IFD, _GPS_IFD)

SubIfds = dict[int, TiffImagePlugin.ImageFileDirectory_v2]

_log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- reading


def read_exif(image: Image.Image, fmt: str) -> tuple[bytes | None, int]:
    """(EXIF bytes with Orientation reset to 1 or None, orientation 1-8) of an open image."""
    try:
        if fmt == "PNG" and "exif" not in image.info:
            return None, 1  # getexif() would decode the pixels to look for it
        exif = image.getexif()
        orientation = orientation_of(exif)
        if fmt == "TIFF":
            return tiff_exif(exif), orientation
        raw = image.info.get("exif")
        return (exif_with_orientation_1(raw) if raw else None), orientation
    except Exception as err:  # broken EXIF must not make the photo unreadable
        name = getattr(image, "filename", "")
        _log.warning("ignoring unreadable EXIF in %s: %s", name, one_line(err))
        return None, 1


def orientation_of(exif: Image.Exif) -> int:
    """The EXIF Orientation tag (1-8) of ``exif``; 1 when missing or invalid."""
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_with_orientation_1(raw: bytes) -> bytes | None:
    """``raw`` EXIF (``Exif\\0\\0`` header added), re-serialized only if rotated; None if
    no tag can be read from it."""
    raw = raw if raw.startswith(EXIF_HEADER) else EXIF_HEADER + raw
    exif = Image.Exif()
    exif.load(raw)
    if not exif:
        return None
    if exif.get(_ORIENTATION, 1) == 1:
        return raw
    exif[_ORIENTATION] = 1
    return exif.tobytes()


def tiff_exif(tags: Image.Exif) -> bytes | None:
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


_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1-8 (as PIL.ImageOps.exif_transpose does); returns a view."""
    return _ORIENT.get(orientation, lambda a: a)(array)


# ---------------------------------------------------------------------------- writing


def exif_for_save(raw: bytes | None) -> tuple[Image.Exif | None, bytes | None]:
    """``raw`` EXIF parsed and as bytes, both with Orientation 1; (None, None) if unusable."""
    if not raw:
        return None, None
    try:
        exif = Image.Exif()
        exif.load(raw)
        if not exif:
            raise ValueError("no EXIF tags found")
        exif[_ORIENTATION] = 1
        return exif, exif_with_orientation_1(raw)
    except Exception as err:  # unreadable EXIF must not stop the export
        _log.warning("not writing unreadable EXIF: %s", one_line(err))
        return None, None


def sub_ifds(exif: Image.Exif | None) -> SubIfds:
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
            _log.warning("not writing EXIF sub-IFD %#x: %s", tag, one_line(err))
            continue
        result[tag] = ifd
    return result


def tiff_text_args(exif: Image.Exif | None, ifds: SubIfds) -> dict[str, Any]:
    """tifffile arguments for EXIF text tags (7-bit ASCII only) and sub-IFD placeholders
    (one for each of ``ifds``, filled in later by :func:`append_sub_ifd`)."""

    def text(tag: int) -> str | None:
        value = exif.get(tag) if exif is not None else None
        if not isinstance(value, str) or not value.isascii() or "\x00" in value:
            return None
        return value.strip() or None

    extratags: list[tuple[Any, ...]] = [
        (tag, "s", 0, text(tag), True) for tag in _TIFF_TEXT_TAGS if text(tag)
    ]
    names = {_EXIF_IFD: "ExifTag", _GPS_IFD: "GPSTag"}  # names: tifffile filters these codes
    extratags += [(names[tag], 4, 1, 0, True) for tag in ifds]
    args = {"description": text(270), "software": text(305) or "Patina", "datetime": text(306)}
    return {**args, "extratags": extratags}


def append_sub_ifd(fh: IO[bytes], tag: int, ifd: TiffImagePlugin.ImageFileDirectory_v2) -> None:
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
