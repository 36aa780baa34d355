"""VDIR-family services (denoise, deblock, old-photo): tiled, steerable through the latent.

The service pads the image to a multiple of 4, encodes it tile by tile into the mean
(and log-variance) of the 4-channel latent at 1/4 resolution, forms the latent the
restorer uses (mean, or a seeded sample, optionally steered), then restores tile by tile
with :func:`app.core.tiling.process_tiled` (overlap 32, seamless blending).

Tiles start at multiples of 4 (encoder tiles at multiples of 8, so a deblocker's
block-DCT branch sees the image's own JPEG grid), so a tile's latent is an exact slice
of the global one. Encoder tiles are stitched by keeping each tile's centre (16-pixel
margins, more than the encoder's 12-pixel half receptive field), so the tiled latent
equals a one-shot encode.

Steering (``latent_strength``, ``seed``): a run with a strength other than 1 or a seed
is handed to :class:`app.ml.steering.SteeredService` wrapping this service, so
``patina restore --param latent_strength=X``, ``--latent-strength X`` and the window's
strength slider give the same pixels (one definition of the strength axis, with its
automatic step; see :mod:`app.ml.steering.edit`).

Quick previews: a manifest entry may name ``preview`` weights, a VDIR distilled from
this one (:mod:`app.training.preview_task`) whose encoder, EST and decoder are this
model's and whose restorer skips the full-size level (2.2x quicker on a CPU, measured).
:meth:`VDIRService.quick` gives a service that encodes with this model and restores with
that one; the window uses it for steered previews, renders always use the full model.

Routing (``route=auto``): a manifest entry may name ``route`` weights, a pathfinder that
sends each 64-pixel region to the full restorer, the quick one or neither
(:mod:`app.ml.routing`); a run leaves the map in ``extra_layers["Route"]`` (latent
resolution, values 0 bypass / 1 quick / 2 full) and ``last_route`` (per region). On the
quick service (window previews) regions routed to the full path take the quick one.

Self-ensemble (``ensemble`` 2, 4 or 8): the restorer runs on that many flipped/rotated
views of the image with its latent turned the same way, and the results are turned back
and averaged; the latent itself (and so any steering) is computed once, unturned.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.core.document import ROUTE_LAYER
from app.core.errors import InvalidInputError
from app.core.progress import Progress, Work, drive, relabel
from app.core.route_plan import CELL, path_shares, route_pixels
from app.core.tiling import Tile, crop, pad_to_multiple, plan_tiles, process_tiled
from app.ml.archs.pathfinder import Pathfinder
from app.ml.archs.vdir import ALIGN, VDIR, build
from app.ml.loading import EntryLike, load_arch_model, pick_device, weights_path
from app.ml.routing import auto_route, check_route, load_pathfinder, restore_routed
from app.ml.services.base import Service, ServiceInfo
from app.ml.services.specs import VDIR_DESCRIPTION
from app.ml.services.specs import VDIR_PARAMS as PARAMS

OVERLAP = 32
MARGIN = 16  # encoder stitching margin in pixels (multiple of ALIGN)
SIGMA_NORM = 75.0
QUALITY_NORM = 100.0
_CACHE: dict[tuple[str, str], VDIR] = {}

DIHEDRAL_VIEWS = {1: (0,), 2: (0, 4), 4: (0, 1, 2, 3), 8: tuple(range(8))}


def load_model(path: Path, device: str, dtype: torch.dtype) -> VDIR:
    """A VDIR in eval mode on ``device``/``dtype`` (channels-last memory, 1.3x faster on
    CPU) from weights whose metadata holds ``arch``."""
    model = load_arch_model(path, build)
    model = model.eval().to(device=device, dtype=dtype)
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload,no-any-return]


def _to_tensor(img: np.ndarray, device: str, dtype: torch.dtype) -> torch.Tensor:
    """(H, W, C) float32 -> (1, C, H, W) in channels-last memory (faster on CPU)."""
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device, dtype)
    return t.contiguous(memory_format=torch.channels_last)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) -> (H, W, C) float32."""
    return t[0].permute(1, 2, 0).float().cpu().numpy()


