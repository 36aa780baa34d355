"""Time a VDIR service's self-ensemble on a synthetic image (docs/models.md, Speed).

python tools/bench/bench_ensemble.py --task denoise --mp 1 --views 1 2 4 8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from app.core.progress import drive  # noqa: E402
from app.ml import registry  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--mp", type=float, default=1.0, help="image size in megapixels")
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    side = int(round((args.mp * 1e6) ** 0.5))
    image = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    service = registry.create_service(args.task, "vdir", device="auto")
    drive(service.run(image[:256, :256]))  # load the model outside the timing
    for views in args.views:
        start = time.perf_counter()
        drive(service.run(image, params={"ensemble": str(views)}))
        seconds = time.perf_counter() - start
        print(f"{args.task} ensemble {views}: {seconds:.2f} s for {side * side / 1e6:.2f} MP "
              f"({seconds / (side * side / 1e6) * 1000:.0f} ms/MP, {service.device})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
