"""Tests for app.core.image_io and the modules behind it (image_read, image_write,
image_exif, image_formats, image_meta): bundled samples, round trips per format and bit
depth, orientation, colour modes, metadata, masks."""

import warnings
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from app.core.errors import ImageIOError, InvalidInputError
from app.core.image_formats import from_uint, to_uint
from app.core.image_io import load, load_mask, save, save_mask
from app.core.image_meta import ImageMeta
from tests.core.image_samples import GREY_ICC, SRGB_ICC, make_exif, pattern, random_u16

# ------------------------------------------------------------------------ bundled samples


@pytest.mark.parametrize(
    ("name", "size", "fmt"),
    [("chelsea.png", (300, 451), "PNG"), ("coffee.png", (400, 600), "PNG"),
     ("astronaut.jpg", (512, 512), "JPEG")],
)  # fmt: skip
def test_bundled_samples_load(sample_path, name, size, fmt):
    image = load(sample_path(name))
    assert image.pixels.shape == (*size, 3)
    assert image.pixels.dtype == np.float32 and image.pixels.flags.c_contiguous
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
    assert image.meta.format == fmt and image.meta.bit_depth == 8 and image.meta.alpha is None
    assert name in sample_path("README.md").read_text()


# ---------------------------------------------------------------------------- round trips


