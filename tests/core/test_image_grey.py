"""Grey in, grey out: app.core.image_io writes grey sources (or ``colour="grey"``) as
single-channel luma where the format allows, RGB where asked or where it cannot."""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from app.core.errors import InvalidInputError
from app.core.image_formats import from_uint, to_uint
from app.core.image_io import load, save
from app.core.image_meta import ImageMeta, LoadedImage, is_grey_mode
from tests.core.image_samples import GREY_ICC, SRGB_ICC, listing, pattern, random_u16

# ----------------------------------------------------------------------------- grey output


def grey_source(path: Path, grey: np.ndarray) -> LoadedImage:
    """Write the 2-D uint8/uint16 ``grey`` to ``path`` (Pillow 8-bit, OpenCV 16-bit), load it."""
    if grey.dtype == np.uint16:
        cv2.imwrite(str(path), grey)
    else:
        Image.fromarray(grey).save(path)
    return load(path)


def tiff_page(path: Path) -> tuple[np.ndarray, tifffile.PHOTOMETRIC, tuple[int, ...]]:
    """(pixels, photometric, extra samples) of page 1 of the TIFF at ``path``."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        return page.asarray(), page.photometric, tuple(page.extrasamples)


@pytest.mark.parametrize(
    ("mode", "grey"),
    [("1", True), ("L", True), ("LA", True), ("La", True), ("I", True), ("F", True),
     ("I;16", True), ("I;16B", True), ("MINISBLACK", True), ("MINISWHITE", True),
     ("RGB", False), ("RGBA", False), ("P", False), ("CMYK", False), ("YCbCr", False)],
)  # fmt: skip
def test_is_grey_mode(mode, grey):
    assert is_grey_mode(mode) is grey


def test_grey_png8_round_trip_stays_grey_and_exact(tmp_path, rng):
    grey = rng.integers(0, 256, size=(21, 17), dtype=np.uint8)
    image = grey_source(tmp_path / "in.png", grey)
    out = save(tmp_path / "out.png", image.pixels, image.meta)
    with Image.open(out) as reread:
        assert reread.mode == "L"
        np.testing.assert_array_equal(np.asarray(reread), grey)


def test_grey_png16_stays_16bit_grey_and_exact(tmp_path, rng):
    grey = random_u16(rng, (19, 23))
    image = grey_source(tmp_path / "in.png", grey)
    assert image.meta.bit_depth == 16 and is_grey_mode(image.meta.mode)
    out = save(tmp_path / "out.png", image.pixels, image.meta)
    with Image.open(out) as reread:
        assert reread.mode in ("I;16", "I")
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.ndim == 2 and written.dtype == np.uint16
    np.testing.assert_array_equal(written, grey)


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_grey_jpeg_and_bmp_are_written_single_channel(tmp_path, suffix):
    grey = pattern()[..., 0]
    image = grey_source(tmp_path / "in.png", grey)
    out = save(tmp_path / f"out{suffix}", image.pixels, image.meta)
    with Image.open(out) as reread:
        assert reread.mode == "L"
        assert np.abs(np.asarray(reread).astype(int) - grey).mean() < 2


@pytest.mark.parametrize("depth", [8, 16])
def test_grey_tiff_is_written_minisblack(tmp_path, rng, depth):
    dtype = np.uint8 if depth == 8 else np.uint16
    grey = rng.integers(0, np.iinfo(dtype).max + 1, size=(13, 29), dtype=dtype)
    image = grey_source(tmp_path / "in.png", grey)
    out = save(tmp_path / "out.tif", image.pixels, image.meta)
    written, photometric, extra = tiff_page(out)
    assert photometric == tifffile.PHOTOMETRIC.MINISBLACK and extra == ()
    assert written.ndim == 2 and written.dtype == dtype
    np.testing.assert_array_equal(written, grey)
    back = load(out)
    assert back.meta.bit_depth == depth and is_grey_mode(back.meta.mode)


@pytest.mark.parametrize(("suffix", "depth"), [(".png", 8), (".tif", 8), (".tif", 16)])
def test_grey_with_alpha_keeps_alpha(tmp_path, rng, suffix, depth):
    la = rng.integers(0, 256, size=(11, 15, 2), dtype=np.uint8)
    Image.fromarray(la).save(tmp_path / "in.png")
    image = load(tmp_path / "in.png")
    assert image.meta.mode == "LA"
    out = save(tmp_path / f"out{suffix}", image.pixels, image.meta, bit_depth=depth)
    if suffix == ".png":
        with Image.open(out) as reread:
            assert reread.mode == "LA"
            np.testing.assert_array_equal(np.asarray(reread), la)
        return
    written, photometric, extra = tiff_page(out)
    assert photometric == tifffile.PHOTOMETRIC.MINISBLACK
    assert extra == (tifffile.EXTRASAMPLE.UNASSALPHA,) and written.shape == (11, 15, 2)
    np.testing.assert_array_equal(to_uint(from_uint(written), 8), la)
    back = load(out)  # 16-bit grey+alpha TIFF: read through tifffile
    np.testing.assert_array_equal(to_uint(back.meta.alpha, 8), la[..., 1])


def test_grey_with_alpha_png16_falls_back_to_rgba(tmp_path, rng):
    la = random_u16(rng, (9, 7, 2))
    meta = ImageMeta("PNG", 16, "LA", icc_profile=GREY_ICC, alpha=from_uint(la[..., 1]))
    pixels = np.repeat(from_uint(la[..., :1]), 3, axis=2)
    out = save(tmp_path / "out.png", pixels, meta)
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)  # BGRA
    assert written.shape == (9, 7, 4) and written.dtype == np.uint16
    for channel in range(3):
        np.testing.assert_array_equal(written[..., channel], la[..., 0])
    np.testing.assert_array_equal(written[..., 3], la[..., 1])
    assert load(out).meta.icc_profile is None  # a grey profile does not describe RGBA


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_rgb_source_stays_rgb(tmp_path, suffix):
    image = pattern()
    meta = ImageMeta("PNG", 8, "RGB", icc_profile=SRGB_ICC)
    out = save(tmp_path / f"out{suffix}", image / 255.0, meta, quality=100)
    with Image.open(out) as reread:
        assert reread.mode == "RGB" and reread.info.get("icc_profile") == SRGB_ICC


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_colour_rgb_writes_rgb_for_a_grey_source(tmp_path, rng, suffix):
    grey = rng.integers(0, 256, size=(8, 12), dtype=np.uint8)
    image = grey_source(tmp_path / "in.png", grey)
    out = save(tmp_path / f"out{suffix}", image.pixels, image.meta, colour="rgb")
    with Image.open(out) as reread:
        assert reread.mode == "RGB"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_colour_grey_writes_luma_of_an_rgb_source(tmp_path, rng, suffix):
    rgb = rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
    meta = ImageMeta("PNG", 8, "RGB", icc_profile=SRGB_ICC)
    out = save(tmp_path / f"out{suffix}", from_uint(rgb), meta, colour="grey")
    with Image.open(out) as reread:
        assert reread.mode == "L" and "icc_profile" not in reread.info  # RGB profile dropped
        written = np.asarray(reread).astype(int)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(written - luma).max() <= 0.5 + 1e-3


def test_colour_grey_on_webp_writes_equal_channels(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
    out = save(tmp_path / "out.webp", from_uint(rgb), colour="grey", quality=100)
    with Image.open(out) as reread:  # WebP has no grey mode
        written = np.asarray(reread)
    assert written.ndim == 3 and written.shape[2] == 3
    np.testing.assert_array_equal(written[..., 0], written[..., 1])
    np.testing.assert_array_equal(written[..., 0], written[..., 2])


@pytest.mark.parametrize("colour", ["gray", "RGB", "", "colour"])
def test_bad_colour_is_refused(tmp_path, colour):
    with pytest.raises(InvalidInputError, match="colour must be 'auto', 'rgb' or 'grey'"):
        save(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32), colour=colour)
    assert listing(tmp_path) == []


@pytest.mark.parametrize(("suffix", "depth"), [(".png", 8), (".png", 16), (".jpg", 8),
                                               (".tif", 8), (".tif", 16)])  # fmt: skip
def test_grey_icc_is_kept_on_grey_output(tmp_path, suffix, depth):
    meta = ImageMeta("PNG", depth, "L", icc_profile=GREY_ICC)
    out = save(tmp_path / f"out{suffix}", np.full((4, 6, 3), 0.5, np.float32), meta)
    back = load(out)
    assert back.meta.icc_profile == GREY_ICC and is_grey_mode(back.meta.mode)
    rgb_meta = replace(meta, icc_profile=SRGB_ICC)  # an RGB profile cannot describe grey
    out = save(tmp_path / f"rgb{suffix}", np.full((4, 6, 3), 0.5, np.float32), rgb_meta)
    assert load(out).meta.icc_profile is None
