"""Can the inpainting network learn at all? Fit it to one fixed batch (docs/inpainting.md).

Trains a fresh network of CONFIG's arch on a single batch of training crops (K = 1) and
prints the hole PSNR of that batch as it goes; the fill alone is the starting point. A
network that cannot climb far above it has a gradient-flow or capacity problem; one that
memorises the batch but does not improve on validation crops is limited by data and steps.

python tools/probes/inpaint_overfit.py configs/inpaint_reach.json --data ../shared/data/train
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from app.training import inpaint_task  # noqa: E402
from app.training.data import split_bank  # noqa: E402
from app.training.mask_loop import MaskTaskConfig  # noqa: E402


def task_config(path: str, batch: int, patch: int) -> MaskTaskConfig:
    """CONFIG as a plain (K = 1) task config with the given batch and patch size."""
    raw = json.loads(Path(path).read_text())
    known = {f.name for f in dataclasses.fields(MaskTaskConfig)}
    raw.update(batch=batch, patch=patch, k_train=1)
    return MaskTaskConfig(**{k: v for k, v in raw.items() if k in known})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--images", type=int, default=50, help="draw the batch from the first N")
    args = p.parse_args()
    torch.manual_seed(0)
    cfg = task_config(args.config, args.batch, args.patch)
    bank, _ = split_bank(Path(args.data), 0)
    x, m = inpaint_task.sample(bank[: args.images], cfg, np.random.default_rng(0))
    net = inpaint_task.build(cfg.arch)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    y = x * (1 - m)
    with torch.no_grad():
        print(f"fill alone: {inpaint_task.hole_psnr(net.fill(y, m), x, m):.2f} dB")
    for step in range(1, args.steps + 1):
        loss = inpaint_task.loss(net, (x, m), cfg)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            with torch.no_grad():
                psnr = inpaint_task.hole_psnr(net(y, m), x, m)
            print(f"step {step}: hole PSNR {psnr:.2f} dB on the fitted batch")


if __name__ == "__main__":
    main()
