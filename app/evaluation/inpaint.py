"""Evaluate inpainting on CBSD68-style folders: PSNR/SSIM inside the hole, CPU speed.

``python -m app.evaluation.inpaint --model models/dlnet-inpaint.safetensors
--data ../shared/data/test/CBSD68 [--run runs/inpaint] [--limit N] [--bench]``

Settings (seeded per image index, identical for every method): ``scratches`` (thin
1-5 px scratches, :func:`app.core.damage.scratches` density 1), ``dust``
(:func:`app.core.damage.dust` density 1), ``holes16`` (6 squares of 16 px),
``holes32`` (3 of 32 px), ``holes64`` (1 of 64 px), holes placed by
:func:`app.core.damage.random_holes`. Masked pixels of the input hold the damage (the
drawn scratch or dust colour, zeros in holes). Methods: OpenCV Telea and
Navier-Stokes (radius 3, on the 8-bit image, see :func:`opencv_8bit`), the harmonic
(Laplace) fill (:func:`app.ml.archs.inpaint.harmonic_fill`, the network's parameter-free
prefill), the network with K = 1 (no likelihood refinement) and K = 5 (gamma 1e-3;
``--ks 1,2,5,10`` for others), all from one z^(0) = g(y), with the service's compositing
(known pixels exact, seam feather 4 px, ``--feather``; none for the "lines" head).
Scores: PSNR over the masked pixels (RGB, peak 1) of the 8-bit-rounded result, pooled
per setting as mean over images; SSIM = mean of the SSIM map (Gaussian window 11,
sigma 1.5, RGB averaged) over the masked pixels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from skimage.metrics import structural_similarity

from app.core import damage
from app.core.metrics import masked_psnr
from app.core.progress import drive
from app.evaluation.images import find_images, read_uint8
from app.evaluation.metrics_file import merge_metrics
from app.ml.archs.inpaint import InpaintNet, pad_inputs
from app.ml.classical_operators import inpaint_harmonic
from app.ml.dlnet import refine
from app.ml.services.inpaint import composite, load_model

SETTINGS = ("scratches", "dust", "holes16", "holes32", "holes64")
HOLES = {"holes16": (16, 6), "holes32": (32, 3), "holes64": (64, 1)}
FEATHER = 4


@dataclass
class FileEntry:
    """A registry-like entry for a weights file given on the command line."""

    file: str
    id: str = "eval"
    task: str = "inpaint"
    title: str = ""


def damaged(x: np.ndarray, setting: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(input with damage in the masked pixels, mask) for one setting."""
    rng = np.random.default_rng([seed, SETTINGS.index(setting)])
    if setting == "scratches":
        return damage.scratches(x, 1.0, rng)
    if setting == "dust":
        return damage.dust(x, 1.0, rng)
    size, count = HOLES[setting]
    mask = damage.random_holes(x.shape, size, count, rng)
    return x * (1 - mask[:, :, None]), mask


def network_outputs(
    model: InpaintNet,
    y: np.ndarray,
    mask: np.ndarray,
    ks: tuple[int, ...],
    gamma: float,
    feather: int = FEATHER,
) -> dict[int, np.ndarray]:
    """The composited result for each K from one g(y) (K = 1 is h(g(y)))."""
    yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None]
    mt = torch.from_numpy((mask > 0).astype(np.float32))[None, None]
    yp, mp, (h, w) = pad_inputs(yt, mt)
    g, h_fn = model.parts(yp, mp)
    with torch.no_grad():
        z0 = g(yp, mp)
    out = {}
    for k in ks:
        with torch.enable_grad():
            z = refine(h_fn, z0, yp, 1 - mp, k, gamma)
        with torch.no_grad():
            x_hat = model.for_composite(h_fn(z), yp, mp)[0, :, :h, :w].permute(1, 2, 0).numpy()
        out[k] = composite(y, x_hat.astype(np.float32), mask, feather)
    return out


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM-map value over the masked pixels (RGB channels averaged)."""
    _, smap = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0, channel_axis=2, full=True,
    )  # fmt: skip
    return float((smap.mean(axis=2) * mask).sum() / max(mask.sum(), 1.0))


def _q8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0, 1) * 255) / 255


def opencv_8bit(y: np.ndarray, mask: np.ndarray, flags: int) -> np.ndarray:
    """cv2.inpaint on the 8-bit image (radius 3), known pixels kept exactly.

    Not Patina's float32 classical service: OpenCV 5.0's float32 Telea overshoots far
    outside [0, 1] (about 5 dB inside holes), so the 8-bit call is the fair baseline.
    """
    u8 = np.round(np.clip(y, 0, 1) * 255).astype(np.uint8)
    out = cv2.inpaint(u8, (mask > 0).astype(np.uint8), 3, flags).astype(np.float32) / 255
    return np.where(mask[:, :, None] > 0, out, y)


def harmonic(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The parameter-free harmonic (Laplace) fill, the ``"harmonic"`` prefill of the net
    (the classical ``inpaint/harmonic`` operator on the whole image)."""
    return inpaint_harmonic(y, mask)


