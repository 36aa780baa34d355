"""Classical (not learned) restoration services: OpenCV / numpy baselines.

Every service here follows :class:`~app.ml.services.base.Service`: float32 ``(H, W, 3)``
RGB in [0, 1] in, float32 ``(H*s, W*s, 3)`` out, one Progress per tile (through
:func:`app.core.tiling.process_tiled`). Decisions that must hold for the whole image (the
noise level, the JPEG quality, whether it is grey) are taken once before tiling, so tiles
never disagree (no seams). The operators live in :mod:`app.ml.classical_operators`.

Methods per task (defaults in DEFAULT_METHODS): denoise bilateral / nlmeans / gaussian;
deblock jpeg-filter; upscale bicubic / lanczos; inpaint telea / navier-stokes / harmonic /
biharmonic.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np

from app.core.progress import Work
from app.core.tiling import process_tiled
from app.ml.classical_operators import (
    bilateral_denoise,
    estimate_jpeg_quality,
    estimate_noise_sigma,
    gaussian_denoise,
    guess_jpeg_quality,
    inpaint_biharmonic,
    inpaint_harmonic,
    inpaint_opencv,
    is_grey,
    jpeg_filter,
    nlmeans_denoise,
    resize,
)
from app.ml.services.base import ParamSpec, Service, ServiceInfo

__all__ = [
    "CLASSICAL_SERVICES",
    "DEFAULT_METHODS",
    "BicubicUpscaler",
    "BiharmonicInpainter",
    "BilateralDenoiser",
    "ClassicalService",
    "GaussianDenoiser",
    "HarmonicInpainter",
    "JpegFilter",
    "LanczosUpscaler",
    "NLMeansDenoiser",
    "NavierStokesInpainter",
    "TeleaInpainter",
    "estimate_jpeg_quality",
    "estimate_noise_sigma",
    "guess_jpeg_quality",
]

TileFn = Callable[..., np.ndarray]


# --- services --------------------------------------------------------------------------


class ClassicalService(Service):
    """An OpenCV/numpy method run tile by tile; always on the CPU.

    Subclasses set ``info`` and ``overlap`` and implement :meth:`_prepare`, which takes the
    whole-image decisions and returns the per-tile operator and its extra inputs.
    """

    overlap = 32

    def __init__(self, device: str = "cpu") -> None:
        self.device = "cpu"

    def _prepare(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[TileFn, tuple[np.ndarray, ...]]:
        raise NotImplementedError

    def _finish(self, image: np.ndarray, mask: np.ndarray | None, out: np.ndarray) -> np.ndarray:
        return out

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        fn, extras = self._prepare(image, mask, params)
        overlap = min(self.overlap, max(tile, 8) // 2)
        out = yield from process_tiled(
            image,
            fn,
            tile=tile,
            overlap=overlap,
            scale=self.output_scale(params),
            extras=extras,
            stage=self.info.task,
        )
        return self._finish(image, mask, out)


_SIGMA = ParamSpec(
    "sigma", -1.0, -1.0, 100.0, help="noise std on the 0..255 scale; -1 estimates it"
)


class _Denoiser(ClassicalService):
    """A denoiser with a ``sigma`` parameter, estimated once per image when negative."""

    def _prepare(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[TileFn, tuple[np.ndarray, ...]]:
        sigma = float(params["sigma"])
        if sigma < 0:
            sigma = estimate_noise_sigma(image)
        return functools.partial(self.denoise, sigma=sigma, grey=is_grey(image)), ()

    def denoise(self, img: np.ndarray, *, sigma: float, grey: bool) -> np.ndarray:
        """Denoise one tile; ``grey`` says whether the whole image is grey."""
        raise NotImplementedError


class BilateralDenoiser(_Denoiser):
    info = ServiceInfo(
        "denoise", "bilateral", "Bilateral (classical)",
        "Two tuned bilateral passes on luma, chroma smoothed by a luma-guided filter. Fast.",
        params=(_SIGMA,),
    )  # fmt: skip

    def denoise(self, img: np.ndarray, *, sigma: float, grey: bool) -> np.ndarray:
        return bilateral_denoise(img, sigma, grey=grey)


class NLMeansDenoiser(_Denoiser):
    info = ServiceInfo(
        "denoise", "nlmeans", "Non-local means (classical)",
        "OpenCV's fast non-local means on 8-bit levels; much slower than bilateral and "
        "not better on CBSD68 (docs/baselines.md).",
        params=(_SIGMA,),
    )  # fmt: skip

    def denoise(self, img: np.ndarray, *, sigma: float, grey: bool) -> np.ndarray:
        return nlmeans_denoise(img, sigma, grey=grey)


class GaussianDenoiser(_Denoiser):
    info = ServiceInfo(
        "denoise", "gaussian", "Gaussian blur (classical)",
        "A plain Gaussian blur sized by the noise level; the simplest baseline.",
        params=(_SIGMA,),
    )  # fmt: skip

    def denoise(self, img: np.ndarray, *, sigma: float, grey: bool) -> np.ndarray:
        return gaussian_denoise(img, sigma)


_QUALITY = ParamSpec("quality", -1, -1, 100, help="JPEG quality 1..100; -1 detects it")


class JpegFilter(ClassicalService):
    info = ServiceInfo(
        "deblock", "jpeg-filter", "JPEG filter (classical)",
        "Averages shifted JPEG re-compressions at the image's quality, then a light bilateral.",
        params=(_QUALITY,),
    )  # fmt: skip

    def _prepare(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[TileFn, tuple[np.ndarray, ...]]:
        quality = int(params["quality"])
        if quality < 1:
            quality = guess_jpeg_quality(image)
        return functools.partial(jpeg_filter, quality=quality), ()


_SCALE = ParamSpec("scale", 2, 2, 4, help="enlargement factor")


class _Resizer(ClassicalService):
    """Interpolating upscaler; the factor is the ``scale`` parameter (info.scale = 0)."""

    overlap = 16
    interpolation = cv2.INTER_CUBIC

    def output_scale(self, params: Mapping[str, Any] | None = None) -> int:
        return int(self.resolve_params(params)["scale"])

    def _prepare(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[TileFn, tuple[np.ndarray, ...]]:
        scale = int(params["scale"])
        return functools.partial(resize, scale=scale, interpolation=self.interpolation), ()


class BicubicUpscaler(_Resizer):
    info = ServiceInfo("upscale", "bicubic", "Bicubic (classical)",
                       "Bicubic interpolation.", scale=0, params=(_SCALE,))  # fmt: skip


class LanczosUpscaler(_Resizer):
    interpolation = cv2.INTER_LANCZOS4
    info = ServiceInfo("upscale", "lanczos", "Lanczos (classical)",
                       "Lanczos (8x8) interpolation; slightly sharper than bicubic.",
                       scale=0, params=(_SCALE,))  # fmt: skip


class _Inpainter(ClassicalService):
    """Fills the masked pixels; known pixels are kept exactly: m*fill + (1-m)*image.

    Tiles overlap by 64 px, so a hole crossing a tile edge is filled from its full context
    by the neighbouring tile as long as it is smaller than the overlap; larger holes can
    show a soft transition where two tiles' fills are blended, and a tile that is entirely
    hole keeps its pixels (nothing to fill from): use bigger tiles for big holes.
    """

    overlap = 64

    def _prepare(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[TileFn, tuple[np.ndarray, ...]]:
        assert mask is not None  # Service.run checks uses_mask
        return functools.partial(self.fill, params=params), (mask,)

    def fill(self, img: np.ndarray, mask: np.ndarray, *, params: dict[str, Any]) -> np.ndarray:
        """Fill the pixels of one tile where ``mask`` > 0."""
        raise NotImplementedError

    def _finish(self, image: np.ndarray, mask: np.ndarray | None, out: np.ndarray) -> np.ndarray:
        assert mask is not None
        m = mask[:, :, None]
        return m * out + (1.0 - m) * image


_RADIUS = ParamSpec("radius", 3, 1, 25, help="neighbourhood radius in pixels")


class TeleaInpainter(_Inpainter):
    info = ServiceInfo("inpaint", "telea", "Telea (classical)",
                       "Fast marching inpainting (Telea 2004); good for thin scratches.",
                       uses_mask=True, params=(_RADIUS,))  # fmt: skip

    def fill(self, img: np.ndarray, mask: np.ndarray, *, params: dict[str, Any]) -> np.ndarray:
        return inpaint_opencv(img, mask, int(params["radius"]), cv2.INPAINT_TELEA)


class NavierStokesInpainter(_Inpainter):
    info = ServiceInfo("inpaint", "navier-stokes", "Navier-Stokes (classical)",
                       "Fluid-dynamics inpainting (Bertalmio 2001).",
                       uses_mask=True, params=(_RADIUS,))  # fmt: skip

    def fill(self, img: np.ndarray, mask: np.ndarray, *, params: dict[str, Any]) -> np.ndarray:
        return inpaint_opencv(img, mask, int(params["radius"]), cv2.INPAINT_NS)


class HarmonicInpainter(_Inpainter):
    info = ServiceInfo("inpaint", "harmonic", "Harmonic (classical)",
                       "Smooth Laplace membrane over each hole (multigrid); fast, and "
                       "better than Telea on dust and larger holes.",
                       uses_mask=True)  # fmt: skip

    def fill(self, img: np.ndarray, mask: np.ndarray, *, params: dict[str, Any]) -> np.ndarray:
        return inpaint_harmonic(img, mask)


class BiharmonicInpainter(_Inpainter):
    info = ServiceInfo("inpaint", "biharmonic", "Biharmonic (classical)",
                       "Smooth biharmonic fill (scikit-image), hole by hole; slow on big holes.",
                       uses_mask=True)  # fmt: skip

    def fill(self, img: np.ndarray, mask: np.ndarray, *, params: dict[str, Any]) -> np.ndarray:
        return inpaint_biharmonic(img, mask)


CLASSICAL_SERVICES: tuple[type[ClassicalService], ...] = (
    BilateralDenoiser,
    NLMeansDenoiser,
    GaussianDenoiser,
    JpegFilter,
    BicubicUpscaler,
    LanczosUpscaler,
    TeleaInpainter,
    NavierStokesInpainter,
    HarmonicInpainter,
    BiharmonicInpainter,
)
DEFAULT_METHODS = {
    "denoise": "bilateral",
    "deblock": "jpeg-filter",
    "upscale": "bicubic",
    "inpaint": "telea",
}
