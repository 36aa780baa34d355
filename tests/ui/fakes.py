"""Fake restoration services for GUI tests (no torch, deterministic, controllable)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from app.core.progress import Progress, Work
from app.ml.services.base import ParamSpec, Service, ServiceInfo


def _info(method: str, title: str, **kw: Any) -> ServiceInfo:
    params = (ParamSpec("strength", 1.0, 0.0, 1.0, help="how much"),)
    return ServiceInfo("denoise", method, title, description=f"{title} (test)", params=params, **kw)


class InvertService(Service):
    """1 - image, in ``tiles`` horizontal bands, one Progress per band."""

    info = _info("invert", "Invert")

    def __init__(self, tiles: int = 4) -> None:
        self.tiles = tiles

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        out = np.empty_like(image)
        bands = np.array_split(np.arange(image.shape[0]), self.tiles)
        for i, rows in enumerate(bands):
            out[rows] = 1.0 - image[rows]
            yield Progress(i + 1, self.tiles, "invert")
        return out


class ConstantService(Service):
    """Fills the image with ``value`` (tells results of two jobs apart)."""

    info = _info("constant", "Constant")

    def __init__(self, value: float) -> None:
        self.value = value

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        yield Progress(1, 1, "constant")
        return np.full_like(image, self.value)


class GatedService(Service):
    """Waits for ``gate`` before each of ``tiles`` tiles; counts the tiles it started."""

    info = _info("gated", "Gated")

    def __init__(self, tiles: int = 10, value: float = 0.25) -> None:
        self.tiles = tiles
        self.value = value
        self.gate = threading.Event()
        self.started = 0

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        for i in range(self.tiles):
            self.gate.wait(30)
            self.started += 1
            yield Progress(i + 1, self.tiles, "gated")
        return np.full_like(image, self.value)


class SlowService(Service):
    """About ``seconds`` of work in 60 tiles (the worker waits, not the GUI)."""

    info = _info("slow", "Slow")

    def __init__(self, seconds: float = 3.0, tiles: int = 60) -> None:
        self.seconds = seconds
        self.tiles = tiles

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        pause = threading.Event()
        for i in range(self.tiles):
            pause.wait(self.seconds / self.tiles)
            yield Progress(i + 1, self.tiles, "slow")
        return image.copy()


class FailingService(Service):
    """Raises after one tile, like a model that runs out of memory."""

    info = _info("failing", "Failing")

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        yield Progress(1, 2, "failing")
        raise RuntimeError("simulated model crash: CUDA error: an illegal memory access")


FAKE_INFOS = [
    InvertService.info,
    ConstantService.info,
    GatedService.info,
    SlowService.info,
    FailingService.info,
]
