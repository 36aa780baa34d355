"""Blind learned super-resolution: VDIR-SR (:mod:`app.ml.archs.vdir_sr`), tiled.

``run(image, params={"scale": s, "sharpen": t})`` returns the image enlarged exactly
``s`` times without being told the blur: the encoder's latent ``c`` (at the input's
resolution) conditions the restorer, and its EST head reads the blur back
(:attr:`BlindUpscaleService.run_note` names the estimate, in output pixels, the unit of
DL-Net's ``blur``). Luma goes through the network, chroma is bicubic (as DL-Net's
protocol and :mod:`app.ml.services.upscale`).

The latent is steerable along the blur direction ``d = c(G * y) - c(y)`` (``G`` a
Gaussian of :data:`STEER_BLUR` input px): the restorer is given ``c + (t - 1) * d``, so
``t = 1`` is the model's own reading, ``t > 1`` treats the photo as blurrier (sharper
result), ``t < 1`` as sharper than it is (softer, fewer halos). Every step is local, so
tiles with :data:`MARGIN` px of context blend without seams.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from app.core.errors import InvalidInputError
from app.core.progress import Work
from app.ml.archs.vdir_sr import VDIRSR, build
from app.ml.loading import EntryLike, load_arch_model
from app.ml.services.base import ServiceInfo
from app.ml.services.specs import BLIND_SR_DESCRIPTION as DESCRIPTION
from app.ml.services.specs import BLIND_SR_PARAMS as PARAMS
from app.ml.services.upscale import EST_CROP, UpscaleService, upscale_with_context
from app.ml.sr_ops import bicubic_up, blur, rgb_to_ycc, ycc_to_rgb

STEER_BLUR = 0.6  # input px of extra blur that defines the sharpen direction


def load_model(path: Path, device: str = "cpu") -> VDIRSR:
    """A VDIRSR in eval mode from weights whose metadata holds ``arch``."""
    model = load_arch_model(path, build)
    model.requires_grad_(False)
    return model.eval().to(device)


def _luma(image: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W, 3) RGB -> the (1, 3, H, W) YCbCr tensor and its (1, 1, H, W) luma."""
    rgb = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)
    ycc = rgb_to_ycc(rgb)
    return ycc, ycc[:, :1]


def steered_code(model: VDIRSR, y: torch.Tensor, sharpen: float) -> torch.Tensor:
    """The mean latent of luma ``y``, moved ``sharpen - 1`` along the blur direction."""
    mean, _ = model.encode(y)
    if sharpen == 1.0:
        return mean
    blurrier, _ = model.encode(blur(y, STEER_BLUR))
    return mean + (sharpen - 1.0) * (blurrier - mean)


def estimate_blur(model: VDIRSR, image: np.ndarray) -> float:
    """EST of the latent: the blur std (output px, 0..3) of an (H, W, 3) input, read on
    its central :data:`EST_CROP` square."""
    h, w = image.shape[:2]
    c = EST_CROP
    crop = image[max(0, (h - c) // 2) : (h - c) // 2 + c, max(0, (w - c) // 2) : (w - c) // 2 + c]
    dev = next(model.parameters()).device
    with torch.inference_mode():
        mean, _ = model.encode(_luma(crop, dev)[1])
        return float(model.estimate(mean)[0])


def upscale_tile(tile: np.ndarray, *, model: VDIRSR, scale: int, sharpen: float) -> np.ndarray:
    """(h, w, 3) RGB tile -> (h*scale, w*scale, 3): VDIR-SR luma + bicubic chroma."""
    dev = next(model.parameters()).device
    with torch.inference_mode():
        ycc, y = _luma(tile, dev)
        luma = model.restore(y, steered_code(model, y, sharpen), scale).clamp(0.0, 1.0)
        rgb = ycc_to_rgb(torch.cat([luma, bicubic_up(ycc[:, 1:], scale)], dim=1))
    return rgb[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)


class BlindUpscaleService(UpscaleService):
    """The VDIR-SR model of a manifest entry as a Service (task upscale, method vdir);
    the model cache and ``output_scale`` are :class:`UpscaleService`'s."""

    @staticmethod
    def load(path: Path, device: str) -> VDIRSR:
        """The VDIR-SR network of the weights at ``path`` on ``device``."""
        return load_model(path, device)

    def __init__(self, entry: EntryLike, device: str = "auto") -> None:
        super().__init__(entry, device)
        self.info = ServiceInfo(
            task="upscale", method="vdir", title=entry.title or "Blind learned upscaling (VDIR)",
            description=DESCRIPTION, scale=0, learned=True, params=PARAMS,
        )  # fmt: skip

    @property
    def model(self) -> VDIRSR:  # type: ignore[override]
        """The loaded network (cached per id and device)."""
        return cast(VDIRSR, super().model)

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        scale = int(params["scale"])
        if scale not in self.model.cfg.scales:
            raise InvalidInputError(f"scale {scale} is not one of {self.model.cfg.scales}")
        self.last_blur = round(estimate_blur(self.model, image), 2)
        self.run_note = f"blur {self.last_blur:g} px (estimated by the latent, blind)"
        out = yield from upscale_with_context(
            image, tile, scale, upscale=upscale_tile, model=self.model,
            sharpen=float(params["sharpen"]),
        )  # fmt: skip
        return out
