"""Measure Path-Restore routing on CBSD68: PSNR, restorer time and MACs per pixel.

For each noise setting (uniform sigma 10/25/50, linearly varying 5 -> 55 left to right,
peaked: three Gaussian bumps to 55 over a floor of 5) every image is degraded (8-bit
protocol, seed = image index), encoded once, then restored by the full restorer, the
quick one and the routed one for each pathfinder given (same latent; the routed time
includes the EST map, the region features and the pathfinder). Times are process CPU
seconds of the restorer calls (one torch thread), summed over the images, so the
variants are compared under the same conditions on a shared machine.

    python tools/docs/route_report.py --data ../shared/data/test/CBSD68 \
        --pathfinder p=4e-5:runs/route/pf.safetensors --json runs/route/report.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core import image_io  # noqa: E402
from app.core.degradations import quantize8  # noqa: E402
from app.core.metrics import psnr  # noqa: E402
from app.core.progress import drive  # noqa: E402
from app.core.route_plan import (  # noqa: E402
    BYPASS,
    QUICK,
    core_box,
    grown_box,
    rectangles,
)
from app.core.tiling import pad_to_multiple  # noqa: E402
from app.evaluation.routing import add_noise  # noqa: E402
from app.ml import registry, routing  # noqa: E402
from app.ml.services.vdir import VDIRService  # noqa: E402

SETTINGS = ("sigma10", "sigma25", "sigma50", "linear", "peaks")
ROUTING_MACS = 90 + 1536 / 64**2  # EST head per pixel + the pathfinder per 64x64 region


def sigma_field(setting: str, size: tuple[int, int]) -> np.ndarray:
    """The (H, W) noise level of an evaluation setting (fixed, not random)."""
    h, w = size
    if setting.startswith("sigma"):
        return np.full(size, float(setting[5:]), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if setting == "linear":
        return (5 + 50 * xx / max(w - 1, 1)).astype(np.float32)
    bumps = np.zeros(size, np.float32)
    s = 0.12 * min(h, w)
    for fy, fx in ((0.25, 0.25), (0.5, 0.75), (0.75, 0.4)):
        bumps += np.exp(-((yy - fy * h) ** 2 + (xx - fx * w) ** 2) / (2 * s * s))
    return np.minimum(5 + 50 * bumps, 55).astype(np.float32)


# Restorer MACs per pixel from the model cards (inference MACs minus the 5,952 of the
# encoder): app.ml.macs' hooks now miss part of the channels-last 1x1 convolutions
# (they count 17,076 / 12,132 here), so the cards' figures are the reference.
CARD_MACS = (30837 - 5952, 22820 - 5952, 5952)


def restorer_macs(service: VDIRService) -> tuple[float, float, float]:
    """MACs per pixel of the full restorer, the quick one and the encoder (model cards)."""
    return float(CARD_MACS[0]), float(CARD_MACS[1]), float(CARD_MACS[2])


def routed_macs(route: np.ndarray, size: tuple[int, int], macs: tuple[float, float]) -> float:
    """Restorer MACs per pixel of a routed run: each rectangle's grown box on its path."""
    total = 0.0
    for rect in rectangles(route):
        if rect.path == BYPASS:
            continue
        y0, x0, y1, x1 = grown_box(core_box(rect, size), size, routing.HALO)
        if len(rectangles(route)) == 1:
            y0, x0, y1, x1 = 0, 0, size[0], size[1]
        total += (y1 - y0) * (x1 - x0) * (macs[1] if rect.path == QUICK else macs[0])
    return total / (size[0] * size[1]) + ROUTING_MACS


def timed(work: Any) -> tuple[np.ndarray, float]:
    start = time.process_time()
    out = drive(work)
    return out, time.process_time() - start


def macs_only(
    service: VDIRService, noisy: np.ndarray, latent: np.ndarray, finders: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Restorer MACs per pixel of each variant from its route map alone (no restoring)."""
    img, _ = pad_to_multiple(noisy, 4)
    rows = {"full": {"macs": MACS[0]}, "quick": {"macs": MACS[1]}}
    for name, path in finders.items():
        service.route_file = path
        rows[name] = {
            "macs": routed_macs(routing.auto_route(service, img, latent), img.shape[:2], MACS[:2])
        }
    return rows


def run_image(
    service: VDIRService,
    clean: np.ndarray,
    setting: str,
    seed: int,
    finders: dict[str, str],
    only_macs: bool = False,
) -> dict[str, dict[str, float]]:
    """Per variant: PSNR, restorer CPU seconds, restorer MACs (and path shares if routed)."""
    rng = np.random.default_rng(seed)
    noisy = add_noise(clean, sigma_field(setting, clean.shape[:2]), rng)
    latent = service.encode(noisy)
    if only_macs:
        return macs_only(service, noisy, latent, finders)
    size = ((noisy.shape[0] + 3) // 4 * 4, (noisy.shape[1] + 3) // 4 * 4)
    rows: dict[str, dict[str, float]] = {}
    out, sec = timed(service.restore(noisy, latent))
    rows["full"] = {"psnr": psnr(quantize8(out), clean), "s": sec, "macs": MACS[0]}
    out, sec = timed(service.quick().restore(noisy, latent))
    rows["quick"] = {"psnr": psnr(quantize8(out), clean), "s": sec, "macs": MACS[1]}
    for name, path in finders.items():
        service.route_file = path
        out, sec = timed(service.restore(noisy, latent, route="auto"))
        route = service.last_route
        assert route is not None
        shares = {k: float(np.mean(route == i)) for i, k in enumerate(("bypass", "quick", "full"))}
        rows[name] = {"psnr": psnr(quantize8(out), clean), "s": sec,
                      "macs": routed_macs(route, size, MACS[:2]), **shares}  # fmt: skip
    return rows


MACS: tuple[float, float, float] = (0.0, 0.0, 0.0)


def summarise(per_image: list[dict[str, dict[str, float]]], pixels: float) -> dict[str, Any]:
    """Mean PSNR, restorer ms/MP (total CPU over total pixels), mean MACs/px, path shares."""
    out: dict[str, Any] = {}
    for name in per_image[0]:
        vals = [img[name] for img in per_image]
        row = {k: float(np.mean([v[k] for v in vals])) for k in vals[0] if k != "s"}
        if "s" in vals[0]:
            row["ms_per_mp"] = 1000 * sum(v["s"] for v in vals) / (pixels / 1e6)
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    global MACS
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pathfinder", action="append", default=[], metavar="NAME:PATH")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--halo", type=int, default=routing.HALO)
    parser.add_argument("--blend", type=int, default=routing.BLEND)
    parser.add_argument("--macs-only", action="store_true", help="route maps only")
    args = parser.parse_args(argv)
    routing.HALO, routing.BLEND = args.halo, args.blend
    torch.set_num_threads(1)
    service = registry.create_service("denoise", "vdir", device="cpu")
    assert isinstance(service, VDIRService)
    finders = dict(item.split(":", 1) for item in args.pathfinder)
    files = sorted(args.data.glob("*.png"))[: args.limit or None]
    MACS = restorer_macs(service)
    report: dict[str, Any] = {"macs": MACS, "images": len(files), "halo": args.halo,
                              "blend": args.blend}  # fmt: skip
    for setting in args.settings.split(","):
        per_image, pixels = [], 0.0
        for i, path in enumerate(files):
            clean = quantize8(image_io.load(path).pixels)
            per_image.append(run_image(service, clean, setting, i, finders, args.macs_only))
            pixels += clean.shape[0] * clean.shape[1]
        report[setting] = summarise(per_image, pixels)
        print(setting, json.dumps(report[setting]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