def dihedral(a: np.ndarray, k: int, inverse: bool = False) -> np.ndarray:
    """``a`` (H, W, ...) as view ``k`` (0-7) of the dihedral group: ``k % 4`` quarter turns,
    then a left-right mirror when ``k >= 4``; ``inverse=True`` undoes view ``k``."""
    turns, mirror = k % 4, k >= 4
    if inverse:
        return np.rot90(a[:, ::-1] if mirror else a, -turns)
    turned = np.rot90(a, turns)
    return turned[:, ::-1] if mirror else turned


def check_shared_encoder(full: VDIR, quick: VDIR, name: str) -> None:
    """Raise InvalidInputError unless every non-restorer weight of ``quick`` equals
    ``full``'s (the quick restorer only fits the latent of the encoder it was trained on)."""
    own = full.state_dict()
    for key, value in quick.state_dict().items():
        if key.startswith("restorer."):
            continue
        if key not in own or own[key].shape != value.shape or not torch.equal(own[key], value):
            raise InvalidInputError(f"{name} does not share the encoder of its full model ({key})")


def _tile_size(tile: int) -> int:
    """Tile edge used by the service: a multiple of 4, at least 2 * OVERLAP + 4."""
    return max(tile - tile % 4, 2 * OVERLAP + 4)


def _keep(tile: Tile, height: int, width: int) -> tuple[int, int, int, int]:
    """Region of a tile whose encoding is kept: the tile minus MARGIN on inner sides."""
    y0 = tile.y0 + (MARGIN if tile.y0 > 0 else 0)
    x0 = tile.x0 + (MARGIN if tile.x0 > 0 else 0)
    y1 = tile.y1 - (MARGIN if tile.y1 < height else 0)
    x1 = tile.x1 - (MARGIN if tile.x1 < width else 0)
    return y0, x0, y1, x1