def test_png8_round_trip_is_exact(tmp_path, rng):
    data = rng.integers(0, 256, size=(31, 47, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "in.png", dpi=(300, 300))
    image = load(tmp_path / "in.png")
    assert image.meta.format == "PNG" and image.meta.bit_depth == 8 and image.meta.mode == "RGB"
    assert image.meta.dpi == pytest.approx((300, 300), abs=0.01)
    np.testing.assert_array_equal(to_uint(image.pixels, 8), data)
    out = save(tmp_path / "out.png", image.pixels, image.meta)
    with Image.open(out) as reread:
        assert reread.mode == "RGB" and reread.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        np.testing.assert_array_equal(np.asarray(reread), data)


@pytest.mark.parametrize("channels", [3, 4])
def test_png16_round_trip_keeps_bits_icc_and_exif(tmp_path, rng, channels):
    data = random_u16(rng, (23, 37, channels))
    code = cv2.COLOR_RGB2BGR if channels == 3 else cv2.COLOR_RGBA2BGRA
    cv2.imwrite(str(tmp_path / "in.png"), cv2.cvtColor(data, code))
    image = load(tmp_path / "in.png")
    assert image.meta.bit_depth == 16 and image.meta.format == "PNG"
    np.testing.assert_array_equal(to_uint(image.pixels, 16), data[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(to_uint(image.meta.alpha, 16), data[..., 3])
    meta = image.meta
    meta.icc_profile, meta.exif, meta.dpi = SRGB_ICC, make_exif().tobytes(), (600.0, 600.0)
    out = save(tmp_path / "out.png", image.pixels, meta)  # bit depth follows meta: 16
    back = load(out)
    assert back.meta.bit_depth == 16 and back.meta.icc_profile == SRGB_ICC
    assert back.meta.dpi == pytest.approx((600, 600), abs=0.01)
    exif = Image.Exif()
    exif.load(back.meta.exif)
    assert exif[271] == "TestCam" and exif.get_ifd(0x8769)[36867] == "2001:02:03 04:05:06"
    np.testing.assert_array_equal(to_uint(back.pixels, 16), data[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(to_uint(back.meta.alpha, 16), data[..., 3])


def png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk of a PNG file, in order."""
    data, pos, chunks = path.read_bytes(), 8, []
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]))
        pos += 12 + size
    return chunks


@pytest.mark.parametrize(
    ("mode", "depth", "channels"),
    [("RGB", 8, 3), ("RGBA", 8, 4), ("L", 8, 1), ("LA", 8, 2), ("RGB", 16, 3), ("RGBA", 16, 4)],
)
def test_png_metadata_as_pillow_writes_it_and_fast_zlib(tmp_path, rng, mode, depth, channels):
    """The fast PNG writer (OpenCV, zlib level 1) keeps pixels, alpha, ICC, EXIF and dpi
    exactly as Pillow's encoder at its default level wrote them before."""
    grey = mode in ("L", "LA")
    icc = GREY_ICC if grey else SRGB_ICC
    exif = make_exif().tobytes()
    rgb = rng.random((21, 33, 3), dtype=np.float32)
    alpha = rng.random((21, 33), dtype=np.float32) if channels in (2, 4) else None
    meta = ImageMeta("PNG", depth, mode, icc_profile=icc, exif=exif, dpi=(300.0, 300.0))
    meta = replace(meta, alpha=alpha)
    back = load(save(tmp_path / "out.png", rgb, meta))
    stored = np.asarray(Image.open(tmp_path / "out.png")) if depth == 8 else None
    if stored is not None:  # the same pixels through Pillow's default encoder, as before
        Image.fromarray(stored).save(
            tmp_path / "ref.png", icc_profile=icc, exif=exif, dpi=(300, 300)
        )
        ref = load(tmp_path / "ref.png")
        assert back.meta.icc_profile == ref.meta.icc_profile == icc
        assert back.meta.exif == ref.meta.exif and back.meta.dpi == ref.meta.dpi
        np.testing.assert_array_equal(back.pixels, ref.pixels)
    assert back.meta.bit_depth == depth and back.meta.icc_profile == icc
    assert back.meta.dpi == pytest.approx((300, 300), abs=0.01)
    assert Image.Exif().load(back.meta.exif) is None and back.meta.exif  # parses, not empty
    expect = np.dot(rgb, [0.299, 0.587, 0.114])[..., None].repeat(3, 2) if grey else rgb
    np.testing.assert_allclose(back.pixels, expect, atol=0.5 / (2**depth - 1) + 1e-6)
    if alpha is not None:
        np.testing.assert_allclose(back.meta.alpha, alpha, atol=0.5 / (2**depth - 1) + 1e-6)
    idat = b"".join(body for kind, body in png_chunks(tmp_path / "out.png") if kind == b"IDAT")
    assert idat[1] >> 6 == 0  # zlib FLEVEL 0: the fastest compression (level 1)


def test_tiff_is_written_with_fast_zlib(tmp_path, rng):
    meta = ImageMeta("TIFF", 16, "RGB", icc_profile=SRGB_ICC)
    out = save(tmp_path / "out.tif", rng.random((20, 30, 3), dtype=np.float32), meta)
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        fh = tif.filehandle
        fh.seek(page.dataoffsets[0])
        assert fh.read(2)[1] >> 6 == 0  # zlib FLEVEL 0: level 1


def test_png16_grey_loads_as_equal_channels(tmp_path, rng):
    grey = random_u16(rng, (19, 21))
    cv2.imwrite(str(tmp_path / "g16.png"), grey)
    image = load(tmp_path / "g16.png")
    assert image.meta.bit_depth == 16
    for channel in range(3):
        np.testing.assert_array_equal(to_uint(image.pixels[..., channel], 16), grey)


def test_tiff16_rgb_with_icc_round_trips(tmp_path, rng):
    data = random_u16(rng, (29, 41, 3))
    tifffile.imwrite(tmp_path / "in.tif", data, photometric="rgb", iccprofile=SRGB_ICC)
    image = load(tmp_path / "in.tif")
    assert image.meta.format == "TIFF" and image.meta.bit_depth == 16
    assert image.meta.icc_profile == SRGB_ICC
    np.testing.assert_array_equal(to_uint(image.pixels, 16), data)
    out = save(tmp_path / "out.tif", image.pixels, image.meta)
    with tifffile.TiffFile(out) as tif:
        page = tif.pages.first
        assert page.dtype == np.uint16 and page.photometric == tifffile.PHOTOMETRIC.RGB
        assert bytes(page.tags[34675].value) == SRGB_ICC
        np.testing.assert_array_equal(page.asarray(), data)
    back = load(out)
    assert back.meta.bit_depth == 16 and back.meta.icc_profile == SRGB_ICC


def test_tiff_keeps_exif_tags_and_sub_ifds(tmp_path):
    Image.fromarray(pattern()).save(tmp_path / "in.jpg", exif=make_exif(), quality=95)
    image = load(tmp_path / "in.jpg")
    for depth in (8, 16):
        out = save(tmp_path / f"out{depth}.tif", image.pixels, image.meta, bit_depth=depth)
        with tifffile.TiffFile(out) as tif:  # the sub-IFD offset is valid for another reader
            assert tif.pages.first.tags["ExifTag"].value["DateTimeOriginal"]
        back = load(out)
        exif = Image.Exif()
        exif.load(back.meta.exif)
        assert exif[271] == "TestCam" and exif.get_ifd(0x8769)[36867] == "2001:02:03 04:05:06"
        assert back.meta.bit_depth == depth


def test_tiff16_alpha_round_trips(tmp_path, rng):
    data = random_u16(rng, (17, 13, 4))
    tifffile.imwrite(tmp_path / "in.tif", data, photometric="rgb", extrasamples=["unassalpha"])
    image = load(tmp_path / "in.tif")
    np.testing.assert_array_equal(to_uint(image.meta.alpha, 16), data[..., 3])
    out = save(tmp_path / "out.tif", image.pixels, image.meta)
    np.testing.assert_array_equal(tifffile.imread(out), data)


def test_tiff_lzw16_read_without_imagecodecs(tmp_path, rng):
    data = random_u16(rng, (15, 22, 3))
    cv2.imwrite(str(tmp_path / "lzw.tif"), cv2.cvtColor(data, cv2.COLOR_RGB2BGR))  # LZW
    image = load(tmp_path / "lzw.tif")
    assert image.meta.bit_depth == 16
    np.testing.assert_array_equal(to_uint(image.pixels, 16), data)


@pytest.mark.parametrize("kind", ["float32", "grey_alpha16", "planar16", "miniswhite16"])
def test_tiff_kinds_pillow_cannot_decode(tmp_path, rng, kind):
    data = random_u16(rng, (9, 11, 3))
    args = {
        "float32": (data.astype(np.float32) / 65535, {"photometric": "rgb"}),
        "grey_alpha16": (data[..., :2], {"photometric": "minisblack", "extrasamples": [2]}),
        "planar16": (np.moveaxis(data, -1, 0), {"photometric": "rgb", "planarconfig": "separate"}),
        "miniswhite16": (65535 - data[..., 0], {"photometric": "miniswhite"}),
    }
    array, kwargs = args[kind]
    tifffile.imwrite(tmp_path / "in.tif", array, **kwargs)
    image = load(tmp_path / "in.tif")
    assert image.pixels.shape == (9, 11, 3) and image.meta.bit_depth == 16
    expect = data[..., 0] if kind in ("grey_alpha16", "miniswhite16") else data
    got = to_uint(image.pixels, 16)
    np.testing.assert_allclose(got[..., 0] if expect.ndim == 2 else got, expect, atol=1)
    if kind == "grey_alpha16":
        np.testing.assert_array_equal(to_uint(image.meta.alpha, 16), data[..., 1])


def test_webp_and_bmp(tmp_path, rng):
    data = rng.integers(0, 256, size=(12, 14, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "in.bmp")
    image = load(tmp_path / "in.bmp")
    assert image.meta.format == "BMP"
    np.testing.assert_array_equal(to_uint(image.pixels, 8), data)
    save(tmp_path / "out.webp", image.pixels, quality=100)  # 100 = lossless
    back = load(tmp_path / "out.webp")
    assert back.meta.format == "WEBP"
    np.testing.assert_array_equal(to_uint(back.pixels, 8), data)
    save(tmp_path / "out.bmp", image.pixels, image.meta)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.bmp")), data)


# ------------------------------------------------------------------ orientation and modes


def test_jpeg_orientation_6_loads_upright_and_save_resets_it(tmp_path):
    upright = pattern()
    stored = np.rot90(upright, 1)  # what a camera held sideways writes for orientation 6
    Image.fromarray(np.ascontiguousarray(stored)).save(
        tmp_path / "in.jpg", quality=95, exif=make_exif(6), icc_profile=SRGB_ICC
    )
    image = load(tmp_path / "in.jpg")
    assert image.pixels.shape == upright.shape
    assert np.abs(image.pixels - upright / 255.0).mean() < 0.02
    exif = Image.Exif()
    exif.load(image.meta.exif)
    assert exif[274] == 1 and exif[271] == "TestCam"
    out = save(tmp_path / "out.jpg", image.pixels, image.meta)
    with Image.open(out) as reread:
        assert reread.size == (60, 40)
        assert reread.getexif()[274] == 1 and reread.getexif()[271] == "TestCam"
        assert reread.getexif().get_ifd(0x8769)[36867] == "2001:02:03 04:05:06"
        assert reread.info["icc_profile"] == SRGB_ICC


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path, orientation):
    rgba = np.dstack([pattern(), np.arange(40 * 60, dtype=np.uint32).reshape(40, 60) % 251])
    rgba = rgba.astype(np.uint8)
    Image.fromarray(rgba).save(tmp_path / "in.png", exif=make_exif(orientation))
    with Image.open(tmp_path / "in.png") as stored:
        expected = np.asarray(ImageOps.exif_transpose(stored))
    image = load(tmp_path / "in.png")
    np.testing.assert_array_equal(to_uint(image.pixels, 8), expected[..., :3])
    np.testing.assert_array_equal(to_uint(image.meta.alpha, 8), expected[..., 3])


@pytest.mark.parametrize(("depth", "compression"), [(8, None), (8, "zlib"), (16, "zlib")])
def test_tiff_orientation_applied_once(tmp_path, depth, compression):
    upright = pattern().astype(np.uint16 if depth == 16 else np.uint8)
    stored = np.ascontiguousarray(np.rot90(upright, 1))
    tifffile.imwrite(
        tmp_path / "in.tif", stored, photometric="rgb", compression=compression,
        extratags=[(274, 3, 1, 6)],
    )  # fmt: skip
    image = load(tmp_path / "in.tif")
    np.testing.assert_array_equal(to_uint(image.pixels, depth), upright)


def test_corrupt_exif_does_not_stop_loading(tmp_path):
    garbage = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff not really EXIF"
    Image.fromarray(pattern()).save(tmp_path / "in.jpg", exif=garbage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow may warn "Corrupt EXIF data"
        image = load(tmp_path / "in.jpg")
    assert image.pixels.shape == (40, 60, 3) and image.meta.exif is None


def test_webp_keeps_exif_and_icc(tmp_path):
    meta = ImageMeta("JPEG", 8, "RGB", icc_profile=SRGB_ICC, exif=make_exif(3).tobytes())
    out = save(tmp_path / "out.webp", pattern() / 255.0, meta, quality=90)
    back = load(out)
    assert back.meta.icc_profile == SRGB_ICC and back.pixels.shape == (40, 60, 3)
    exif = Image.Exif()
    exif.load(back.meta.exif)
    assert exif[271] == "TestCam" and exif[274] == 1  # written upright, never re-rotated


def test_cmyk_jpeg_loads_as_rgb(tmp_path):
    cmyk = np.zeros((8, 10, 4), np.uint8)
    cmyk[:, :5, 0] = 255  # cyan on the left, white on the right
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    image = load(tmp_path / "cmyk.jpg")
    assert image.meta.mode == "CMYK" and image.pixels.shape == (8, 10, 3)
    np.testing.assert_allclose(image.pixels[4, 1], (0, 1, 1), atol=0.03)
    np.testing.assert_allclose(image.pixels[4, 8], (1, 1, 1), atol=0.03)


def test_palette_png_with_transparency(tmp_path):
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    palette = Image.fromarray(indices, mode="L").convert("P")
    palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    palette.save(tmp_path / "p.png", transparency=1)
    image = load(tmp_path / "p.png")
    assert image.meta.mode == "P"
    np.testing.assert_array_equal(image.meta.alpha, [[1, 0, 1], [1, 0, 1]])
    np.testing.assert_array_equal(image.pixels[0, 0], (1, 0, 0))
    np.testing.assert_array_equal(image.pixels[0, 2], (0, 0, 1))


def test_grey_png_loads_as_three_equal_channels(tmp_path, rng):
    grey = rng.integers(0, 256, size=(10, 12), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    image = load(tmp_path / "g.png")
    assert image.meta.mode == "L" and image.meta.bit_depth == 8
    for channel in range(3):
        np.testing.assert_array_equal(to_uint(image.pixels[..., channel], 8), grey)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_rgba_alpha_is_kept_and_written_back(tmp_path, rng, suffix):
    rgba = rng.integers(0, 256, size=(9, 13, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "in.png")
    image = load(tmp_path / "in.png")
    assert image.meta.mode == "RGBA"
    np.testing.assert_array_equal(to_uint(image.meta.alpha, 8), rgba[..., 3])
    out = save(tmp_path / f"out{suffix}", image.pixels, image.meta, quality=100)
    with Image.open(out) as reread:
        assert reread.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(reread)[..., 3], rgba[..., 3])
    # a resized result cannot reuse the alpha: it is dropped, not stretched
    small = save(tmp_path / f"small{suffix}", image.pixels[:5], image.meta, quality=100)
    assert load(small).meta.alpha is None


def test_grey_icc_is_not_written_into_rgb_files(tmp_path):
    meta = ImageMeta("PNG", 8, "L", icc_profile=GREY_ICC)
    out = save(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32), meta, colour="rgb")
    assert load(out).meta.icc_profile is None


# ---------------------------------------------------------------------------------- masks


def test_mask_round_trip_and_size_check(tmp_path, rng):
    mask = rng.random((30, 40)).astype(np.float32)
    out = save_mask(tmp_path / "mask.png", mask)
    with Image.open(out) as reread:
        assert reread.mode == "L"
    back = load_mask(out, size=(30, 40))
    assert back.dtype == np.float32 and back.shape == (30, 40)
    np.testing.assert_allclose(back, mask, atol=0.5 / 255 + 1e-6)
    with pytest.raises(InvalidInputError, match="40x30.*60x50"):
        load_mask(out, size=(50, 60))


def test_mask_with_alpha_and_bad_masks(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:, :2] = 255  # opaque white on the left, transparent white on the right
    rgba[:, 2:, :3] = 255
    Image.fromarray(rgba).save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png")[0], [1, 1, 0, 0])
    with pytest.raises(ImageIOError, match=r"\.png"):
        save_mask(tmp_path / "m.jpg", np.zeros((4, 4)))
    with pytest.raises(InvalidInputError, match="shape"):
        save_mask(tmp_path / "m2.png", np.zeros((4, 4, 3)))


def test_uint_helpers_round_trip():
    all8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint(from_uint(all8), 8), all8)
    all16 = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(to_uint(from_uint(all16), 16), all16)
    assert from_uint(all16).dtype == np.float32 and from_uint(all16)[-1] == 1.0
    np.testing.assert_array_equal(to_uint(np.array([-1.0, 0.5, 2.0]), 8), [0, 128, 255])
    with pytest.raises(InvalidInputError):
        to_uint(np.zeros(3), 12)
