"""Where a VDIR restorer spends its CPU time: each stage of one 512x512 tile, in ms/MP.

python tools/bench/profile_restorer.py [models/vdir-denoise.safetensors] [--threads 2]

Runs each stage of :class:`app.ml.archs.vdir.Restorer` alone on the channels-last
tensors the service feeds it (best of 5), scaled to a megapixel. Stages a model does not
have (a preview restorer's full-size blocks) show as ~0. Numbers depend on what else
the machine is doing: run it idle.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from app.ml.archs.vdir import build  # noqa: E402
from app.ml.loading import load_arch_model  # noqa: E402

TILE = 512


def best_ms_per_mp(run: Callable[[], object], repeats: int = 5) -> float:
    """Best wall time of ``run`` over ``repeats`` (after one warm-up), per megapixel."""
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000 * 1e6 / TILE**2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("weights", nargs="?", default=str(ROOT / "models" / "vdir-denoise.safetensors"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cl = torch.channels_last
    r = load_arch_model(Path(args.weights), build).eval().to(memory_format=cl).restorer
    y = torch.rand(1, 3, TILE, TILE).contiguous(memory_format=cl)
    c = torch.rand(1, 4, TILE // 4, TILE // 4).contiguous(memory_format=cl)
    with torch.inference_mode():
        x0 = r.intro(y)
        s0 = r.enc0(r._modulate(0, x0, c))
        d1 = r.down0(s0)
        s1 = r.enc1(r._modulate(1, d1, c))
        h = r.fuse(torch.cat([r.down1(s1), c], 1))
        u1 = r.up1(r.mid(r._modulate(2, h, c)))
        h3 = r.dec1(r._modulate(3, u1 + s1, c))
        u0 = r.up0(h3)
        stages: dict[str, Callable[[], object]] = {
            "whole restorer": lambda: r(y, c),
            "full size: intro conv": lambda: r.intro(y),
            "full size: SFT (encoder side)": lambda: r._modulate(0, x0, c),
            "full size: NAF blocks (encoder side)": lambda: r.enc0(x0),
            "full size: up (1/2 -> 1)": lambda: r.up0(h3),
            "full size: skip add + SFT (decoder side)": lambda: r._modulate(4, u0 + s0, c),
            "full size: NAF blocks (decoder side)": lambda: r.dec0(u0),
            "full size: ending conv": lambda: r.ending(u0),
            "1/2: NAF blocks (encoder side)": lambda: r.enc1(d1),
            "1/2: NAF blocks (decoder side)": lambda: r.dec1(u1 + s1),
            "1/4: middle NAF blocks + SFT": lambda: r.mid(r._modulate(2, h, c)),
        }
        for name, run in stages.items():
            print(f"{name:42s} {best_ms_per_mp(run):8.0f} ms/MP", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
