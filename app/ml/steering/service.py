"""A steered Service: encode, edit the latent, restore; and the strength axis.

Built only on the public VDIR service contract (``encode``, ``encode_with_std``,
``restore``, ``estimate``; see :class:`Steerable`), so it works with any
:class:`~app.ml.services.vdir.VDIRService` and with tiny test models wrapped the same way.
The edit itself (data + numpy arithmetic) is :mod:`app.ml.steering.edit`.

- :class:`SteeredService`: encode, edit (:func:`apply_edit`), restore; exposes
  ``extra_layers`` (own latent channels, spread, EST map) for the document.
- :func:`strength_direction`: ``c(y + noise) - c(y)``, the "less <-> more restoration" axis.
- :func:`resolve_step` / :func:`estimate_step`: the noise step of that axis from the EST.

The research views (uncertainty, sweep, embedding) are :mod:`app.ml.steering.research`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from app.core.errors import InvalidInputError
from app.core.progress import Progress, Work
from app.ml.services.base import ParamSpec, Service, ServiceInfo
from app.ml.steering.edit import (
    CHANNELS,
    CROP_ALIGN,
    FACTOR,
    STEER_SIGMA,
    STRENGTH_RANGE,
    LatentEdit,
    LatentRef,
    apply_edit,
    auto_step,
    latent_size,
    needs_direction,
    noisier,
    quantize_map,
)
from app.ml.steering.sources import LatentCache, image_latent, region_latent

SWEEP_PARAMS = ("strength", *(f"gain{k}" for k in range(CHANNELS)),
                *(f"offset{k}" for k in range(CHANNELS)))  # fmt: skip
Origin = tuple[int, int]


@runtime_checkable
class Steerable(Protocol):
    """The VDIR service contract this module relies on (DESIGN.md, "Model contract")."""

    info: ServiceInfo
    device: str

    def encode(self, y: np.ndarray, tile: int = 512) -> np.ndarray: ...

    def encode_with_std(self, y: np.ndarray, tile: int = 512) -> tuple[np.ndarray, np.ndarray]: ...

    def restore(
        self,
        y: np.ndarray,
        latent: np.ndarray,
        tile: int = 512,
        ensemble: int = 1,
        route: str = "full",
    ) -> Work[np.ndarray]: ...

    def estimate(self, latent: np.ndarray) -> dict[str, float]: ...


def is_steerable(service: Any) -> bool:
    """Whether ``service`` offers encode/restore/estimate (a VDIR-family service)."""
    return isinstance(service, Steerable)


def est_key(service: Steerable) -> str:
    """``"quality"`` for deblocking models, ``"sigma"`` (0..255) otherwise."""
    return "quality" if service.info.task == "deblock" else "sigma"


def estimate_map(service: Steerable, latent: np.ndarray) -> np.ndarray:
    """EST(c) per latent cell, float32 (h, w), in the units of :meth:`estimate`.

    Uses the service's ``estimate_map`` when it has one; otherwise runs the model's EST
    head (``service.model.estimate``), whose mean over the map is the global estimate.
    """
    own = getattr(service, "estimate_map", None)
    if callable(own):
        return np.asarray(own(latent), np.float32)
    import torch

    from app.ml.services.vdir import QUALITY_NORM, SIGMA_NORM

    model = service.model  # type: ignore[attr-defined]
    param = next(model.parameters())
    tensor = torch.from_numpy(np.ascontiguousarray(latent.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        est = model.estimate(tensor.to(param.device, param.dtype))
    norm = QUALITY_NORM if est_key(service) == "quality" else SIGMA_NORM
    return (est[0, 0].float().cpu().numpy() * norm).astype(np.float32)


def strength_direction(
    service: Steerable,
    y: np.ndarray,
    *,
    sigma: float = STEER_SIGMA,
    seed: int = 0,
    origin: Origin = (0, 0),
    tile: int = 512,
    mean: np.ndarray | None = None,
) -> np.ndarray:
    """``c(y + n) - c(y)``, (h, w, L) float32: the "more restoration" axis of the latent.

    ``n`` is noise of std ``sigma`` (0..255), hashed on absolute positions (``origin``
    is where ``y`` sits in the original), so a crop's direction is the crop of the whole
    image's: white Gaussian, or demosaic-correlated when the service's ``steer_noise`` is
    ``"camera"`` (the real-noise model, so the axis follows real noise). ``mean``: ``c(y)``
    when already computed.
    """
    own = service.encode(y, tile) if mean is None else mean
    kind = str(getattr(service, "steer_noise", "gaussian") or "gaussian")
    far = service.encode(noisier(y, origin, sigma, seed, kind), tile)
    return np.asarray(far - own, np.float32)


def latent_layers(service: Steerable, mean: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    """Document layers of an image's own latent: each channel of the mean, the spread
    (std averaged over channels) and the EST map; float32 (h, w) each."""
    layers = {f"Latent c{k}": np.ascontiguousarray(mean[..., k]) for k in range(mean.shape[2])}
    layers["Latent std"] = std.mean(axis=2, dtype=np.float32)
    layers[f"EST {est_key(service)}"] = estimate_map(service, mean)
    return layers


# ---------------------------------------------------------------------- the service


class SteeredService(Service):
    """A VDIR service whose latent is edited before the restorer runs.

    ``base``: the VDIR service. ``edit``: what to do (its ``strength`` and ``sample``/
    ``seed`` are also the defaults of the ``latent_strength``/``seed`` parameters, which
    override them per run). ``strength_map``: (H, W) in [0, 1] over the whole original
    (0.5 neutral), quantised to 16 bits. For a crop (a preview), ``origin`` is the crop's
    top-left pixel in the original (multiples of 4), ``full_size`` the original's (H, W)
    and ``source_image`` the whole original (region sources are taken from it).

    After a run, ``extra_layers`` holds :func:`latent_layers` of the image's own code and
    ``used_edit`` the edit applied.
    """

    def __init__(
        self,
        base: Steerable,
        edit: LatentEdit | None = None,
        strength_map: np.ndarray | None = None,
        *,
        origin: Origin = (0, 0),
        full_size: tuple[int, int] | None = None,
        source_image: np.ndarray | None = None,
        cache: LatentCache | None = None,
    ) -> None:
        if not is_steerable(base):
            raise InvalidInputError(f"{base.info.title} has no latent to steer (not a VDIR model)")
        if origin[0] % FACTOR or origin[1] % FACTOR:
            raise InvalidInputError(f"a steered crop must start at multiples of 4, not {origin}")
        self.base = base
        self.edit = edit or LatentEdit()
        self.strength_map = strength_map
        self.origin = (int(origin[0]), int(origin[1]))
        self.full_size = full_size
        self.source_image = source_image
        self.cache = cache or LatentCache()
        self.device = base.device
        self.extra_layers: dict[str, np.ndarray] = {}
        self.used_edit = self.edit
        seed = self.edit.seed if self.edit.sample else -1
        self.info = ServiceInfo(
            task=base.info.task, method=base.info.method, title=f"{base.info.title} (steered)",
            description="VDIR with an edited latent code", learned=True,
            params=(ParamSpec("latent_strength", self.edit.strength, *STRENGTH_RANGE,
                              help="1 = neutral; above cleans more, below keeps more"),
                    ParamSpec("seed", seed, -1, 2**31 - 1,
                              help="-1: the mean latent; else a latent sampled with this seed"),
                    *(p for p in base.info.params if p.name in ("ensemble", "route"))),
        )  # fmt: skip

    def effective_edit(self, params: dict[str, Any]) -> LatentEdit:
        """The edit with ``latent_strength`` and ``seed`` taken from ``params``."""
        seed = int(params.get("seed", -1))
        return replace(
            self.edit,
            strength=float(params.get("latent_strength", self.edit.strength)),
            sample=seed >= 0,
            seed=seed if seed >= 0 else self.edit.seed,
        )

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        edit = self.used_edit = self.effective_edit(params)
        key = (id(self.base), self.origin, image.shape, tile, _fingerprint(image))
        mean, std = self.cache.get(("own", *key), lambda: self.base.encode_with_std(image, tile))
        yield Progress(1, 2, "encode")
        smap = self._map(image.shape[:2])
        direction = None
        if needs_direction(edit, smap):
            edit = self.used_edit = resolve_step(self.base, edit, mean)
            step = float(edit.steer_sigma or STEER_SIGMA)
            direction = self.cache.get(
                ("direction", *key, step, edit.noise_seed),
                lambda: strength_direction(self.base, image, sigma=step, seed=edit.noise_seed,
                                           origin=self.origin, tile=tile, mean=mean),
            )  # fmt: skip
        sources = self._sources(edit, image, mean.shape[:2], tile)
        yield Progress(2, 2, "encode")
        latent = apply_edit(mean, std, edit, direction, smap, sources=sources, origin=self.origin)
        ensemble = int(params.get("ensemble", 1))
        route = str(params.get("route", "full"))
        out = yield from self.base.restore(image, latent, tile, ensemble, route)
        routed = dict(getattr(self.base, "extra_layers", None) or {}) if route != "full" else {}
        self.extra_layers = {**latent_layers(self.base, mean, std), **routed}
        return out

    def _map(self, size: tuple[int, int]) -> np.ndarray | None:
        if self.strength_map is None:
            return None
        full = self.full_size or size
        if tuple(self.strength_map.shape[:2]) != tuple(full):
            raise InvalidInputError(
                f"the strength map is {self.strength_map.shape[1]}x{self.strength_map.shape[0]}"
                f" but the image is {full[1]}x{full[0]}; they must be the same size"
            )
        oy, ox = self.origin
        crop = self.strength_map[oy : oy + size[0], ox : ox + size[1]]
        return quantize_map(crop)

    def _sources(
        self, edit: LatentEdit, image: np.ndarray, size: tuple[int, int], tile: int
    ) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in ("transplant", "interpolation"):
            part = getattr(edit, name)
            if part is not None:
                out[name] = self._borrow(part.ref, image, size, tile)
        return out

    def _borrow(
        self, ref: LatentRef, image: np.ndarray, size: tuple[int, int], tile: int
    ) -> np.ndarray:
        """A source latent aligned with this crop: an (L,) vector or an (h, w, L) array."""
        source = self.source_image if self.source_image is not None else image
        rect = ref.rect
        if ref.source == "region" and rect is not None:
            return self.cache.get(ref.key(), lambda: region_latent(self.base, source, rect, tile))
        full = latent_size(*(self.full_size or image.shape[:2]))
        whole = self.cache.get(
            (*ref.key(), full), lambda: image_latent(self.base, str(ref.path), full, tile)
        )
        oy, ox = self.origin[0] // FACTOR, self.origin[1] // FACTOR
        crop = whole[oy : oy + size[0], ox : ox + size[1]]
        if crop.shape[:2] != size:
            crop = np.pad(
                crop,
                ((0, size[0] - crop.shape[0]), (0, size[1] - crop.shape[1]), (0, 0)),
                mode="edge",
            )
        return crop


def _fingerprint(image: np.ndarray) -> int:
    """A cheap content hash of an image (a sparse sample of its pixels)."""
    return hash(np.ascontiguousarray(image[::7, ::5]).tobytes())


# ------------------------------------------------------------------- research helpers


def resolve_step(service: Steerable, edit: LatentEdit, mean: np.ndarray) -> LatentEdit:
    """``edit`` with an automatic ``steer_sigma`` (None) replaced by :func:`auto_step` of
    the EST of ``mean`` (the code of the image being restored)."""
    if edit.steer_sigma is not None:
        return edit
    sigma = float(estimate_map(service, mean).mean()) if est_key(service) == "sigma" else None
    return replace(edit, steer_sigma=auto_step(sigma))


def estimate_step(service: Steerable, image: np.ndarray, max_side: int = 1024) -> float:
    """:func:`auto_step` for ``image`` from the EST of its central ``max_side`` square
    (what the window fixes for a document, so previews and renders agree)."""
    h, w = image.shape[:2]
    y0, x0 = (
        max(0, (h - max_side) // 2) // CROP_ALIGN * CROP_ALIGN,
        max(0, (w - max_side) // 2) // CROP_ALIGN * CROP_ALIGN,
    )
    crop = np.ascontiguousarray(image[y0 : y0 + max_side, x0 : x0 + max_side])
    resolved = resolve_step(service, LatentEdit(), service.encode(crop))
    return float(resolved.steer_sigma or STEER_SIGMA)
