"""Steering a VDIR model through its latent: a steered Service, and research helpers.

Built only on the public VDIR service contract (``encode``, ``encode_with_std``,
``restore``, ``estimate``; see :class:`Steerable`), so it works with any
:class:`~app.ml.services.vdir.VDIRService` and with tiny test models wrapped the same way.
The edit itself (data + numpy arithmetic) is :mod:`app.ml.latent_edit`, re-exported here.

- :class:`SteeredService`: encode, edit (:func:`apply_edit`), restore; exposes
  ``extra_layers`` (own latent channels, spread, EST map) for the document.
- :func:`strength_direction`: ``c(y + noise) - c(y)``, the "less <-> more restoration" axis.
- :func:`uncertainty`, :func:`sweep`, :func:`embedding`: the research views (spread of
  sampled restorations, a parameter sweep, PCA of patch codes; model-free parts in
  :mod:`app.ml.latent_views`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from app.core.errors import InvalidInputError
from app.core.progress import Progress, Work, drive
from app.ml.latent_edit import (
    CHANNELS,
    CROP_ALIGN,
    FACTOR,
    NEUTRAL,
    STEER_SIGMA,
    Interpolation,
    LatentEdit,
    LatentRef,
    Transplant,
    apply_edit,
    auto_step,
    latent_size,
    needs_direction,
    noisier,
    quantize_map,
)
from app.ml.latent_sources import LatentCache, image_latent, region_latent
from app.ml.latent_views import contact_sheet, pca_2d, project_2d
from app.ml.services.base import ParamSpec, Service, ServiceInfo

__all__ = [
    "Embedding",
    "Interpolation",
    "LatentEdit",
    "LatentRef",
    "SteeredService",
    "Steerable",
    "Transplant",
    "apply_edit",
    "contact_sheet",
    "embedding",
    "estimate_map",
    "is_steerable",
    "latent_layers",
    "pca_2d",
    "project_2d",
    "strength_direction",
    "sweep",
    "uncertainty",
]

STRENGTH_MAX = 3.0
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
            params=(ParamSpec("latent_strength", self.edit.strength, 0.0, STRENGTH_MAX,
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


def _prepare(
    service: Steerable, y: np.ndarray, edit: LatentEdit, tile: int, force_direction: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    mean, std = service.encode_with_std(y, tile)
    direction = None
    if force_direction or needs_direction(edit, None):
        step = float(resolve_step(service, edit, mean).steer_sigma or STEER_SIGMA)
        direction = strength_direction(
            service, y, sigma=step, seed=edit.noise_seed, tile=tile, mean=mean
        )
    return mean, std, direction


def uncertainty(
    service: Steerable,
    y: np.ndarray,
    n: int = 8,
    seed: int = 0,
    *,
    edit: LatentEdit | None = None,
    tile: int = 512,
) -> np.ndarray:
    """Per-pixel spread of ``n`` restorations with latents sampled from q(c|y).

    Sample i uses seed ``seed + i`` (on top of ``edit``, whose transplant/interpolation
    are ignored here). Returns float32 (H, W): the standard deviation over samples,
    averaged over the colour channels (0..1 units).
    """
    if n < 2:
        raise InvalidInputError("the uncertainty needs at least 2 samples")
    edit = replace(edit or LatentEdit(), transplant=None, interpolation=None)
    mean, std, direction = _prepare(service, y, edit, tile)
    total = np.zeros(y.shape, np.float64)
    total_sq = np.zeros(y.shape, np.float64)
    for i in range(n):
        sampled = replace(edit, sample=True, seed=seed + i)
        out = drive(service.restore(y, apply_edit(mean, std, sampled, direction), tile))
        total += out
        total_sq += np.square(out, dtype=np.float64)
    var = np.maximum(total_sq / n - np.square(total / n), 0.0)
    return np.sqrt(var).mean(axis=2).astype(np.float32)


def _swept(edit: LatentEdit, param: str, value: float) -> LatentEdit:
    if param == "strength":
        return replace(edit, strength=float(value))
    if param.startswith("gain"):
        return edit.with_channel(int(param[4:]), gain=float(value))
    return edit.with_channel(int(param[6:]), offset=float(value))


def sweep(
    service: Steerable,
    y: np.ndarray,
    param: str,
    values: Sequence[float],
    *,
    edit: LatentEdit | None = None,
    tile: int = 512,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[np.ndarray]:
    """Restorations of ``y`` with ``param`` (one of SWEEP_PARAMS: ``strength``,
    ``gain0..3``, ``offset0..3``) set to each of ``values``, the rest of ``edit`` kept
    (without transplant/interpolation); float32 (H, W, 3) each. One encode for all."""
    if param not in SWEEP_PARAMS:
        raise InvalidInputError(f"cannot sweep {param!r}; choose one of {', '.join(SWEEP_PARAMS)}")
    edit = replace(edit or LatentEdit(), transplant=None, interpolation=None)
    mean, std, direction = _prepare(service, y, edit, tile, force_direction=True)
    out = []
    for i, value in enumerate(values):
        latent = apply_edit(mean, std, _swept(edit, param, value), direction)
        out.append(drive(service.restore(y, latent, tile)))
        if on_progress is not None:
            on_progress(i + 1, len(values))
    return out


@dataclass(frozen=True)
class Embedding:
    """Patch codes of one or more images projected to 2-D.

    ``points`` (N, 2) PCA or t-SNE coordinates (``method``); ``features`` (N, L) the
    average-pooled codes;
    ``est`` (N,) EST per patch (sigma 0..255 or JPEG quality); ``boxes`` (N, 5) int:
    image index, y0, x0, y1, x1 of each patch in its image's pixels; ``explained``: the
    fraction of variance along each of the two PCA axes (nan for t-SNE).
    """

    points: np.ndarray
    features: np.ndarray
    est: np.ndarray
    boxes: np.ndarray
    explained: tuple[float, float]
    method: str = "pca"


def patch_codes(
    service: Steerable, image: np.ndarray, patch: int, tile: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average-pooled codes (N, L), EST per patch (N,) and boxes (N, 4) over a grid of
    ``patch``-pixel squares (a multiple of 4; partial squares at the edges are dropped)."""
    if patch < FACTOR or patch % FACTOR:
        raise InvalidInputError(f"the patch size must be a multiple of 4, got {patch}")
    mean = service.encode(image, tile)
    est = estimate_map(service, mean)
    k = patch // FACTOR
    rows, cols = image.shape[0] // patch, image.shape[1] // patch
    if rows == 0 or cols == 0:
        raise InvalidInputError(f"the image is smaller than one {patch}-pixel patch")
    grid = mean[: rows * k, : cols * k].reshape(rows, k, cols, k, -1).mean(axis=(1, 3))
    est_grid = est[: rows * k, : cols * k].reshape(rows, k, cols, k).mean(axis=(1, 3))
    yy, xx = np.mgrid[0:rows, 0:cols]
    boxes = np.stack([yy * patch, xx * patch, (yy + 1) * patch, (xx + 1) * patch], -1)
    return grid.reshape(-1, mean.shape[2]), est_grid.reshape(-1), boxes.reshape(-1, 4)


def embedding(
    service: Steerable,
    images_or_image: np.ndarray | Sequence[np.ndarray],
    patch: int = 32,
    *,
    tile: int = 512,
    method: str = "pca",
) -> Embedding:
    """Average-pool c over ``patch``-pixel squares of one image or several, project to
    2-D by PCA or t-SNE (``method`` "pca"/"tsne"; VDIR Fig. 7 uses t-SNE), with EST per
    patch and each patch's position."""
    images = [images_or_image] if isinstance(images_or_image, np.ndarray) else list(images_or_image)
    feats, ests, boxes = [], [], []
    for i, image in enumerate(images):
        f, e, b = patch_codes(service, image, patch, tile)
        feats.append(f)
        ests.append(e)
        boxes.append(np.column_stack([np.full(len(b), i), b]))
    features = np.concatenate(feats).astype(np.float32)
    points, explained = project_2d(features, method)
    return Embedding(
        points, features, np.concatenate(ests), np.concatenate(boxes), explained, method
    )


def neutral_map(size: tuple[int, int]) -> np.ndarray:
    """A strength map that changes nothing: (H, W) float32 filled with 0.5."""
    return np.full(size, NEUTRAL, np.float32)
