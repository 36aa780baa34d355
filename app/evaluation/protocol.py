"""The evaluation protocol of restoration services (drives ``patina eval``).

Evaluation protocol (the "8-bit protocol", used unless ``float_mode``): the clean image is
quantised to 8 bits; the degradation of :mod:`app.core.degradations` is applied with
``quantize=True`` (noise added to the 8-bit image, rounded, clipped; JPEG through OpenCV);
image ``i`` of a folder is degraded with seed ``spec.seed + i`` so every method sees the
same inputs; the restored result is quantised to 8 bits before scoring, as if saved to PNG.
``float_mode`` keeps everything in unclipped, unrounded float, as most papers report.

Per task:

- upscale: the clean image is cropped to a multiple of the scale (``scale=N`` in the spec),
  degraded (downscaled), restored, and scored against the cropped clean image; PSNR/SSIM on
  RGB and on Y with a border of ``scale`` pixels removed (the super-resolution convention).
- deblock: RGB and Y scores.
- inpaint: the mask is either random square holes (``holes=(size, count)``) or the damage
  mask of the spec (scratches, dust, tears); the mask goes to the service and PSNR is also
  reported inside the mask.

Speed is reported in milliseconds per megapixel of *output* (for upscalers the input is
smaller by ``scale**2``; see :mod:`app.evaluation.bench` for ``patina bench``). This module
imports no torch itself; services come from :mod:`app.ml.registry`.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core import image_io
from app.core.degradations import DegradationSpec, degrade, quantize8, random_holes
from app.core.errors import InvalidInputError
from app.core.metrics import masked_psnr, psnr, ssim
from app.core.progress import Progress, drive
from app.evaluation.images import IMAGE_SUFFIXES
from app.ml.services.base import Service

# Known degradation parameters handed to a (non-blind) service that declares them.
SPEC_TO_PARAM = {"sigma": "sigma", "jpeg": "quality", "scale": "scale", "blur": "blur"}
# Handed over even when 0 (a known "no blur" is not "unknown": -1 asks for an estimate).
ZERO_IS_KNOWN = frozenset({"blur"})
HOLE_FILL = 1.0  # value written into hole pixels of the degraded image (white, like scratches)
OnProgress = Callable[[Progress], None]


def parse_holes(text: str) -> tuple[int, int]:
    """``"32x8"`` -> (size 32 px, count 8); InvalidInputError on anything else."""
    parts = text.lower().split("x")
    try:
        size, count = (int(p) for p in parts)
    except ValueError:
        raise InvalidInputError(
            f"--holes must look like SIZExCOUNT (e.g. 32x8), got {text!r}"
        ) from None
    if size < 1 or count < 1:
        raise InvalidInputError(f"--holes needs a positive size and count, got {text!r}")
    return size, count


@dataclass(frozen=True)
class EvalSetup:
    """How every image is degraded and scored.

    ``params`` override the service parameters taken from the spec; ``holes`` is
    (size, count) of random square holes for inpainting.
    """

    task: str
    spec: DegradationSpec
    holes: tuple[int, int] | None = None
    float_mode: bool = False
    tile: int = 512
    params: Mapping[str, Any] = field(default_factory=dict)
    noisy: Path | None = None  # real pairs: degraded inputs named like the clean images


@dataclass
class Case:
    """One prepared evaluation input: ``clean`` target, ``degraded`` input, optional mask."""

    clean: np.ndarray
    degraded: np.ndarray
    mask: np.ndarray | None = None


@dataclass
class ImageScore:
    """Scores of one image; ``ms`` is the restoration time, ``megapixels`` of the output."""

    name: str
    width: int
    height: int
    ms: float
    megapixels: float
    scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready row: name, width, height, ms, megapixels and every score."""
        row: dict[str, Any] = {"name": self.name, "width": self.width, "height": self.height}
        row.update(ms=round(self.ms, 3), megapixels=round(self.megapixels, 6))
        row.update({k: _json_float(v) for k, v in self.scores.items()})
        return row


def _json_float(value: float) -> float | str:
    """Round to 4 decimals; JSON has no infinity, so an exact match becomes "inf"."""
    return round(value, 4) if math.isfinite(value) else str(value)


