"""Evaluate a VDIR model file: PSNR/SSIM tables, EST accuracy, latent steering, speed.

``python -m app.evaluation.vdir --model models/vdir-denoise.safetensors
--data ../shared/data/test/CBSD68 --sigma 25`` scores the model under the 8-bit clipped
protocol of :mod:`app.evaluation.protocol` (noise added to the 8-bit image, rounded, clipped;
result rounded to 8 bits; RGB PSNR/SSIM against the original). ``--quality Q`` scores JPEG
deblocking instead. ``--est`` adds the EST mean absolute error (sigma 5..50 or quality
10..80), ``--fig5`` the VDIR Fig. 5 latent experiment, ``--bench`` CPU ms/MP at 1 MP.
``--spec "fade=0.3,..."`` scores any degradation chain (old-photo).
``--run RUN_DIR`` merges the results into ``RUN_DIR/metrics.json`` for the model card
(:mod:`app.evaluation.metrics_file`; ``python -m app.training.export`` reads it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from app.core import image_io
from app.core.degradations import DegradationSpec, degrade, quantize8
from app.core.metrics import psnr
from app.core.progress import Work, drive
from app.evaluation.images import list_images
from app.evaluation.metrics_file import merge_metrics
from app.evaluation.protocol import EvalSetup, evaluate
from app.ml import registry
from app.ml.loading import load_weights
from app.ml.services.vdir import VDIRService
from app.ml.steering.edit import latent_size


@dataclass
class FileEntry:
    """A registry-like entry for a weights file given on the command line."""

    id: str
    task: str
    file: str
    title: str = ""


class ZeroLatentService(VDIRService):
    """A model trained without the encoder/decoder (``use_vae`` false, the naive-blind
    ablation): its restorer always saw c = 0, so it restores with an all-zero latent."""

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        shape = (*latent_size(*image.shape[:2]), self.model.cfg.latent)
        return (yield from self.restore(image, np.zeros(shape, np.float32), tile))


def trained_task(config: dict[str, Any]) -> str:
    """The restoration task of a training config (a preview restorer's is its teacher's)."""
    if config.get("task") == "preview":
        return str(config.get("data", {}).get("teacher_task", "denoise"))
    return str(config.get("task", "denoise"))


def service_for(model: Path, device: str = "cpu", task: str | None = None) -> VDIRService:
    """A VDIRService for a weights file; the task defaults to the one it was trained for.
    Weights trained without the VAE get a :class:`ZeroLatentService`."""
    _, meta = load_weights(model)
    config = meta.get("training", {}).get("config", {})
    task = task or trained_task(config)
    kind = VDIRService if config.get("use_vae", True) else ZeroLatentService
    return kind(FileEntry(model.stem, task, str(model.resolve())), device=device)


def evaluate_service(
    service: Any,
    images: Sequence[Path],
    spec: DegradationSpec,
    float_mode: bool = False,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Per-image rows (name, psnr, ssim, input_psnr, ms, ...) under the 8-bit protocol
    (or float mode) with service ``params``; image ``i`` is degraded with seed
    ``spec.seed + i``."""
    setup = EvalSetup(
        task=service.info.task, spec=spec, float_mode=float_mode, params=dict(params or {})
    )
    return [row.as_dict() for row in evaluate(service, list(images), setup)]


