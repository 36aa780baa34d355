"""Latents borrowed for a transplant or an interpolation, and the cache jobs share.

A region of this image lends its mean code (one L-vector, encoded with some context); an
image file lends its whole code, resized to the target's latent size. Only the public
``encode`` of a VDIR service is used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from app.core.errors import InvalidInputError
from app.ml.steering.edit import CROP_ALIGN, cells

if TYPE_CHECKING:
    from app.ml.steering import Steerable

ENCODE_MARGIN = 16  # px around a region encoded on its own (> encoder half-field, 12 px)


def region_latent(
    service: Steerable, image: np.ndarray, rect: tuple[int, ...], tile: int
) -> np.ndarray:
    """Mean code (L,) of ``rect`` in ``image``, encoded with ENCODE_MARGIN of context."""
    h, w = image.shape[:2]
    y0, x0, y1, x1 = (int(v) for v in rect)
    y1, x1 = min(y1, h), min(x1, w)
    if y1 <= y0 or x1 <= x0:
        raise InvalidInputError(f"the source region {rect} is outside the {w}x{h} image")
    by0 = max(0, y0 - ENCODE_MARGIN) // CROP_ALIGN * CROP_ALIGN
    bx0 = max(0, x0 - ENCODE_MARGIN) // CROP_ALIGN * CROP_ALIGN
    box = image[by0 : min(h, y1 + ENCODE_MARGIN), bx0 : min(w, x1 + ENCODE_MARGIN)]
    latent = service.encode(np.ascontiguousarray(box), tile)
    rows, cols = cells((y0, x0, y1, x1), (by0, bx0), latent.shape[:2])
    return latent[rows, cols].reshape(-1, latent.shape[2]).mean(axis=0, dtype=np.float32)


def image_latent(service: Steerable, path: str, size: tuple[int, int], tile: int) -> np.ndarray:
    """The mean code of the image file ``path``, resized (bilinear) to latent ``size``."""
    from app.core import image_io

    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"the latent source image {file} does not exist")
    latent = service.encode(image_io.load(file).pixels, tile)
    if latent.shape[:2] == size:
        return latent
    resized = cv2.resize(latent, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(resized.reshape(size[0], size[1], -1), dtype=np.float32)


class LatentCache:
    """Codes shared by the jobs of one document (thread-safe, least recently used first
    out past ``max_items``): borrowed latents by source, and the own code and strength
    direction of a crop by (service, origin, size, content fingerprint), so moving a
    slider over the same view does not encode again."""

    def __init__(self, max_items: int = 24) -> None:
        self._data: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_items = max_items

    def get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.max_items:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
