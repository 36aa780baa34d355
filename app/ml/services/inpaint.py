"""Learned inpainting service: gated-conv U-Net + DL-Net likelihood refinement, tiled.

``run(image, mask=M)`` fills the pixels where ``M > 0`` (1 = fill) and keeps every pixel
with ``M == 0`` bit for bit: ``out = (1 - M) * y + M * fill`` where
``fill = x_hat + seam`` and ``seam`` is the residual ``y - x_hat`` on the known pixels
spread ``feather`` pixels into the hole with a linearly decaying weight (a feathered
seam that never touches known pixels). ``x_hat`` is DL-Net's output after ``k``
estimates (k = 1: the plain network; see :mod:`app.ml.dlnet`).

Tiles (default 512, overlap 64) without any masked pixel are passed through without
running the network, so sparse damage on a 40 MP scan costs little. With the "lines"
head (the shipped model) the 13 candidate fills, DL-Net's refinement and the mixture are
computed only in windows around the hole's connected components (:func:`hole_windows`,
:func:`predict_windowed`); the U-Net ``g`` and the harmonic fills still see the whole
tile, so the result equals the whole-tile computation (to 1e-4, measured 0 to 1e-6;
tests/ml/test_inpaint_windows.py). Refinement needs
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
import torch.nn.functional as F

from app.core.progress import Work
from app.core.tiling import process_tiled
from app.ml.archs.inpaint import InpaintNet, build, harmonic_fill, pad_inputs
from app.ml.archs.line_fill import gaussian_blur, gaussian_blur_radius
from app.ml.archs.line_fill_sparse import line_candidates_at, mixture_at
from app.ml.dlnet import dlnet_forward
from app.ml.loading import EntryLike, load_arch_model, pick_device, weights_path
from app.ml.services.base import Service, ServiceInfo
from app.ml.services.specs import INPAINT_DESCRIPTION as DESCRIPTION
from app.ml.services.specs import INPAINT_PARAMS as PARAMS

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
    if model.cfg.head == "lines":
        out = predict_windowed(model, yp, mp, k, gamma)
    else:
        out = model.for_composite(dlnet_forward(*model.parts(yp, mp), yp, mp, k, gamma), yp, mp)
    return out[0, :, :h, :w].permute(1, 2, 0).cpu().numpy().astype(np.float32)


Window = tuple[int, int, int, int]  # y0, y1, x0, x1
LINE_STEP = 3  # the longest step of a line fill along one axis (ORIENTATIONS' |k| <= 3)


def hole_windows(hole: np.ndarray, ring: int, margin: int) -> list[Window]:
    """Disjoint windows ``(y0, y1, x0, x1)`` of a ``(H, W)`` boolean ``hole`` such that every
    pixel within ``ring`` px (square) of the hole lies in one of them at least ``margin``
    px from its border (or the image's border): the bounding boxes of the connected
    components of the grown hole, widened by ``margin`` and merged where they overlap."""
    grown = np.asarray(hole, np.uint8)
    if ring > 0:
        grown = np.asarray(cv2.dilate(grown, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = [
        (int(y) - margin, int(y + h) + margin, int(x) - margin, int(x + w) + margin)
        for x, y, w, h, _ in stats[1:count]
    ]
    height, width = hole.shape
    return [(max(a, 0), min(b, height), max(c, 0), min(d, width)) for a, b, c, d in _merged(boxes)]


def _merged(boxes: list[Window]) -> list[Window]:
    """Unions of ``boxes`` until no two overlap."""
    done: list[Window] = []
    for box in sorted(boxes):
        while True:
            hit = next((o for o in done if _overlap(o, box)), None)
            if hit is None:
                break
            done.remove(hit)
            box = _union(box, hit)
        done.append(box)
    return done


def _union(a: Window, b: Window) -> Window:
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _overlap(a: Window, b: Window) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def window_margin(model: InpaintNet) -> int:
    """Margin (px) around the ring-grown hole that makes a window's result exact: the
    mixture's blur radius (the logits at ring and hole pixels, and the gradients of the
    refinement, reach that far) and a line fill's longest step (a line leaving the window
    then always crosses a known pixel first), plus 2."""
    return max(gaussian_blur_radius(model.cfg.mix_sigma), LINE_STEP) + 2


def predict_windowed(
    model: InpaintNet, yp: torch.Tensor, mp: torch.Tensor, k: int, gamma: float
) -> torch.Tensor:
    """DL-Net's x_hat for a padded (1, 3, H, W) tile with the "lines" head, composited
    (known pixels = y): ``g`` and the two harmonic fills over the whole tile, the candidate
    fills, refinement and mixture only in :func:`hole_windows` and there only at the
    ring-grown hole's pixels (:mod:`app.ml.archs.line_fill_sparse`; elsewhere every
    candidate is ``y`` itself, so the mixture there is ``y`` as well)."""
    ring = model.cfg.ring
    with torch.no_grad():
        base = model.fill(yp, mp)
        z0 = model.g(yp, mp, base)
        known_ring = 1.0 - F.max_pool2d(mp, 2 * ring + 1, 1, ring) if ring > 0 else 1.0 - mp
        base_ring = harmonic_fill(yp, known_ring)
        harmonic = model.cfg.fill_method == "harmonic"
        base_hole = base if harmonic else harmonic_fill(yp, 1.0 - mp)
    out = yp.clone()
    hole = mp[0, 0].cpu().numpy() > 0
    for y0, y1, x0, x1 in hole_windows(hole, ring, window_margin(model)):
        win = np.s_[..., y0:y1, x0:x1]
        parts = (yp[win], mp[win], z0[win], base_hole[win], base_ring[win])
        out[win] = _fill_window(model, *parts, k=k, gamma=gamma)
    return out


def _fill_window(
    model: InpaintNet,
    y: torch.Tensor,
    m: torch.Tensor,
    z0: torch.Tensor,
    hole_fill: torch.Tensor,
    ring_fill: torch.Tensor,
    *,
    k: int,
    gamma: float,
) -> torch.Tensor:
    """One window of :func:`predict_windowed`: its crops of the tile's image, mask, z0
    and harmonic fills in, the composited x_hat of the window out."""
    z_scale, sigma = float(model.cfg.z_scale), float(model.cfg.mix_sigma)
    with torch.no_grad():
        at, cands = line_candidates_at(y, m, model.cfg.ring, lambda _y, _k: ring_fill, hole_fill)

    def g(_y: torch.Tensor, _m: torch.Tensor) -> torch.Tensor:
        return z0

    def h(z: torch.Tensor) -> torch.Tensor:
        return mixture_at(gaussian_blur(z * z_scale, sigma), y, at, cands)

    return torch.where(m > 0, dlnet_forward(g, h, y, m, k, gamma), y)


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
