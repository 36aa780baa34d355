"""Is routing's gain on spatially variant noise the path choice or the split?

For the first N CBSD68 images with linearly varying noise (sigma 5 -> 55, left to right;
tools/docs/route_report.py's setting) prints the PSNR of the full restorer on the whole
image, of route=auto, and of route=auto's rectangles all run on the full path (same
split, same cross-fades). The restorer's NAF blocks pool channel attention over their
whole input, so a pass over the whole photo mixes the statistics of its clean and its
noisy parts; run per rectangle they do not.

    python tools/probes/route_split_check.py runs/route/pf_inv_3e-5.safetensors 6
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "docs"))

import route_report as rr  # noqa: E402

from app.core import image_io  # noqa: E402
from app.core.degradations import quantize8  # noqa: E402
from app.core.metrics import psnr  # noqa: E402
from app.core.progress import drive  # noqa: E402
from app.ml import registry, routing  # noqa: E402
from app.ml.services.vdir import VDIRService  # noqa: E402

DATA = Path("/work/shared/data/test/CBSD68")


def main(pathfinder: str, count: int, setting: str = "linear") -> None:
    torch.set_num_threads(1)
    service = registry.create_service("denoise", "vdir", device="cpu")
    assert isinstance(service, VDIRService)
    service.route_file = pathfinder
    plain = routing._run_path

    def all_full(svc: VDIRService, path: int, image: np.ndarray, latent: Any, tile: int) -> Any:
        return (yield from plain(svc, 0 if path == 0 else 2, image, latent, tile))

    rows = []
    for i, path in enumerate(sorted(DATA.glob("*.png"))[:count]):
        clean = quantize8(image_io.load(path).pixels)
        sigma = rr.sigma_field(setting, clean.shape[:2])
        noisy = rr.add_noise(clean, sigma, np.random.default_rng(i))
        latent = service.encode(noisy)
        full = drive(service.restore(noisy, latent))
        auto = drive(service.restore(noisy, latent, route="auto"))
        routing._run_path = all_full  # type: ignore[assignment]
        split = drive(service.restore(noisy, latent, route="auto"))
        routing._run_path = plain
        rows.append([psnr(quantize8(x), clean) for x in (full, auto, split)])
        print(path.name, [round(v, 3) for v in rows[-1]], flush=True)
    print("mean PSNR: full, auto, auto's rectangles all full:", np.mean(rows, 0).round(3))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6, *sys.argv[3:4])
