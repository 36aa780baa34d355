"""Tune the classical denoisers on training images and measure the classical baselines.

Tuning uses the first N images of ``../shared/data/train/BSDS500/split_train`` under the
8-bit protocol of ``patina eval`` (clean image rounded to 8 bits, Gaussian noise added,
rounded and clipped: :func:`app.core.degradations.degrade` with ``quantize=True``).
Baselines use the test sets through :mod:`app.evaluation.protocol` (the code behind
``patina eval``), so ``patina eval`` reproduces them.

Commands (run from the repository root; keep it light on the shared machine)::

    nice -n 10 python tools/experiments/tune_classical.py bilateral --images 30 [--rule-only]
    nice -n 10 python tools/experiments/tune_classical.py nlmeans --images 10
    nice -n 10 python tools/experiments/tune_classical.py gaussian --images 30
    nice -n 10 python tools/experiments/tune_classical.py estimate --images 30
    nice -n 10 python tools/experiments/tune_classical.py baselines --out /tmp/baselines.md
    nice -n 10 python tools/experiments/tune_classical.py speed

The tuning commands print the best settings per sigma; the rules in app/ml/classical_operators.py
(``bilateral_settings``, ``gaussian_sigma``, ``NLMEANS_*``) were fitted to them by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core import image_io  # noqa: E402
from app.core.degradations import DegradationSpec, degrade, quantize8  # noqa: E402
from app.core.metrics import psnr  # noqa: E402
from app.evaluation.images import list_images  # noqa: E402
from app.evaluation.protocol import EvalSetup, evaluate, summarize  # noqa: E402
from app.ml import classical_operators as ops  # noqa: E402
from app.ml.classical_operators import BilateralSettings  # noqa: E402

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TRAIN = DATA / "train" / "BSDS500" / "split_train"
SIGMAS = (5, 10, 15, 25, 35, 50, 75)
Pair = tuple[np.ndarray, np.ndarray]


def training_pairs(n: int, sigma: float) -> list[Pair]:
    """(clean, noisy) float32 pairs of the first ``n`` training images; image i has seed i."""
    pairs = []
    for i, path in enumerate(list_images(TRAIN, n)):
        clean = quantize8(image_io.load(path).pixels)
        noisy = degrade(clean, DegradationSpec(sigma=sigma, seed=i, quantize=True)).image
        pairs.append((clean, noisy))
    return pairs


def mean_psnr(targets: Sequence[np.ndarray], outputs: Iterable[np.ndarray]) -> float:
    """Mean PSNR (data range 1) of matched arrays of any shape."""
    return float(np.mean([psnr(t, o) for t, o in zip(targets, outputs, strict=True)]))


K = TypeVar("K")


def best(scores: dict[K, float], top: int = 3) -> list[tuple[K, float]]:
    """The ``top`` highest-scoring entries."""
    return sorted(scores.items(), key=lambda kv: -kv[1])[:top]


# --- bilateral ----------------------------------------------------------------------------

# (diameter, sigmaSpace, sigmaColor multiples per pass) and (chroma radius, eps) grids.
LUMA_GRID: tuple[tuple[int, ...], tuple[float, ...], tuple[tuple[float, ...], ...]] = (
    (7, 9, 11),
    (1.0, 1.5, 2.0),
    ((1.25, 0.5), (1.5, 0.5), (1.5, 0.75), (1.75, 0.5), (1.75, 0.75), (2.0, 0.75)),
)
CHROMA_GRID: tuple[tuple[int, ...], tuple[float, ...]] = (
    (2, 3, 4, 6, 8, 12, 16),
    (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
)


def tune_bilateral_sigma(pairs: list[Pair], sigma: float) -> BilateralSettings:
    """Grid-search luma settings on luma MSE, then chroma settings on chroma MSE.

    The opponent transform is orthonormal, so RGB MSE = luma MSE + chroma MSE (over three
    channels) and the two searches are independent (chroma depends on the chosen luma).
    """
    opp = [(ops.to_opponent(c), ops.to_opponent(n)) for c, n in pairs]
    clean_luma = [c[..., 0] for c, _ in opp]
    luma_scores: dict[BilateralSettings, float] = {}
    for d, sp, col in itertools.product(*LUMA_GRID):
        s = BilateralSettings(d, sp, col, 2, 1.0)
        outs = (ops.denoise_luma(n[..., 0], sigma, s) for _, n in opp)
        luma_scores[s] = mean_psnr(clean_luma, outs)
    base = best(luma_scores, 1)[0][0]
    lumas = [ops.denoise_luma(n[..., 0], sigma, base) for _, n in opp]
    clean_chroma = [c[..., 1:] for c, _ in opp]
    chroma_scores: dict[BilateralSettings, float] = {}
    for r, e in itertools.product(*CHROMA_GRID):
        s = dataclasses.replace(base, radius=r, eps=e)
        outs = (
            np.stack([ops.denoise_chroma(y, n[..., k], sigma, s) for k in (1, 2)], axis=2)
            for y, (_, n) in zip(lumas, opp, strict=True)
        )
        chroma_scores[s] = mean_psnr(clean_chroma, outs)
    print(f"  luma best {best(luma_scores)}\n  chroma best {best(chroma_scores)}")
    return best(chroma_scores, 1)[0][0]


def cmd_bilateral(args: argparse.Namespace) -> None:
    """Tune per sigma, then compare the tuned settings with the rule in classical_operators.py."""
    for sigma in args.sigmas:
        pairs = training_pairs(args.images, sigma)
        print(f"sigma {sigma}: noisy {mean_psnr([c for c, _ in pairs], [n for _, n in pairs]):.3f}")
        rule = ops.bilateral_settings(sigma)
        found = [] if args.rule_only else [("tuned", tune_bilateral_sigma(pairs, sigma))]
        clean = [c for c, _ in pairs]
        for name, s in (*found, ("rule", rule)):
            db = mean_psnr(clean, (ops.bilateral_denoise(n, sigma, s) for _, n in pairs))
            print(f"  {name}: {s} -> {db:.3f} dB RGB")
        sys.stdout.flush()


# --- nlmeans, gaussian, estimator ---------------------------------------------------------


def cmd_nlmeans(args: argparse.Namespace) -> None:
    """Grid over h and hColor (multiples of sigma) of cv2.fastNlMeansDenoisingColored."""
    for sigma in args.sigmas:
        pairs = training_pairs(args.images, sigma)
        clean = [c for c, _ in pairs]
        scores: dict[object, float] = {}
        for h, hc in itertools.product((0.5, 0.6, 0.7, 0.8), (0.6, 0.7, 0.8, 1.0)):
            ops.NLMEANS_H, ops.NLMEANS_H_COLOUR = h, hc
            outs = (ops.nlmeans_denoise(n, sigma) for _, n in pairs)
            scores[(h, hc)] = mean_psnr(clean, outs)
        print(f"sigma {sigma}: best (h, hColor) {best(scores)}")
        sys.stdout.flush()


def cmd_gaussian(args: argparse.Namespace) -> None:
    """Best blur std per sigma for the Gaussian baseline, and the rule's score."""
    import cv2

    for sigma in args.sigmas:
        pairs = training_pairs(args.images, sigma)
        clean = [c for c, _ in pairs]
        scores: dict[object, float] = {}
        for blur in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.7, 2.0, 2.5):
            scores[blur] = mean_psnr(clean, (cv2.GaussianBlur(n, (0, 0), blur) for _, n in pairs))
        rule = mean_psnr(clean, (ops.gaussian_denoise(n, sigma) for _, n in pairs))
        blur = ops.gaussian_sigma(sigma)
        print(f"sigma {sigma}: best blur {best(scores)}; rule {blur:.2f} -> {rule:.3f}")