def mean_rows(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean of the numeric score columns of ``rows``."""
    keys = [k for k in ("psnr", "ssim", "input_psnr", "psnr_y") if k in rows[0]]
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}


def degraded(clean: np.ndarray, task: str, level: float, seed: int) -> np.ndarray:
    """8-bit protocol input: sigma ``level`` noise (denoise) or JPEG quality ``level``."""
    if task == "deblock":
        spec = DegradationSpec(jpeg=int(level), seed=seed)
    else:
        spec = DegradationSpec(sigma=float(level), seed=seed)
    return degrade(quantize8(clean), spec).image


def est_error(
    service: VDIRService, images: Sequence[Path], levels: Sequence[float]
) -> dict[str, float]:
    """Mean absolute error of EST over ``images`` x ``levels`` (sigma 0..255 or quality)."""
    key = "quality" if service.info.task == "deblock" else "sigma"
    errs: dict[float, list[float]] = {lv: [] for lv in levels}
    for i, path in enumerate(images):
        clean = image_io.load(path).pixels
        for lv in levels:
            est = service.estimate(service.encode(degraded(clean, service.info.task, lv, i)))
            errs[lv].append(abs(est[key] - lv))
    out = {f"{key}={lv:g}": round(float(np.mean(e)), 3) for lv, e in errs.items()}
    out["mae"] = round(float(np.mean([np.mean(e) for e in errs.values()])), 3)
    return out


def hf_energy(img: np.ndarray) -> float:
    """Mean absolute Laplacian of the luma (residual-noise / sharpness measure)."""
    luma = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


def fig5(
    service: VDIRService,
    images: Sequence[Path],
    sigma: float = 30.0,
    sources: Sequence[float] = (15.0, 30.0, 50.0),
) -> dict[str, dict[str, float]]:
    """VDIR Fig. 5: restore y (sigma 30) with c encoded from the same image at other sigmas.

    Reports PSNR and ``hf_ratio`` = high-frequency energy of the result / of the clean
    image (> 1: noise left, < 1: over-smoothed), averaged over ``images``.
    """
    acc: dict[float, list[tuple[float, float]]] = {s: [] for s in sources}
    for i, path in enumerate(images):
        clean = quantize8(image_io.load(path).pixels)
        y = degraded(clean, "denoise", sigma, i)
        for s in sources:
            c = service.encode(y if s == sigma else degraded(clean, "denoise", s, 1000 + i))
            out = quantize8(drive(service.restore(y, c)))
            acc[s].append((psnr(out, clean), hf_energy(out) / hf_energy(clean)))
    return {f"c from sigma {s:g}": {"psnr": round(float(np.mean([a for a, _ in v])), 4),
                                    "hf_ratio": round(float(np.mean([b for _, b in v])), 4)}
            for s, v in acc.items()}  # fmt: skip


def bench(service: VDIRService, megapixels: float = 1.0, repeats: int = 2) -> float:
    """Best-of-``repeats`` milliseconds per megapixel on a synthetic ``megapixels`` image."""
    h = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    w = int(round(megapixels * 1e6 / h))
    img = np.random.default_rng(0).random((h, w, 3), dtype=np.float32) * 0.2 + 0.4
    drive(service.run(img[:64, :64]))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        drive(service.run(img))
        best = min(best, time.perf_counter() - start)
    return best * 1000.0 / (h * w / 1e6)


def parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m app.evaluation.vdir``."""
    p = argparse.ArgumentParser(prog="python -m app.evaluation.vdir", description=__doc__)
    p.add_argument("--model", required=True, type=Path, help="a .safetensors VDIR model")
    p.add_argument("--data", type=Path, default=Path("../shared/data/test/CBSD68"))
    p.add_argument("--sigma", type=float, nargs="*", default=[], help="noise levels (0..255)")
    p.add_argument("--quality", type=int, nargs="*", default=[], help="JPEG qualities")
    p.add_argument("--spec", action="append", default=[],
                   help='any degradation spec, e.g. "fade=0.3,blur=0.8,grain=0.3,sigma=15,jpeg=60"'
                        " (repeatable)")  # fmt: skip
    p.add_argument("--baseline", action="append", default=[], metavar="TASK/METHOD",
                   help="also score this registry service on the same inputs, e.g. "
                        "deblock/jpeg-filter (repeatable)")  # fmt: skip
    p.add_argument("--ensemble", type=int, nargs="*", default=[], choices=(2, 4, 8),
                   help="also score the model with this self-ensemble (dihedral views; rows "
                        "labelled [ensemble N])")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--float", dest="float_mode", action="store_true", help="unclipped protocol")
    p.add_argument("--est", action="store_true", help="EST mean absolute error")
    p.add_argument("--fig5", action="store_true", help="latent steering experiment (denoise)")
    p.add_argument("--bench", type=float, nargs="*", default=None, help="sizes in MP to time")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--run", type=Path, default=None, help="merge results into RUN/metrics.json")
    return p


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the arguments ask for, as {setting: result}."""
    service = service_for(args.model, args.device)
    images = list_images(args.data, args.limit)
    out = quality_tables(service, images, args)
    for views in args.ensemble:
        tables = quality_tables(service, images, args, {"ensemble": str(views)})
        out.update({f"{key} [ensemble {views}]": value for key, value in tables.items()})
    for name in args.baseline:
        task, _, method = name.partition("/")
        other = registry.create_service(task, method or None, device=args.device)
        tables = quality_tables(other, images, args)
        out.update({f"{key} [{name}]": value for key, value in tables.items()})
    name = args.data.name
    if args.est:
        deblock = service.info.task == "deblock"
        levels = [10, 20, 30, 40, 50, 60, 70, 80] if deblock else [5, 10, 15, 20, 25, 30, 40, 50]
        out[f"{name} EST abs error"] = est_error(service, images, levels)
    if args.fig5:
        out.update({f"{name} fig5 y sigma 30, {k}": v for k, v in fig5(service, images).items()})
    for mp in args.bench or []:
        label = f"{service.device} ms/MP at {mp:g} MP ({torch.get_num_threads()} threads)"
        out[label] = round(bench(service, mp), 1)
    return out


def quality_tables(
    service: Any,
    images: Sequence[Path],
    args: argparse.Namespace,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Mean PSNR/SSIM rows of ``service`` (with ``params``) for every --sigma, --quality
    and --spec."""
    name = args.data.name
    specs = [(f"sigma {s:g}", DegradationSpec(sigma=s)) for s in args.sigma]
    specs += [(f"jpeg q{q}", DegradationSpec(jpeg=q)) for q in args.quality]
    specs += [(text, DegradationSpec.parse(text)) for text in args.spec]
    return {
        f"{name} {label}": mean_rows(
            evaluate_service(service, images, spec, args.float_mode, params or {})
        )
        for label, spec in specs
    }


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation, print JSON, optionally merge into the run's metrics."""
    args = parser().parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = run_all(args)
    print(json.dumps(results, indent=2))
    if args.run is not None:
        merge_metrics(args.run, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
