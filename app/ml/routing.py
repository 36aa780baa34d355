"""Path-Restore routing for the VDIR restorers: bypass, quick or full path per region.

A VDIR model with a quick preview restorer has two restorers on one latent (see
:mod:`app.ml.services.vdir`). Routing splits the image into 64-pixel cells
(:mod:`app.core.route_plan`), lets a :class:`~app.ml.archs.pathfinder.Pathfinder`
choose per cell among

- **bypass**: the input unchanged (costs nothing; right only where there is no noise to
  remove: a denoiser has no cheaper honest output than its input),
- **quick**: the quick preview restorer (about 0.45 of the full restorer's CPU time),
- **full**: the full restorer,

and runs each restorer once per same-path rectangle (grown by ``HALO`` pixels of context
where paths meet, blended over ``BLEND`` pixels either side of the edge). A map that is
all one path is that path's ordinary restore, bit for bit.

The pathfinder reads only what the service has anyway: the latent mean (4 channels at
1/4 resolution), the EST noise map computed from it, and three cheap statistics of the
degraded pixels; see :func:`region_features`. Training: :mod:`app.training.route_train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from app.core.errors import InvalidInputError
from app.core.progress import Work, relabel
from app.core.route_plan import (
    BLEND,
    BYPASS,
    CELL,
    FULL,
    HALO,
    PATH_COSTS,
    QUICK,
    core_box,
    grid_shape,
    grown_box,
    merge_weight,
    plan_cost,
    rectangles,
    tidy,
)
from app.core.tiling import plan_tiles
from app.ml.archs.pathfinder import Pathfinder, build
from app.ml.loading import load_arch_model

if TYPE_CHECKING:
    from app.ml.services.vdir import VDIRService

ROUTES = ("full", "auto")
EST_CHUNK = 256  # latent rows per EST pass (bounded memory on huge images)
_PATHFINDERS: dict[str, Pathfinder] = {}


def load_pathfinder(path: Path | str) -> Pathfinder:
    """The pathfinder in ``path`` (safetensors with ``arch`` metadata), cached, in eval mode."""
    key = str(path)
    if key not in _PATHFINDERS:
        _PATHFINDERS[key] = load_arch_model(Path(path), build).eval()
    return _PATHFINDERS[key]


def _cells(a: np.ndarray, cell: int) -> np.ndarray:
    """(H, W[, C]) -> (rows, cols, cell*cell, C): edge-padded to whole cells, then split."""
    a = a if a.ndim == 3 else a[:, :, None]
    rows, cols = grid_shape(a.shape[0], a.shape[1], cell)
    pad = ((0, rows * cell - a.shape[0]), (0, cols * cell - a.shape[1]), (0, 0))
    a = np.pad(a, pad, mode="edge")
    a = a.reshape(rows, cell, cols, cell, a.shape[2]).transpose(0, 2, 1, 3, 4)
    return a.reshape(rows, cols, cell * cell, a.shape[-1])


def region_features(
    image: np.ndarray, latent: np.ndarray, est: np.ndarray, cell: int = CELL
) -> np.ndarray:
    """Float32 (rows, cols, 13) features of each ``cell``-pixel region.

    ``image`` (H, W, 3) in [0, 1], H and W multiples of 4; ``latent`` (H/4, W/4, L=4);
    ``est`` (H/4, W/4), EST's normalised noise level. Per cell: latent mean (4) and std
    (4) over the cell, EST mean and max, and of the luma: log mean |gradient|, std, mean.
    """
    luma = image @ np.array([0.299, 0.587, 0.114], np.float32)
    grad = np.zeros_like(luma)
    grad[:, 1:] += np.abs(np.diff(luma, axis=1))
    grad[1:, :] += np.abs(np.diff(luma, axis=0))
    lat = _cells(latent, cell // 4)
    est_cells = _cells(est, cell // 4)[..., 0]
    lum = _cells(luma, cell)[..., 0]
    parts = [
        lat.mean(2),
        lat.std(2),
        est_cells.mean(2, keepdims=True),
        est_cells.max(2, keepdims=True),
        np.log(_cells(grad, cell)[..., 0].mean(2, keepdims=True) + 1e-3),
        lum.std(2, keepdims=True),
        lum.mean(2, keepdims=True),
    ]
    return np.concatenate(parts, axis=2).astype(np.float32)


def est_map(service: VDIRService, latent: np.ndarray) -> np.ndarray:
    """EST(c) as float32 (h, w) (normalised noise level), computed in row chunks."""
    h = latent.shape[0]
    out = np.zeros(latent.shape[:2], np.float32)
    model, margin = service.model, 2  # EST is two 3x3 convs: 2 latent pixels of context
    for y0 in range(0, h, EST_CHUNK):
        a, b = max(y0 - margin, 0), min(y0 + EST_CHUNK + margin, h)
        chunk = torch.from_numpy(np.ascontiguousarray(latent[a:b].transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            est = model.estimate(chunk.to(service.device, service.dtype))[0, 0].float().cpu()
        out[y0 : min(y0 + EST_CHUNK, h)] = est.numpy()[y0 - a : y0 - a + min(EST_CHUNK, h - y0)]
    return out


def choose_route(
    pathfinder: Pathfinder,
    features: np.ndarray,
    allowed: tuple[int, ...] = (BYPASS, QUICK, FULL),
) -> np.ndarray:
    """The most likely path per region among ``allowed``: int64 (rows, cols)."""
    rows, cols, nfeat = features.shape
    with torch.inference_mode():
        logits = pathfinder(torch.from_numpy(features.reshape(-1, nfeat)).float())
    mask = torch.full((logits.shape[1],), float("-inf"))
    mask[list(allowed)] = 0.0
    return (logits + mask).argmax(1).reshape(rows, cols).numpy()


def auto_route(
    service: VDIRService, image: np.ndarray, latent: np.ndarray, *, preview: bool = False
) -> np.ndarray:
    """The pathfinder's route map for a padded image and its latent (``preview``: the
    full path is not allowed, regions it would take go quick). A map whose rectangles
    would cost at least as much as one path everywhere (the context they recompute) is
    that path everywhere: the full one (the quick one for previews)."""
    pathfinder = service.pathfinder
    features = region_features(image, latent, est_map(service, latent))
    route = tidy(choose_route(pathfinder, features), image.shape[:2])
    if preview:
        route = np.where(route == FULL, QUICK, route)
    top = QUICK if preview else FULL
    if plan_cost(route, image.shape[:2], halo=HALO) >= PATH_COSTS[top]:
        route = np.full_like(route, top)
    return route


def restore_routed(
    service: VDIRService, image: np.ndarray, latent: np.ndarray, tile: int, route: np.ndarray
) -> Work[np.ndarray]:
    """f(y, c) of a padded (H, W, 3) image with its (H/4, W/4, L) latent, each region on the
    path of ``route`` (rows, cols); a Progress per restorer tile."""
    size = image.shape[:2]
    if route.shape != grid_shape(*size):
        raise InvalidInputError(f"route map {route.shape} does not fit {grid_shape(*size)}")
    rects = rectangles(route)
    if len(rects) == 1:
        return (yield from _run_path(service, route.flat[0], image, latent, tile))
    halo, blend = HALO, BLEND  # read at call time (tools/docs/route_report.py varies them)
    boxes = [(r.path, core_box(r, size), grown_box(core_box(r, size), size, halo)) for r in rects]
    total = sum(_tile_count(service, path, box, tile) for path, _, box in boxes)
    num = np.zeros(image.shape, np.float64)
    den = np.zeros((*size, 1), np.float64)
    done = 0
    for path, core, box in boxes:
        y0, x0, y1, x1 = box
        part = _run_path(
            service, path, image[y0:y1, x0:x1], latent[y0 // 4 : y1 // 4, x0 // 4 : x1 // 4], tile
        )
        out = yield from relabel(part, "restore", done, total)
        done += _tile_count(service, path, box, tile)
        weight = merge_weight(core, box, size, blend)
        num[y0:y1, x0:x1] += out * weight
        den[y0:y1, x0:x1] += weight
    return (num / den).astype(np.float32)


def _run_path(
    service: VDIRService, path: int, image: np.ndarray, latent: np.ndarray, tile: int
) -> Work[np.ndarray]:
    """One path over a crop: the input itself (bypass) or a restorer's tiled pass."""
    if path == BYPASS:
        return np.array(image, np.float32)
    runner = service.quick() if path == QUICK else service
    return (yield from runner._restore_view(image, latent, tile))


def _tile_count(service: VDIRService, path: int, box: tuple[int, int, int, int], tile: int) -> int:
    if path == BYPASS:
        return 0
    from app.ml.services.vdir import OVERLAP

    rows = plan_tiles(box[2] - box[0], box[3] - box[1], tile, OVERLAP, align=4)
    return sum(len(row) for row in rows)


def check_route(value: str) -> str:
    """``value`` if it is a known route mode, else InvalidInputError."""
    if value not in ROUTES:
        raise InvalidInputError(f"route must be one of {', '.join(ROUTES)}, not {value!r}")
    return value
