"""Can a VDIR encoder learn JPEG quality at all? Train only encoder + EST (docs/models.md).

Builds a fresh VDIR of CONFIG's arch twice, once as configured and once with the other
``block_dct`` setting, and trains only its encoder (and block-DCT branch) and EST head
on deblock patches, EST on the mean latent, L1 on quality / 100. Prints the mean
absolute error of the global estimate (quality points) on held-out patches as it goes;
always answering the median scores about 21 points over quality 10..95.

python tools/probes/est_probe.py configs/vdir_deblock_ft4.json --data ../shared/data/train
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from app.ml.archs.vdir import VDIR, VDIRConfig  # noqa: E402
from app.training.data import sample_batch, split_bank  # noqa: E402

QUALITY = {"quality": [10, 95]}


def global_error(model: VDIR, y: torch.Tensor, t: torch.Tensor) -> float:
    """Mean absolute error (quality points) of the image-level estimate."""
    with torch.no_grad():
        est = model.estimate(model.encode(y)[0]).mean(dim=(1, 2, 3))
    return float((est - t.mean(dim=(1, 2, 3))).abs().mean()) * 100


def probe(arch: VDIRConfig, bank: list[np.ndarray], steps: int, every: int) -> None:
    """Train encoder (+ spectrum) + EST of a fresh ``arch`` model; print held-out error."""
    torch.manual_seed(0)
    model = VDIR(arch)
    trained = ("encoder.", "spectrum.", "est.")
    params = [p for n, p in model.named_parameters() if n.startswith(trained)]
    opt = torch.optim.Adam(params, lr=1e-3)
    rng = np.random.default_rng(0)
    held = [torch.from_numpy(a) for a in sample_batch(bank, "deblock", QUALITY, 64, 128, rng)]
    for step in range(1, steps + 1):
        _, y, t = (torch.from_numpy(a) for a in sample_batch(bank, "deblock", QUALITY, 64, 16, rng))
        loss = F.l1_loss(model.estimate(model.encode(y)[0]), F.avg_pool2d(t, 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            err = global_error(model, held[1], held[2])
            print(f"block_dct={arch.block_dct} step {step}: held-out error {err:.1f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", type=Path)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--every", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    arch = VDIRConfig.from_dict(json.loads(args.config.read_text())["arch"])
    bank, _ = split_bank(args.data, 8)
    for variant in (replace(arch, block_dct=False), replace(arch, block_dct=True)):
        probe(variant, bank, args.steps, args.every)


if __name__ == "__main__":
    main()
