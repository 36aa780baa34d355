"""Research views on a steerable VDIR model: sampled-latent uncertainty, parameter sweeps,
and a 2-D embedding of patch codes (model-free parts in :mod:`app.ml.steering.views`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.ml.steering.edit import (
    FACTOR,
    NEUTRAL,
    STEER_SIGMA,
    LatentEdit,
    apply_edit,
    needs_direction,
)
from app.ml.steering.service import (
    SWEEP_PARAMS,
    Steerable,
    estimate_map,
    resolve_step,
    strength_direction,
)
from app.ml.steering.views import project_2d


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
