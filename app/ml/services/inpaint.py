"""Learned inpainting service: gated-conv U-Net + DL-Net likelihood refinement, tiled.

``run(image, mask=M)`` fills the pixels where ``M > 0`` (1 = fill) and keeps every pixel
with ``M == 0`` bit for bit: ``out = (1 - M) * y + M * fill`` where
``fill = x_hat + seam`` and ``seam`` is the residual ``y - x_hat`` on the known pixels
spread ``feather`` pixels into the hole with a linearly decaying weight (a feathered
seam that never touches known pixels). ``x_hat`` is DL-Net's output after ``k``
estimates (k = 1: the plain network; see :mod:`app.ml.dlnet`).

Tiles (default 512, overlap 64) without any masked pixel are passed through without
running the network, so sparse damage on a 40 MP scan costs little. Refinement needs
gradients w.r.t. z, so the network runs under ``torch.no_grad`` (g) and
``torch.enable_grad`` (the K steps on h) instead of ``inference_mode``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from app.core.progress import Work
from app.core.tiling import process_tiled
from app.ml.archs.inpaint import InpaintNet, build, pad_inputs
from app.ml.dlnet import dlnet_forward
from app.ml.loading import load_arch_model, pick_device
from app.ml.services.base import Service, ServiceInfo
from app.ml.services.specs import INPAINT_DESCRIPTION as DESCRIPTION
from app.ml.services.specs import INPAINT_PARAMS as PARAMS
from app.ml.services.vdir import EntryLike, weights_path

INPAINT_ID = "dlnet-inpaint"
OVERLAP = 64
_CACHE: dict[tuple[str, str], InpaintNet] = {}


def load_model(path: Path, device: str = "cpu") -> InpaintNet:
    """An InpaintNet in eval mode from weights whose metadata holds ``arch``."""
    model = load_arch_model(path, build)
    model.requires_grad_(False)
    return model.eval().to(device)


def seam_correction(y: np.ndarray, x_hat: np.ndarray, mask: np.ndarray, feather: int) -> np.ndarray:
    """(H, W, 3) correction added to ``x_hat`` inside the hole (zero when feather is 0).

    The residual ``y - x_hat`` on known pixels (mask == 0) is averaged with a Gaussian of
    sigma ``feather`` (normalised by the known weight) and applied with weight
    ``max(0, 1 - d / feather)``, ``d`` the distance to the nearest known pixel.
    """
    if feather <= 0:
        return np.zeros_like(x_hat)
    known = (mask <= 0).astype(np.float32)
    resid = (y - x_hat) * known[:, :, None]
    num = cv2.GaussianBlur(resid, (0, 0), feather)
    den = cv2.GaussianBlur(known, (0, 0), feather)[:, :, None]
    dist = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(1.0 - dist / float(feather), 0.0, 1.0)[:, :, None]
    return np.asarray(weight * num / np.maximum(den, 1e-3), dtype=np.float32)


def composite(y: np.ndarray, x_hat: np.ndarray, mask: np.ndarray, feather: int) -> np.ndarray:
    """``(1 - M) * y + M * (x_hat + seam)``, clipped; pixels with M == 0 equal y exactly."""
    fill = np.clip(x_hat + seam_correction(y, x_hat, mask, feather), 0.0, 1.0)
    m = mask[:, :, None]
    out = np.where(m > 0, (1.0 - m) * y + m * fill, y)
    return out.astype(np.float32)


def predict(model: InpaintNet, y: np.ndarray, mask: np.ndarray, k: int, gamma: float) -> np.ndarray:
    """Raw network output x_hat (H, W, 3) for one tile (binary hole = mask > 0)."""
    dev = next(model.parameters()).device
    yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None].to(dev)
    mt = torch.from_numpy((mask > 0).astype(np.float32))[None, None].to(dev)
    yp, mp, (h, w) = pad_inputs(yt, mt)
    out = model.for_composite(dlnet_forward(*model.parts(yp, mp), yp, mp, k, gamma), yp, mp)
    return out[0, :, :h, :w].permute(1, 2, 0).cpu().numpy().astype(np.float32)


def fill_tile(
    y: np.ndarray, mask: np.ndarray, *, model: InpaintNet, k: int, gamma: float, feather: int
) -> np.ndarray:
    """Inpaint one tile; a tile without masked pixels is returned unchanged."""
    if not np.any(mask > 0):
        return y
    return composite(y, predict(model, y, mask, k, gamma), mask, feather)


class InpaintService(Service):
    """The learned inpainting model of a manifest entry as a Service (mask required)."""

    def __init__(self, entry: EntryLike, device: str = "auto") -> None:
        self.entry = entry
        self.device, _ = pick_device(device)
        self.info = ServiceInfo(
            task="inpaint", method="dlnet", title=entry.title or "Learned inpainting (DL-Net)",
            description=DESCRIPTION, uses_mask=True, learned=True, params=PARAMS,
        )  # fmt: skip

    @property
    def model(self) -> InpaintNet:
        """The loaded network (cached per id and device)."""
        key = (self.entry.id, self.device)
        if key not in _CACHE:
            _CACHE[key] = load_model(weights_path(self.entry), self.device)
        return _CACHE[key]

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        assert mask is not None  # Service.run checks uses_mask
        fn = functools.partial(
            fill_tile, model=self.model, k=int(params["k"]), gamma=float(params["gamma"]),
            feather=int(params["feather"]),
        )  # fmt: skip
        tile = max(tile, 2 * OVERLAP + 8)
        out = yield from process_tiled(
            image, fn, tile=tile, overlap=OVERLAP, extras=(mask,), stage="inpaint"
        )
        m = mask[:, :, None]
        return np.where(m > 0, out, image)