def cmd_estimate(args: argparse.Namespace) -> None:
    """Bias and spread of estimate_noise_sigma per sigma (colour and grey images)."""
    for sigma in (0, 2, *args.sigmas):
        pairs = training_pairs(args.images, sigma)
        est = np.array([ops.estimate_noise_sigma(n) for _, n in pairs])
        grey = []
        for i, (clean, _) in enumerate(pairs):
            g = clean.mean(axis=2, keepdims=True)
            g = g + np.random.default_rng(i).normal(0, sigma / 255, g.shape)
            noisy = quantize8(np.repeat(g, 3, axis=2).astype(np.float32))
            grey.append(ops.estimate_noise_sigma(noisy))
        g_est = np.array(grey)
        print(
            f"sigma {sigma:3}: colour {est.mean():6.2f} +- {est.std():5.2f}   "
            f"grey {g_est.mean():6.2f} +- {g_est.std():5.2f}"
        )


# --- baselines ----------------------------------------------------------------------------

Baseline = tuple[str, str, str, str, dict[str, Any], str | None]
BASELINES: tuple[Baseline, ...] = (
    # (task, method, data folder, degrade spec, extra params, holes)
    *(("denoise", m, "test/CBSD68", f"sigma={s}", {}, None)
      for s in (15, 25, 50) for m in ("bilateral", "nlmeans", "gaussian")),
    *(("denoise", "bilateral", "test/CBSD68", f"sigma={s}", {"sigma": -1}, None)
      for s in (15, 25, 50)),
    *(("deblock", "jpeg-filter", "test/LIVE1", f"jpeg={q}", p, None)
      for q in (10, 20) for p in ({}, {"quality": -1})),
    *(("inpaint", m, "test/CBSD68", spec, {}, holes)
      for spec, holes in (("", "32x8"), ("scratches=0.5", None))
      for m in ("telea", "navier-stokes", "biharmonic")),
    *(("upscale", m, "test/Set14", f"scale={s}", {}, None)
      for s in (2, 4) for m in ("bicubic", "lanczos")),
)  # fmt: skip


