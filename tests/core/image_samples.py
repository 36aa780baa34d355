"""Shared test images and metadata for the image I/O tests (tests/core/test_image_*.py)."""

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GREY_ICC = SRGB_ICC[:16] + b"GRAY" + SRGB_ICC[20:]  # header says grey; nobody validates it


def pattern(height: int = 40, width: int = 60) -> np.ndarray:
    """An asymmetric uint8 RGB pattern of flat blocks (survives JPEG): each quadrant differs."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = (230, 20, 20)
    image[: height // 2, width // 2 :] = (20, 230, 20)
    image[height // 2 :, : width // 2] = (20, 20, 230)
    image[height // 2 :, width // 2 :] = (230, 230, 20)
    image[: height // 4, : width // 6] = (250, 250, 250)  # marks the top-left corner
    return image


def make_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[271] = "TestCam"
    exif[274] = orientation
    exif.get_ifd(0x8769)[36867] = "2001:02:03 04:05:06"  # DateTimeOriginal
    return exif


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def random_u16(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 65536, size=shape, dtype=np.uint16)
