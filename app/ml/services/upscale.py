"""Learned super-resolution service: DL-Net with a known (or estimated) blur, tiled.

``run(image, params={"scale": s, "blur": u, "k": K, "gamma": g})`` returns the image
enlarged exactly ``s`` times. The network (:mod:`app.ml.archs.sr`) upscales BT.601
full-range luma; chroma is bicubic-upscaled (DL-Net section IV-D's protocol), and the
result converted back to RGB. ``u`` is the Gaussian blur std (high-resolution px) the
photo had before it was downscaled: given (``u >= 0``) it is the non-blind DL-Net model
whose K estimates lower ``||(U_u * h(z))↓s - y||^2``; ``u = -1`` (the default) estimates
it first with the model's small blur estimator (blind: "estimate, then DL-Net"), and
:attr:`UpscaleService.run_note` names the estimate.

Tiles (default 512 input px) run with 24 px of context on every side (cropped off) and
are blended linearly across 16 px overlaps (:func:`app.core.tiling.process_tiled`), so
tiling leaves no seam (tiled = untiled to about 1e-4). Refinement needs
gradients w.r.t. z, so the service does not use ``inference_mode`` (weights are frozen).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.core.progress import Work
from app.core.tiling import process_tiled
from app.ml.archs.sr import SRNet, build
from app.ml.dlnet_sr import upscale_luma
from app.ml.loading import EntryLike, load_arch_model, pick_device, weights_path
from app.ml.services.base import Service, ServiceInfo
from app.ml.services.specs import SR_DESCRIPTION as DESCRIPTION
from app.ml.services.specs import SR_PARAMS as PARAMS
from app.ml.sr_ops import bicubic_up, rgb_to_ycc, ycc_to_rgb

SR_ID = "dlnet-sr"
OVERLAP = 16
MARGIN = 24  # context (input px) each tile sees beyond its borders, cropped off after
EST_CROP = 768  # the blur is estimated on at most this centre crop (input px)
_CACHE: dict[tuple[str, str], Any] = {}  # (model id, device) -> network, every upscaler


def load_model(path: Path, device: str = "cpu") -> SRNet:
    """An SRNet in eval mode (weights frozen) from weights whose metadata holds ``arch``."""
    model = load_arch_model(path, build)
    model.requires_grad_(False)
    return model.eval().to(device)


def _tensor(image: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)


def estimate_blur(model: SRNet, image: np.ndarray, scale: int) -> float:
    """The estimator's blur std (px, 0..3) for an (H, W, 3) low-resolution image."""
    h, w = image.shape[:2]
    c = EST_CROP
    crop = image[max(0, (h - c) // 2) : (h - c) // 2 + c, max(0, (w - c) // 2) : (w - c) // 2 + c]
    dev = next(model.parameters()).device
    with torch.no_grad():
        luma = rgb_to_ycc(_tensor(crop, str(dev)))[:, :1]
        return float(model.estimator(luma, scale)[0])


def upscale_tile(
    tile: np.ndarray, *, model: SRNet, scale: int, blur: float, k: int, gamma: float
) -> np.ndarray:
    """(h, w, 3) RGB tile -> (h*scale, w*scale, 3): DL-Net luma + bicubic chroma."""
    dev = next(model.parameters()).device
    ycc = rgb_to_ycc(_tensor(tile, str(dev)))
    u = torch.full((1,), float(blur), device=dev)
    luma = upscale_luma(model, ycc[:, :1], u, scale, k, gamma)
    with torch.no_grad():
        rgb = ycc_to_rgb(torch.cat([luma, bicubic_up(ycc[:, 1:], scale)], dim=1))
    return rgb[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)


def context_tile(
    tile: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    padded: np.ndarray,
    margin: int,
    scale: int,
    upscale: Callable[..., np.ndarray] = upscale_tile,
    **kw: Any,
) -> np.ndarray:
    """``upscale`` (default :func:`upscale_tile`) of the tile with ``margin`` px of context
    from ``padded`` (the image reflect-padded by ``margin``) on every side, the context
    cropped off again, so the network's and the refinement's borders never reach the
    blended output. ``rows`` / ``cols`` are the tile's crops of the image's row / column
    index grids."""
    y0, x0 = int(rows[0, 0]), int(cols[0, 0])
    h, w = tile.shape[:2]
    ctx = padded[y0 : y0 + h + 2 * margin, x0 : x0 + w + 2 * margin]
    out = upscale(ctx, scale=scale, **kw)
    m = margin * scale
    return out[m : m + h * scale, m : m + w * scale]


def upscale_with_context(image: np.ndarray, tile: int, scale: int, **kw: Any) -> Work[np.ndarray]:
    """Tile ``image`` (``tile`` input px, :data:`OVERLAP` blended), upscale every tile with
    :data:`MARGIN` px of context (:func:`context_tile`, ``kw`` passed on) and return the
    (H*scale, W*scale, 3) result."""
    fn = functools.partial(
        context_tile, padded=pad_reflect(image, MARGIN), margin=MARGIN, scale=scale, **kw
    )
    h, w = image.shape[:2]
    grids = (  # index grids as zero-copy views: each tile learns where it lies
        np.broadcast_to(np.arange(h)[:, None], (h, w)),
        np.broadcast_to(np.arange(w)[None, :], (h, w)),
    )
    out = yield from process_tiled(
        image, fn, tile=max(tile, 2 * OVERLAP + 8), overlap=OVERLAP, scale=scale,
        extras=grids, stage="upscale",
    )  # fmt: skip
    return out


def pad_reflect(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` padded by ``margin`` px on every side (reflect-101; edge when too small)."""
    widths = ((margin, margin), (margin, margin), (0, 0))
    if min(image.shape[:2]) > margin:
        return np.pad(image, widths, mode="reflect")
    return np.pad(image, widths, mode="edge")


class UpscaleService(Service):
    """The DL-Net super-resolution model of a manifest entry as a Service."""

    def __init__(self, entry: EntryLike, device: str = "auto") -> None:
        self.entry = entry
        self.device, _ = pick_device(device)
        self.run_note = ""
        self.last_blur: float | None = None
        self.info = ServiceInfo(
            task="upscale", method="dlnet", title=entry.title or "Learned upscaling (DL-Net)",
            description=DESCRIPTION, scale=0, learned=True, params=PARAMS,
        )  # fmt: skip

    @staticmethod
    def load(path: Path, device: str) -> torch.nn.Module:
        """The network of the weights at ``path`` on ``device`` (subclasses: their own)."""
        return load_model(path, device)

    @property
    def model(self) -> SRNet:
        """The loaded network (cached per id and device)."""
        key = (self.entry.id, self.device)
        if key not in _CACHE:
            _CACHE[key] = self.load(weights_path(self.entry), self.device)
        return _CACHE[key]

    def output_scale(self, params: Any = None) -> int:
        return int(self.resolve_params(params)["scale"])

    def blur_for(self, image: np.ndarray, params: dict[str, Any]) -> float:
        """The given blur, or the estimate when it is negative (sets :attr:`run_note`)."""
        blur, scale = float(params["blur"]), int(params["scale"])
        if blur >= 0:
            self.run_note = f"blur {blur:g} px (given)"
        else:
            blur = round(estimate_blur(self.model, image, scale), 2)
            self.run_note = f"blur {blur:g} px (estimated from the image, blind)"
        self.last_blur = blur
        return blur

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        scale = int(params["scale"])
        self.model.check_scale(scale)
        out = yield from upscale_with_context(
            image, tile, scale, model=self.model, blur=self.blur_for(image, params),
            k=int(params["k"]), gamma=float(params["gamma"]),
        )  # fmt: skip
        return out