class VDIRService(Service):
    """A trained VDIR model as a Service; ``entry`` names the weights, ``device`` is
    auto/cpu/cuda/mps (fp16 on CUDA). The model is loaded lazily, once per (id, device)."""

    def __init__(self, entry: EntryLike, device: str = "auto", *, quick: bool = False) -> None:
        self.entry = entry
        self.est_note = str(getattr(entry, "est_note", ""))  # caveat for the EST readout
        self.steer_noise = str(getattr(entry, "steer_noise", "gaussian"))  # strength axis noise
        self.device, self.dtype = pick_device(device)
        self.preview_file = str(getattr(entry, "preview", "") or "")
        if quick and not self.preview_file:
            raise InvalidInputError(f"{entry.id} has no quick preview model")
        self.is_quick = quick
        self.route_file = str(getattr(entry, "route", "") or "")
        self.extra_layers: dict[str, np.ndarray] = {}
        self.last_route: np.ndarray | None = None
        self.run_note = ""  # after a routed run: each path's share (patina restore prints it)
        self._parent: VDIRService | None = None
        title = entry.title or f"VDIR {entry.task}"
        self.info = ServiceInfo(
            task=entry.task, method=str(getattr(entry, "method", "vdir")),
            title=f"{title} (quick preview)" if quick else title,
            description=VDIR_DESCRIPTION,
            learned=True, params=PARAMS,
        )  # fmt: skip
        self._quick: VDIRService | None = None

    def quick(self) -> VDIRService:
        """This model with its quick preview restorer (the same latent; one instance per
        service, so latent caches keyed on it keep working), or itself when it has none."""
        if self.is_quick or not self.preview_file:
            return self
        if self._quick is None:
            self._quick = VDIRService(self.entry, self.device, quick=True)
            self._quick._parent = self
        return self._quick

    @property
    def pathfinder(self) -> Pathfinder:
        """The routing pathfinder named by the entry's ``route`` (InvalidInputError if none)."""
        if not self.route_file:
            raise InvalidInputError(
                f"{self.entry.id} has no pathfinder, so route=auto is not available; use route=full"
            )
        return load_pathfinder(self.route_file)

    @property
    def model(self) -> VDIR:
        """The loaded network (cached across services with the same id and device)."""
        key = (self.entry.id, self.device)
        if key not in _CACHE:
            _CACHE[key] = load_model(weights_path(self.entry), self.device, self.dtype)
        return _CACHE[key]

    @property
    def restorer_model(self) -> VDIR:
        """The network whose restorer runs: the preview model when quick, else :attr:`model`.

        Raises InvalidInputError when the preview weights do not share this model's
        encoder (their restorer was trained on another latent)."""
        if not self.is_quick:
            return self.model
        key = (self.preview_file, self.device)
        if key not in _CACHE:
            quick = load_model(Path(self.preview_file), self.device, self.dtype)
            check_shared_encoder(self.model, quick, Path(self.preview_file).name)
            _CACHE[key] = quick
        return _CACHE[key]

    # ---- tiled building blocks (all on images padded to a multiple of 4) ----

    def _encode_tiled(
        self, img: np.ndarray, tile: int, stage: str = "encode"
    ) -> Work[tuple[np.ndarray, np.ndarray]]:
        """(mean, logvar), each (H/4, W/4, L), of a padded (H, W, 3) image; a Progress per tile."""
        h, w = img.shape[:2]
        lat = self.model.cfg.latent
        mean = np.zeros((h // 4, w // 4, lat), np.float32)
        logvar = np.zeros_like(mean)
        tiles = [t for row in plan_tiles(h, w, tile, OVERLAP, align=ALIGN) for t in row]
        for i, t in enumerate(tiles):
            with torch.inference_mode():
                m, lv = self.model.encode(_to_tensor(crop(img, t), self.device, self.dtype))
            y0, x0, y1, x1 = _keep(t, h, w)
            src = np.s_[(y0 - t.y0) // 4 : (y1 - t.y0) // 4, (x0 - t.x0) // 4 : (x1 - t.x0) // 4]
            mean[y0 // 4 : y1 // 4, x0 // 4 : x1 // 4] = _to_numpy(m)[src]
            logvar[y0 // 4 : y1 // 4, x0 // 4 : x1 // 4] = _to_numpy(lv)[src]
            yield Progress(i + 1, len(tiles), stage)
        return mean, logvar

    def _restore_tiled(
        self,
        img: np.ndarray,
        latent: np.ndarray,
        tile: int,
        ensemble: int = 1,
        route: str = "full",
    ) -> Work[np.ndarray]:
        """f(y, c) over a padded image with its (H/4, W/4, L) latent; with ``ensemble`` > 1
        the mean over that many dihedral views of image and latent together (the restorer
        was trained on flipped and rotated patches), progress counted over all views;
        ``route="auto"``: each region on the path its pathfinder picks (ensemble 1 only)."""
        self.extra_layers, self.last_route, self.run_note = {}, None, ""
        if check_route(route) == "auto":
            if ensemble != 1:
                raise InvalidInputError("route=auto works without self-ensemble (ensemble 1)")
            return (yield from self._restore_auto(img, latent, tile))
        views = DIHEDRAL_VIEWS[ensemble]
        if len(views) == 1:
            return (yield from self._restore_view(img, latent, tile))
        h, w = img.shape[:2]
        per_view = sum(len(row) for row in plan_tiles(h, w, tile, OVERLAP, align=4))
        total = np.zeros(img.shape, np.float32)
        for i, k in enumerate(views):
            # turned views, not copies: each tile is made contiguous on its way to torch
            view = self._restore_view(dihedral(img, k), dihedral(latent, k), tile)
            out = yield from relabel(view, "restore", i * per_view, len(views) * per_view)
            total += dihedral(out, k, inverse=True)
        return total / len(views)

    def _restore_auto(self, img: np.ndarray, latent: np.ndarray, tile: int) -> Work[np.ndarray]:
        """Routed f(y, c) (see the module docstring); records the route map."""
        base = self._parent or self
        route = auto_route(base, img, latent, preview=self.is_quick)
        self.last_route = route
        self.extra_layers = {ROUTE_LAYER: route_pixels(route, latent.shape[:2], CELL // 4)}
        shares = path_shares(route, img.shape[:2])
        self.run_note = "route " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
        return (yield from restore_routed(base, img, latent, tile, route))

    def _restore_view(self, img: np.ndarray, latent: np.ndarray, tile: int) -> Work[np.ndarray]:
        """f(y, c) over a padded image with its (H/4, W/4, L) latent, blended tiles."""
        h, w = img.shape[:2]
        coords: Iterator[Tile] = (
            t for row in plan_tiles(h, w, tile, OVERLAP, align=4) for t in row
        )

        def fn(part: np.ndarray) -> np.ndarray:
            t = next(coords)  # process_tiled visits plan_tiles' tiles in row-major order
            assert part.shape[:2] == t.shape
            c = latent[t.y0 // 4 : t.y1 // 4, t.x0 // 4 : t.x1 // 4]
            with torch.inference_mode():
                out = self.restorer_model.restore(
                    _to_tensor(part, self.device, self.dtype),
                    _to_tensor(c, self.device, self.dtype),
                )
            return _to_numpy(out)

        return (
            yield from process_tiled(img, fn, tile=tile, overlap=OVERLAP, stage="restore", align=4)
        )

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        if float(params["latent_strength"]) != 1.0 or int(params["seed"]) >= 0:
            from app.ml.steering import SteeredService  # steering builds on this module

            steered = SteeredService(self)
            return (yield from steered.run(image, params=steered.resolve_params(params), tile=tile))
        img, (h, w) = pad_to_multiple(image, 4)
        size = _tile_size(tile)
        mean, _ = yield from self._encode_tiled(img, size)
        ensemble, route = int(params["ensemble"]), str(params.get("route", "full"))
        out = yield from self._restore_tiled(img, mean, size, ensemble, route)
        return out[:h, :w]

    # ---- the VDIR contract: encode / restore / estimate ----

    def encode_with_std(self, y: np.ndarray, tile: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of q(c|y), each float32 (ceil(H/4), ceil(W/4), L)."""
        img, _ = pad_to_multiple(np.asarray(y, np.float32), 4)
        mean, logvar = drive(self._encode_tiled(img, _tile_size(tile)))
        return mean, np.exp(0.5 * logvar).astype(np.float32)

    def encode(self, y: np.ndarray, tile: int = 512) -> np.ndarray:
        """Mean latent of ``y`` (H, W, 3) in [0, 1]: float32 (ceil(H/4), ceil(W/4), L)."""
        return self.encode_with_std(y, tile)[0]

    def restore(
        self,
        y: np.ndarray,
        latent: np.ndarray,
        tile: int = 512,
        ensemble: int = 1,
        route: str = "full",
    ) -> Work[np.ndarray]:
        """Restore ``y`` with a given latent (e.g. from :meth:`encode` of another input).

        ``latent`` must be (ceil(H/4), ceil(W/4), L); ``ensemble`` (1, 2, 4, 8) averages
        that many flipped/rotated views; ``route`` "full" or "auto" (routed by the
        pathfinder, see :mod:`app.ml.routing`); returns float32 (H, W, 3) in [0, 1].
        """
        if ensemble not in DIHEDRAL_VIEWS:
            raise InvalidInputError(f"ensemble must be 1, 2, 4 or 8, not {ensemble}")
        img, (h, w) = pad_to_multiple(np.asarray(y, np.float32), 4)
        expected = (img.shape[0] // 4, img.shape[1] // 4, self.model.cfg.latent)
        if tuple(latent.shape) != expected:
            raise InvalidInputError(f"latent of shape {latent.shape} does not fit: need {expected}")
        out = yield from self._restore_tiled(
            img, np.asarray(latent, np.float32), _tile_size(tile), ensemble, route
        )
        return np.clip(out[:h, :w], 0.0, 1.0).astype(np.float32)

    def estimate(self, latent: np.ndarray) -> dict[str, float]:
        """EST(c) averaged over the image: {"sigma": 0..255} (denoise, old-photo) or
        {"quality": 0..100} (deblock)."""
        with torch.inference_mode():
            est = self.model.estimate(
                _to_tensor(np.asarray(latent, np.float32), self.device, self.dtype)
            )
        value = float(est.float().mean())
        if self.info.task == "deblock":
            return {"quality": value * QUALITY_NORM}
        return {"sigma": value * SIGMA_NORM}
