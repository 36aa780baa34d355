"""Encode float32 pixels and their metadata into PNG, JPEG, TIFF, WebP or BMP bytes.

The encoding half of :func:`app.core.image_io.save`: :func:`make_job` settles what is
written (channels, alpha, ICC, EXIF, dpi) and :func:`write_job` encodes it into an open
binary file. PNG goes through OpenCV (faster than Pillow) except 8-bit grey+alpha, other
8-bit formats through Pillow, TIFF through tifffile; PNG and TIFF use zlib level
:data:`~app.core.image_formats.ZLIB_LEVEL`.

Grey is the ITU-R 601 luma in one channel, except where the format cannot store it (WebP,
16-bit PNG with alpha): there it is three equal channels. An ICC profile is written only
when its colour space matches the written channels.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import cv2
import numpy as np
import tifffile
from PIL import Image

from app.core.image_exif import (
    EXIF_HEADER,
    JPEG_EXIF_MAX,
    append_sub_ifd,
    exif_for_save,
    sub_ifds,
    tiff_text_args,
)
from app.core.image_formats import ALPHA_FORMATS, ZLIB_LEVEL, to_uint
from app.core.image_meta import ImageMeta

_LUMA_601 = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 R, G, B weights

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteJob:
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


def make_job(
    fmt: str, rgb: np.ndarray, meta: ImageMeta, depth: int, quality: int, grey: bool
) -> WriteJob:
    """What to write of float ``(H, W, 3)`` RGB ``rgb`` as ``fmt`` at ``depth`` bits: grey
    luma when ``grey``; ``meta``'s alpha (if the format stores it and its size matches),
    ICC (if its colour space matches), EXIF (JPEG: if it fits in 64 KB) and dpi."""
    alpha = meta.alpha
    if fmt not in ALPHA_FORMATS or alpha is None or alpha.shape != rgb.shape[:2]:
        alpha = None
    pixels = _grey_pixels(rgb, _stores_grey(fmt, depth, alpha is not None)) if grey else rgb
    icc = _matching_icc(meta.icc_profile, b"GRAY" if pixels.ndim == 2 else b"RGB ")
    exif, exif_bytes = exif_for_save(meta.exif)
    if fmt == "JPEG" and exif_bytes and len(exif_bytes) > JPEG_EXIF_MAX:
        _log.warning("not writing EXIF of %d bytes: a JPEG holds at most 64 KB", len(exif_bytes))
        exif, exif_bytes = None, None
    return WriteJob(fmt, pixels, alpha, depth, quality, icc, exif, exif_bytes, meta.dpi)


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


def write_job(fh: IO[bytes], job: WriteJob) -> None:
    """Encode ``job`` into the binary file ``fh`` (opened for writing and reading)."""
    _WRITERS[_writer_key(job)](fh, job)


def _stack_uint(job: WriteJob, depth: int) -> np.ndarray:
    """uint8/uint16 (H, W) grey, (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA."""
    colour = to_uint(job.pixels, depth)
    return colour if job.alpha is None else np.dstack([colour, to_uint(job.alpha, depth)])


def _writer_key(job: WriteJob) -> str:
    """PNG goes through OpenCV (faster than Pillow's encoder) except 8-bit grey+alpha,
    which OpenCV cannot write."""
    if job.fmt == "PNG" and (job.depth == 16 or job.pixels.ndim == 3 or job.alpha is None):
        return "PNG_CV"
    return job.fmt


def _write_pillow(fh: IO[bytes], job: WriteJob) -> None:
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


def _write_png_cv(fh: IO[bytes], job: WriteJob) -> None:
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


def _png_chunks(job: WriteJob) -> list[tuple[bytes, bytes]]:
    chunks = []
    if job.icc:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(job.icc)))
    if job.dpi:
        per_metre = (round(job.dpi[0] / 0.0254), round(job.dpi[1] / 0.0254))
        chunks.append((b"pHYs", struct.pack(">IIB", *per_metre, 1)))
    if job.exif_bytes:
        chunks.append((b"eXIf", job.exif_bytes.removeprefix(EXIF_HEADER)))
    return chunks


def _write_tiff(fh: IO[bytes], job: WriteJob) -> None:
    """8/16-bit deflate TIFF through tifffile, RGB or MINISBLACK grey (alpha as an extra
    sample): ICC in tag 34675, EXIF as tags and sub-IFDs."""
    data = _stack_uint(job, job.depth)
    bigtiff = data.nbytes > 2**32 - 2**25
    exif = None if bigtiff else job.exif
    ifds = sub_ifds(exif)
    photometric = "minisblack" if job.pixels.ndim == 2 else "rgb"
    tifffile.imwrite(
        fh, data, photometric=photometric, planarconfig="contig", compression="zlib",
        compressionargs={"level": ZLIB_LEVEL}, predictor=True,
        extrasamples=None if job.alpha is None else ("unassalpha",),
        iccprofile=job.icc, resolution=job.dpi, resolutionunit="INCH" if job.dpi else None,
        metadata=None, byteorder="<", bigtiff=bigtiff, **tiff_text_args(exif, ifds),
    )  # fmt: skip
    for tag, ifd in ifds.items():
        append_sub_ifd(fh, tag, ifd)


_WRITERS: dict[str, Callable[[IO[bytes], WriteJob], None]] = {
    "PNG": _write_pillow,
    "JPEG": _write_pillow,
    "WEBP": _write_pillow,
    "BMP": _write_pillow,
    "PNG_CV": _write_png_cv,
    "TIFF": _write_tiff,
}
