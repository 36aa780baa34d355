"""Fast deterministic services and image fixtures for the batch tests (no torch)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from app.core.progress import Work
from app.core.tiling import process_tiled
from app.ml.services.base import ParamSpec, Service, ServiceInfo

BOX_INFO = ServiceInfo(
    "denoise", "box", "Box blur (test)", params=(ParamSpec("radius", 1, 0, 8, help="px"),)
)


class BoxService(Service):
    """A tiled box blur: deterministic, fast; records the tile sizes it was asked for."""

    info = BOX_INFO

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.tiles: list[int] = []
        self._lock = threading.Lock()

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        with self._lock:
            self.tiles.append(tile)
        size = 2 * int(params["radius"]) + 1

        def fn(part: np.ndarray) -> np.ndarray:
            return cv2.blur(part, (size, size), borderType=cv2.BORDER_REFLECT)

        return (yield from process_tiled(image, fn, tile=tile, overlap=16, stage="box"))


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError (the batch detects it by name)."""


class GreedyService(BoxService):
    """Runs out of memory on images larger than ``limit`` pixels a side unless the tile is
    at most ``limit``; on images of exactly 77 rows with any tile."""

    def __init__(self, limit: int = 128) -> None:
        super().__init__()
        self.limit = limit

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        with self._lock:
            self.tiles.append(tile)
        big = max(image.shape[:2]) > self.limit
        if (big and tile > self.limit) or image.shape[0] == 77:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return (yield from super()._run(image, mask, params, tile))


class TokenService(BoxService):
    """Each file waits for a token (``release(n)``) before its first tile: the test
    decides exactly how many files may finish."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = threading.Semaphore(0)
        self.started = 0
        self._changed = threading.Condition()

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self.tokens.release()

    def wait_started(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` files have entered the service."""
        with self._changed:
            assert self._changed.wait_for(lambda: self.started >= n, timeout), self.started

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        with self._changed:
            self.started += 1
            self._changed.notify_all()
        self.tokens.acquire(timeout=60)
        return (yield from super()._run(image, mask, params, tile))


class Recorder:
    """An ``on_event`` callback that keeps the events and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def count(self, kind: type) -> int:
        return sum(isinstance(e, kind) for e in self.events)

    def wait_until(self, condition: Any, timeout: float = 30.0) -> None:
        """Block until ``condition()`` holds (checked after every event)."""
        with self._changed:
            assert self._changed.wait_for(condition, timeout), "condition not reached"


def box_factory(task: str, method: str | None, device: str) -> Service:
    """A ServiceFactory for BoxService (module level: picklable for Ray)."""
    return BoxService()


# ---------------------------------------------------------------------------- images

EXIF_MAKE = "PatinaTestCam"


def make_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = EXIF_MAKE  # Make
    exif[0x0110] = "Model 1"
    return exif.tobytes()


@functools.cache
def srgb_icc() -> bytes:
    """An sRGB ICC profile (made once: it carries a creation time)."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def random_pixels(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    smooth = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    noisy = smooth + rng.normal(0, 0.05, (h, w, 3)).astype(np.float32)
    return np.clip(noisy, 0, 1).astype(np.float32)


def write_image(path: Path, seed: int, *, bits: int = 8, grey: bool = False,
                size: tuple[int, int] = (48, 64), meta: bool = True) -> Path:  # fmt: skip
    """Write a small test image with EXIF + ICC (where the format stores them)."""
    from app.core import image_io
    from app.core.image_meta import ImageMeta

    pixels = random_pixels(seed, *size)
    path.parent.mkdir(parents=True, exist_ok=True)
    if grey:
        value = (pixels.mean(axis=2) * 255).round().astype(np.uint8)
        Image.fromarray(value, "L").save(path, exif=make_exif() if meta else b"")
        return path
    info = ImageMeta(
        format="", bit_depth=bits, mode="RGB",
        icc_profile=srgb_icc() if meta else None, exif=make_exif() if meta else None,
    )  # fmt: skip
    image_io.save(path, pixels, info, bit_depth=bits)
    return path