def run_baseline(task: str, method: str, folder: str, spec: str, params: dict[str, object],
                 holes: str | None, limit: int | None) -> dict[str, object]:  # fmt: skip
    """Mean scores of one method on one setup (same code path as ``patina eval``)."""
    from app.evaluation.protocol import parse_holes
    from app.ml import registry

    service = registry.create_service(task, method, device="cpu")
    setup = EvalSetup(task=task, spec=DegradationSpec.parse(spec), params=params,
                      holes=parse_holes(holes) if holes else None)  # fmt: skip
    rows = list(evaluate(service, list_images(DATA / folder, limit), setup))
    return summarize(rows)


def cmd_baselines(args: argparse.Namespace) -> None:
    """Measure every entry of BASELINES and print markdown table rows."""
    lines = ["| task | method | data | degradation | params | PSNR | SSIM | PSNR-Y | "
             "PSNR in mask | input PSNR | ms/MP |", "|" + "---|" * 11]  # fmt: skip
    for task, method, folder, spec, params, holes in BASELINES:
        if args.only and args.only not in f"{task}/{method}":
            continue
        start = time.perf_counter()
        summary = run_baseline(task, method, folder, spec, params, holes, args.limit)
        mean: dict[str, float] = summary["mean"]  # type: ignore[assignment]
        cells = [task, method, Path(folder).name, spec or f"holes {holes}",
                 ", ".join(f"{k}={v}" for k, v in params.items()) or "known"]  # fmt: skip
        cells += [fmt(mean.get(k)) for k in ("psnr", "ssim", "psnr_y", "psnr_mask", "input_psnr")]
        cells.append(fmt(summary["ms_per_mp"], 0))  # type: ignore[arg-type]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], f"({time.perf_counter() - start:.0f} s)")
        sys.stdout.flush()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


SPEED_CASES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("denoise", "bilateral", {"sigma": 25}), ("denoise", "bilateral", {"sigma": -1}),
    ("denoise", "nlmeans", {"sigma": 25}), ("denoise", "gaussian", {"sigma": 25}),
    ("deblock", "jpeg-filter", {"quality": 10}), ("deblock", "jpeg-filter", {"quality": -1}),
    ("upscale", "bicubic", {"scale": 2}), ("upscale", "lanczos", {"scale": 2}),
    ("inpaint", "telea", {}), ("inpaint", "navier-stokes", {}), ("inpaint", "biharmonic", {}),
)  # fmt: skip


def cmd_speed(args: argparse.Namespace) -> None:
    """Single-thread CPU time per output megapixel (load-independent, unlike wall time).

    Input: the first Kodak24 image tiled 2x2 (1536x1024, 1.6 MP) with noise sigma 25, or
    JPEG q10 for deblock, or 32 random 32x32 holes for inpaint; default tile 512; OpenCV
    limited to one thread; the best of 3 runs.
    """
    import cv2

    from app.core.degradations import random_holes
    from app.core.progress import drive
    from app.ml import registry

    cv2.setNumThreads(1)
    first = image_io.load(list_images(DATA / "test" / "Kodak24", 1)[0]).pixels
    clean = quantize8(np.tile(first, (2, 2, 1)))
    inputs = {
        "denoise": degrade(clean, DegradationSpec(sigma=25, seed=0)).image,
        "deblock": degrade(clean, DegradationSpec(jpeg=10, seed=0)).image,
        "upscale": clean, "inpaint": clean,
    }  # fmt: skip
    mask = random_holes(clean.shape, 32, 32, np.random.default_rng(0))
    for task, method, params in SPEED_CASES:
        service = registry.create_service(task, method)
        work = functools.partial(
            service.run, inputs[task], mask=mask if task == "inpaint" else None, params=params
        )
        out = drive(work())
        times = []
        for _ in range(3):
            start = time.process_time()
            drive(work())
            times.append(time.process_time() - start)
        mp = out.shape[0] * out.shape[1] / 1e6
        print(f"| {task} | {method} | {params} | {min(times) * 1000 / mp:.0f} |")


def fmt(value: float | None, digits: int = 2) -> str:
    """A table cell: ``digits`` decimals (4 for values below 1, i.e. SSIM), or a dash."""
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1 and digits else f"{value:.{digits}f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], None]] = {
        "bilateral": cmd_bilateral,
        "nlmeans": cmd_nlmeans,
        "gaussian": cmd_gaussian,
        "estimate": cmd_estimate,
        "baselines": cmd_baselines,
        "speed": cmd_speed,
    }
    for name, fn in commands.items():
        p = sub.add_parser(name, help=fn.__doc__)
        p.add_argument("--images", type=int, default=30, help="training images (tuning)")
        p.add_argument("--sigmas", type=int, nargs="+", default=list(SIGMAS))
        p.add_argument("--limit", type=int, help="baselines: only the first N test images")
        p.add_argument("--only", help="baselines: only entries whose task/method contains this")
        p.add_argument("--out", help="baselines: also write the table to this file")
        p.add_argument("--rule-only", action="store_true", help="bilateral: skip the search")
        p.set_defaults(func=fn)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