def classical(y: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """OpenCV Telea and Navier-Stokes (8-bit, radius 3) and the harmonic fill."""
    return {
        "telea": opencv_8bit(y, mask, cv2.INPAINT_TELEA),
        "navier-stokes": opencv_8bit(y, mask, cv2.INPAINT_NS),
        "harmonic": harmonic(y, mask),
    }


def evaluate(
    model: InpaintNet | None,
    files: list[Path],
    gamma: float = 1e-3,
    settings: tuple[str, ...] = SETTINGS,
    feather: int = FEATHER,
    ks: tuple[int, ...] = (1, 5),
) -> dict[str, dict[str, dict[str, float]]]:
    """{setting: {method: {"psnr":.., "ssim":..}}} averaged over ``files``."""
    sums: dict[str, dict[str, list[tuple[float, float]]]] = {s: {} for s in settings}
    for i, path in enumerate(files):
        x = read_uint8(path).astype(np.float32) / 255.0
        for setting in settings:
            y, mask = damaged(x, setting, i)
            results = classical(y, mask)
            if model is not None:
                outs = network_outputs(model, y, mask, ks, gamma, feather)
                results.update({f"dlnet K={k}": out for k, out in outs.items()})
            for name, out in results.items():
                out8 = _q8(out)
                score = (masked_psnr(out8, x, mask), masked_ssim(out8, x, mask))
                sums[setting].setdefault(name, []).append(score)
        print(f"{i + 1}/{len(files)} {path.name}", file=sys.stderr, flush=True)
    return {s: {m: _mean(v) for m, v in by_method.items()} for s, by_method in sums.items()}


def _mean(scores: list[tuple[float, float]]) -> dict[str, float]:
    arr = np.array(scores)
    return {"psnr": round(float(arr[:, 0].mean()), 3), "ssim": round(float(arr[:, 1].mean()), 4)}


def bench(fn: Callable[[np.ndarray, np.ndarray], Any], size: int = 1024, repeat: int = 2) -> float:
    """CPU ms per megapixel of ``fn(image, mask)`` on a size x size image whose every
    512-px tile holds damage (worst case: no tile is skipped)."""
    rng = np.random.default_rng(0)
    img = rng.random((size, size, 3), dtype=np.float32)
    mask = np.maximum(damage.random_holes((size, size), 32, 16, rng), damage.dust(img, 1.0, rng)[1])
    fn(img, mask)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn(img, mask)
    return (time.perf_counter() - t0) / repeat * 1000 / (size * size / 1e6)


def main(argv: list[str] | None = None) -> int:
    """CLI (see module docstring); prints the table as JSON."""
    p = argparse.ArgumentParser(prog="python -m app.evaluation.inpaint")
    p.add_argument("--model", default=None, help="weights (.safetensors); none: classical only")
    p.add_argument("--data", default="../shared/data/test/CBSD68")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--run", default=None, help="merge results into RUN/metrics.json")
    p.add_argument("--bench", action="store_true", help="add CPU ms/MP")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--gamma", type=float, default=1e-3, help="DL-Net step size")
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset")
    p.add_argument("--ks", default="1,5", help="DL-Net estimates K to evaluate")
    p.add_argument("--feather", type=int, default=FEATHER, help="seam feather of the network (px)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(Path(args.model)) if args.model else None
    files = find_images(args.data)[: args.limit or None]
    chosen = tuple(args.settings.split(","))
    ks = tuple(int(k) for k in args.ks.split(","))
    table = evaluate(model, files, args.gamma, chosen, args.feather, ks)
    result: dict[str, Any] = {
        "inpaint": table, "images": len(files), "gamma": args.gamma, "feather": args.feather,
    }  # fmt: skip
    if args.bench:
        result["ms_per_mp"] = speed(args.model)
    print(json.dumps(result, indent=1))
    if args.run:
        merge_metrics(args.run, result)
    return 0


def speed(model_path: str | None) -> dict[str, float]:
    """ms/MP of Telea and (when given) the learned service with K = 1 and K = 5."""
    out = {"telea": round(bench(lambda i, m: opencv_8bit(i, m, cv2.INPAINT_TELEA)), 1)}
    if model_path:
        from app.ml.services.inpaint import InpaintService

        svc = InpaintService(FileEntry(str(Path(model_path).resolve())), "cpu")
        for k in (1, 5):

            def run(img: np.ndarray, mask: np.ndarray, k: int = k) -> np.ndarray:
                return drive(svc.run(img, mask=mask, params={"k": k}))

            out[f"dlnet K={k}"] = round(bench(run), 1)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
