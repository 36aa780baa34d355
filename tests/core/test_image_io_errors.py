"""Bad input and failed writes in app.core.image_io: one-line ImageIOError messages,
decompression-bomb limits, refused or failing saves that change nothing."""

import errno
import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from app.core import atomic
from app.core.errors import ImageIOError, InvalidInputError
from app.core.image_io import load, save
from tests.core.image_samples import listing, pattern, random_u16

# ----------------------------------------------------------------------------- bad input


def write_jpeg(path: Path) -> bytes:
    Image.fromarray(pattern()).save(path, format="JPEG", quality=90)
    return path.read_bytes()


def write_noise_png(path: Path) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, format="PNG")
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(write_jpeg(p)[:400]), "damaged or truncated"),
        (lambda p: p.write_bytes(write_noise_png(p)[:1500]), "damaged or truncated"),
        (lambda p: p.write_text("hello, I am not a picture"), "not an image"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "folder"),
    ],
    ids=["truncated_jpeg", "truncated_png", "text", "missing", "folder"],
)
def test_bad_files_raise_a_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageIOError, match=message) as info:
        load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_truncated_16bit_files_raise(tmp_path, rng, suffix):
    data = random_u16(rng, (64, 64, 3))
    path = tmp_path / f"t{suffix}"
    if suffix == ".png":
        cv2.imwrite(str(path), data)
    else:
        tifffile.imwrite(path, data, photometric="rgb", compression="zlib")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageIOError, match=str(path.name)):
        load(path)


@pytest.mark.parametrize("name", ["big.png", "big16.tif", "float.tif"])
def test_decompression_bomb_is_refused_before_decoding(tmp_path, name):
    path = tmp_path / name
    if name == "big.png":
        Image.new("RGB", (20, 20)).save(path)
    else:
        dtype = np.uint16 if name == "big16.tif" else np.float32
        tifffile.imwrite(path, np.zeros((20, 20, 3), dtype), photometric="rgb")
    with pytest.raises(ImageIOError, match="limit of 100 pixels"):
        load(path, max_pixels=100)
    assert load(path, max_pixels=400).pixels.shape == (20, 20, 3)


def test_pillow_bomb_error_becomes_image_io_error(tmp_path, monkeypatch):
    Image.new("RGB", (20, 20)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(ImageIOError, match="too large"):
        load(tmp_path / "big.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    with pytest.raises(ImageIOError, match="ermission denied"):
        load(path)


def test_permission_denied_on_read_and_write(tmp_path, monkeypatch):
    path = tmp_path / "in.png"
    Image.new("RGB", (2, 2)).save(path)
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    def refuse(*args: object, **kwargs: object) -> None:
        raise denied

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageIOError, match="cannot read .*in.png: Permission denied"):
        load(path)
    monkeypatch.undo()
    pixels = load(path).pixels
    monkeypatch.setattr(atomic, "open", refuse, raising=False)  # the temp-file open
    with pytest.raises(ImageIOError, match="cannot write .*out.png: Permission denied"):
        save(tmp_path / "out.png", pixels)
    assert listing(tmp_path) == ["in.png"]


# ------------------------------------------------------------------------ safe writing


@pytest.fixture
def source(tmp_path) -> tuple[Path, bytes]:
    """An input photo in its own folder, and its bytes."""
    folder = tmp_path / "work"
    folder.mkdir()
    path = folder / "input.jpg"
    return path, write_jpeg(path)


def failing_saves(path: Path):
    pixels = load(path).pixels
    folder = path.parent
    return {
        "exists": (lambda: save(path, pixels), "exists; use --overwrite"),
        "input": (lambda: save(path, pixels, overwrite=True, protect=[path]), "input file"),
        "input_spelled_differently": (
            lambda: save(folder / ".." / folder.name / path.name, pixels, overwrite=True,
                         protect=[path]), "input file"),
        "suffix": (lambda: save(folder / "out.gif", pixels), "unsupported file type"),
        "jpeg16": (lambda: save(folder / "out.jpg", pixels, bit_depth=16), "16 bits"),
        "no_folder": (lambda: save(folder / "nope" / "out.png", pixels), "does not exist"),
        "folder": (lambda: save(folder / "sub.png", pixels), "folder"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["exists", "input", "input_spelled_differently", "suffix", "jpeg16", "no_folder", "folder"],
)
def test_refused_saves_change_nothing(source, case):
    path, original = source
    (path.parent / "sub.png").mkdir()
    before = listing(path.parent)
    call, message = failing_saves(path)[case]
    with pytest.raises(ImageIOError, match=message):
        call()
    assert listing(path.parent) == before
    assert path.read_bytes() == original


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
def test_disk_error_removes_temp_file_and_keeps_destination(source, monkeypatch, suffix):
    path, original = source
    existing = path.parent / f"existing{suffix}"
    existing.write_bytes(b"old content")
    before = listing(path.parent)
    pixels = load(path).pixels

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ImageIOError, match="No space left") as info:
        save(existing, pixels, overwrite=True, protect=[path])
    assert str(existing) in str(info.value)
    assert listing(path.parent) == before
    assert existing.read_bytes() == b"old content" and path.read_bytes() == original


def test_encoder_failure_midway_leaves_nothing(source, monkeypatch):
    path, original = source
    before = listing(path.parent)

    def broken(file: io.BufferedRandom, *args: object, **kwargs: object) -> None:
        file.write(b"II*\x00 partial")
        raise ValueError("encoder exploded")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(ImageIOError, match="encoder exploded"):
        save(path.parent / "out.tif", load(path).pixels)
    assert listing(path.parent) == before and path.read_bytes() == original


def test_atomic_save_leaves_only_the_output(source):
    path, original = source
    image = load(path)
    out = save(path.parent / "out.png", image.pixels, image.meta, protect=[path])
    assert listing(path.parent) == ["input.jpg", "out.png"]
    save(out, 1.0 - image.pixels, image.meta, overwrite=True, protect=[path])
    assert listing(path.parent) == ["input.jpg", "out.png"]
    assert np.abs(load(out).pixels - (1.0 - image.pixels)).max() < 1e-6
    assert path.read_bytes() == original
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not the private temp-file mode


def test_save_validates_pixels_and_quality(tmp_path):
    with pytest.raises(InvalidInputError, match="shape"):
        save(tmp_path / "x.png", np.zeros((4, 4)))
    with pytest.raises(InvalidInputError, match="quality"):
        save(tmp_path / "x.jpg", np.zeros((4, 4, 3)), quality=0)
    assert listing(tmp_path) == []
    out = save(tmp_path / "u8.png", np.full((2, 2, 3), 255, np.uint8))  # integers are scaled
    assert load(out).pixels.min() == 1.0