def mod_crop(image: np.ndarray, multiple: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``multiple``."""
    h, w = image.shape[:2]
    return image[: h - h % multiple, : w - w % multiple]


def prepare_case(clean: np.ndarray, setup: EvalSetup, seed: int) -> Case:
    """Degrade ``clean`` (float32 (H, W, 3)) under the setup's protocol with ``seed``.

    Inpainting: the mask is the spec's damage plus, with ``setup.holes``, random square
    holes (seeded by ``seed``) whose pixels are set to white in the degraded image.
    """
    if not setup.float_mode:
        clean = quantize8(clean)
    if setup.task == "upscale":
        clean = mod_crop(clean, int(setup.spec.scale))
    spec = dataclasses.replace(setup.spec, seed=seed, quantize=not setup.float_mode)
    result = degrade(clean, spec)
    degraded = np.asarray(result.image, dtype=np.float32)
    if setup.task != "inpaint":
        return Case(clean=clean, degraded=degraded)
    damage = np.asarray(result.mask, np.float32) > 0.5
    if setup.holes is not None:
        size, count = setup.holes
        holes = random_holes(clean.shape[:2], size, count, np.random.default_rng(seed)) > 0.5
        degraded = degraded.copy()
        degraded[holes] = HOLE_FILL
        damage |= holes
    if not damage.any():
        raise InvalidInputError(
            "inpainting needs something to fill: give --holes SIZExCOUNT or damage such as "
            "scratches=, dust= or tears= in --degrade"
        )
    return Case(clean=clean, degraded=degraded, mask=damage.astype(np.float32))


def paired_case(clean_path: Path, noisy_dir: Path, setup: EvalSetup) -> Case:
    """A real (noisy, clean) pair: the input is the image of ``noisy_dir`` with the clean
    image's stem (any image extension), scored as it is (8-bit rounded unless float mode).

    Raises InvalidInputError when it is missing or its size differs.
    """
    matches = sorted(p for p in noisy_dir.glob(f"{glob.escape(clean_path.stem)}.*")
                     if p.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
    if not matches:
        raise InvalidInputError(f"no image named {clean_path.stem}.* in {noisy_dir} to pair "
                                f"with {clean_path.name}")  # fmt: skip
    clean = image_io.load(clean_path).pixels
    noisy = image_io.load(matches[0]).pixels
    if not setup.float_mode:
        clean, noisy = quantize8(clean), quantize8(noisy)
    if noisy.shape != clean.shape:
        raise InvalidInputError(
            f"{matches[0].name} is {noisy.shape[1]}x{noisy.shape[0]} but its clean image "
            f"{clean_path.name} is {clean.shape[1]}x{clean.shape[0]}"
        )
    return Case(clean=clean, degraded=noisy)


def service_params(service: Service, setup: EvalSetup) -> dict[str, Any]:
    """Known degradation parameters the service declares (non-blind use), then overrides."""
    names = {p.name for p in service.info.params}
    params: dict[str, Any] = {}
    for spec_name, param in SPEC_TO_PARAM.items():
        value = getattr(setup.spec, spec_name, None)
        if param in names and (value or (param in ZERO_IS_KNOWN and value is not None)):
            params[param] = value
    unknown = sorted(set(setup.params) - names)
    if unknown:
        raise InvalidInputError(
            f"method {service.info.method} has no parameter {unknown[0]}"
            + (f" (it has: {', '.join(sorted(names))})" if names else "")
        )
    params.update(setup.params)
    return params


def check_scale(service: Service, params: Mapping[str, Any], setup: EvalSetup) -> None:
    """InvalidInputError unless the service enlarges by exactly the spec's downscale factor."""
    spec_scale = int(setup.spec.scale)
    if setup.task != "upscale" and spec_scale != 1:
        raise InvalidInputError("scale= in the degradation is only for --task upscale")
    actual = output_scale(service, params)
    if actual != spec_scale:
        raise InvalidInputError(
            f"method {service.info.method} enlarges by {actual} but the degradation "
            f"downscales by {spec_scale}; they must match"
        )


def score_case(result: np.ndarray, case: Case, task: str, scale: int = 1) -> dict[str, float]:
    """PSNR/SSIM of ``result`` against ``case.clean``; Y scores for upscale/deblock; mask PSNR."""
    clean = case.clean
    if result.shape != clean.shape:
        raise InvalidInputError(f"the result is {result.shape}, expected {clean.shape}")
    crop = scale if task == "upscale" else 0
    scores = {"psnr": psnr(result, clean, crop=crop), "ssim": ssim(result, clean, crop=crop)}
    if task in ("upscale", "deblock"):
        scores["psnr_y"] = psnr(result, clean, crop=crop, y_channel=True)
        scores["ssim_y"] = ssim(result, clean, crop=crop, y_channel=True)
    if case.mask is not None:
        scores["psnr_mask"] = masked_psnr(result, clean, case.mask)
    if case.degraded.shape == clean.shape:
        scores["input_psnr"] = psnr(case.degraded, clean)
    return scores


def restore(
    service: Service,
    case: Case,
    params: Mapping[str, Any],
    tile: int,
    on_progress: OnProgress | None = None,
) -> tuple[np.ndarray, float]:
    """Run ``service`` on ``case``; return the result and the wall time in milliseconds."""
    start = time.perf_counter()
    work = service.run(case.degraded, mask=case.mask, params=params, tile=tile)
    result = drive(work, on_progress)
    return result, (time.perf_counter() - start) * 1000.0


def warm_up(service: Service, case: Case, params: Mapping[str, Any], tile: int) -> None:
    """Run once on a small crop so one-off costs (CUDA init, caches) are not timed."""
    size = 64
    mask = None if case.mask is None else case.mask[:size, :size].copy()
    if mask is not None and not mask.any():
        mask[size // 4 : size // 2, size // 4 : size // 2] = 1.0
    small = Case(clean=case.clean, degraded=case.degraded[:size, :size].copy(), mask=mask)
    restore(service, small, params, tile)


def evaluate(
    service: Service,
    paths: Sequence[Path],
    setup: EvalSetup,
    on_progress: OnProgress | None = None,
) -> Iterator[ImageScore]:
    """Degrade, restore and score each image of ``paths`` in order; yields one row per image.

    Image ``i`` is degraded with seed ``setup.spec.seed + i``. ``on_progress`` sees the
    service's per-tile progress. Raises ImageIOError for an unreadable image.
    """
    params = service_params(service, setup)
    base_seed = int(setup.spec.seed)
    scale = int(setup.spec.scale)
    check_scale(service, params, setup)
    for index, path in enumerate(paths):
        if setup.noisy is not None:
            case = paired_case(path, setup.noisy, setup)
        else:
            case = prepare_case(image_io.load(path).pixels, setup, base_seed + index)
        if index == 0:
            warm_up(service, case, params, setup.tile)
        result, ms = restore(service, case, params, setup.tile, on_progress)
        if not setup.float_mode:
            result = quantize8(result)
        h, w = result.shape[:2]
        scores = score_case(result, case, setup.task, scale)
        yield ImageScore(path.name, w, h, ms, h * w / 1e6, scores)


def summarize(rows: Sequence[ImageScore]) -> dict[str, Any]:
    """Mean of every score over ``rows`` and ``ms_per_mp`` (total time / total output MP)."""
    if not rows:
        return {"mean": {}, "ms_per_mp": None}
    names = list(rows[0].scores)
    mean = {n: float(np.mean([r.scores[n] for r in rows])) for n in names}
    total_mp = sum(r.megapixels for r in rows)
    ms_per_mp = sum(r.ms for r in rows) / total_mp if total_mp > 0 else float("nan")
    return {"mean": mean, "ms_per_mp": ms_per_mp}


def eval_report(
    service: Service, degrade_text: str, setup: EvalSetup, rows: Sequence[ImageScore]
) -> dict[str, Any]:
    """The JSON document of an evaluation: {task, method, degrade, device, per_image, mean, ...}."""
    summary = summarize(rows)
    return {
        "task": service.info.task,
        "method": service.info.method,
        "degrade": degrade_text,
        "holes": list(setup.holes) if setup.holes else None,
        "protocol": "float" if setup.float_mode else "8-bit",
        "params": {k: v for k, v in service_params(service, setup).items()},
        "device": str(service.device),
        "per_image": [r.as_dict() for r in rows],
        "mean": {k: _json_float(v) for k, v in summary["mean"].items()},
        "ms_per_mp": _json_float(summary["ms_per_mp"]) if rows else None,
    }


def output_scale(service: Service, params: Mapping[str, Any] | None = None) -> int:
    """The service's enlargement factor for ``params`` (1 for same-size services)."""
    return max(1, int(service.output_scale(params)))
