"""DL-Net-style SR table: sets x scales x blurs, bicubic / K=1 / K=5 / blind / VDIR blind.

    nice -n 10 .venv/bin/python tools/docs/sr_table.py --out runs/sr_table.json \\
        --sets Set5 Set14 BSD100 [--limit N] [--threads 2]

Each cell is the mean Y-PSNR (BT.601, border crop = scale, 8-bit protocol) of
:func:`app.evaluation.protocol.evaluate` -- the code behind ``patina eval --task upscale
--degrade "scale=S,blur=U"`` -- for: ``bicubic`` (the classical upscaler); ``K=1`` and
``K=5`` (the default upscaler, ``dlnet``, told the blur: ``--param k=1`` / ``k=5``);
``blind`` (``--param blur=-1``: the blur estimated from the image, then K = 5; the mean
estimate is listed too); ``VDIR blind`` (``--method vdir``: the blind VDIR-SR model, its
latent's estimate listed). Cells already in ``--out`` are skipped, so an interrupted run
resumes; the JSON is rewritten after every cell. ``--markdown`` prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.degradations import DegradationSpec  # noqa: E402
from app.evaluation.images import list_images  # noqa: E402
from app.evaluation.protocol import EvalSetup, evaluate  # noqa: E402
from app.ml import registry  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "test"
SCALES = (2, 3, 4)
BLURS = (0.0, 1.3, 2.6)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "bicubic": ("bicubic", {}),
    "K=1": ("dlnet", {"k": 1}),
    "K=5": ("dlnet", {"k": 5}),
    "blind": ("dlnet", {"k": 5, "blur": -1}),
    "VDIR blind": ("vdir", {}),
}
ESTIMATING = ("blind", "VDIR blind")  # methods that estimate the blur (mean estimate listed)


def cell(folder: Path, scale: int, blur: float, method: str, limit: int | None) -> dict[str, Any]:
    """Mean Y-PSNR / SSIM (and the mean estimated blur for ``blind``) of one cell."""
    name, params = METHODS[method]
    service = registry.create_service("upscale", name, device="cpu")
    spec = DegradationSpec.parse(f"scale={scale},blur={blur:g}")
    setup = EvalSetup("upscale", spec, params=params)
    psnrs, ssims, blurs = [], [], []
    t0 = time.perf_counter()
    for row in evaluate(service, list_images(folder, limit), setup):
        psnrs.append(row.scores["psnr_y"])
        ssims.append(row.scores["ssim_y"])
        blurs.append(float(getattr(service, "last_blur", None) or 0.0))
    out = {"psnr_y": round(sum(psnrs) / len(psnrs), 2), "ssim_y": round(sum(ssims) / len(ssims), 4),
           "images": len(psnrs), "s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    if method in ESTIMATING:
        out["mean_estimated_blur"] = round(sum(blurs) / len(blurs), 2)
    return out


def key(set_name: str, scale: int, blur: float, method: str) -> str:
    return f"{set_name}/x{scale}/u{blur:g}/{method}"


def markdown(results: dict[str, Any], sets: list[str]) -> str:
    """One table per set: rows scale x blur, columns the methods."""
    lines: list[str] = []
    for set_name in sets:
        lines += [f"**{set_name}** (Y-PSNR dB, crop = scale)", "",
                  "| scale | u | " + " | ".join(METHODS) + " | "
                  + " | ".join(f"{m}: mean u estimate" for m in ESTIMATING) + " |",
                  "|---" * (len(METHODS) + len(ESTIMATING) + 2) + "|"]  # fmt: skip
        for scale in SCALES:
            for blur in BLURS:
                cells = [results.get(key(set_name, scale, blur, m)) for m in METHODS]
                if not any(cells):
                    continue
                text = [f"{c['psnr_y']:.2f}" if c else "" for c in cells]
                ests = [results.get(key(set_name, scale, blur, m)) or {} for m in ESTIMATING]
                est = " | ".join(str(c.get("mean_estimated_blur", "")) for c in ests)
                lines.append(f"| x{scale} | {blur:g} | " + " | ".join(text) + f" | {est} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "sr_table.json")
    p.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--limit", type=int, default=None, help="first N images of each set")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--markdown", action="store_true", help="only print the tables")
    args = p.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.markdown:
        print(markdown(results, args.sets))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    for set_name in args.sets:
        for scale in SCALES:
            for blur in BLURS:
                for method in args.methods:
                    k = key(set_name, scale, blur, method)
                    if k in results:
                        continue
                    results[k] = cell(DATA / set_name, scale, blur, method, args.limit)
                    print(k, results[k], flush=True)
                    args.out.write_text(json.dumps(results, indent=1))
    print(markdown(results, args.sets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
