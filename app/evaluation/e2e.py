"""Whole-process time of ``patina restore`` next to the model's (``patina bench --e2e``).

The model time of ``patina bench`` leaves out what a person waits for besides: starting
Python and importing torch, reading the file, writing the result. Here a synthetic image
of the benchmarked size is written as an 8-bit PNG (with its hole mask for inpainting and
old-photo), and a fresh ``python -m app restore`` process is timed by the wall clock from
start to exit (docs/throughput.md).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.core import image_io
from app.core.errors import PatinaError
from app.evaluation.bench import bench_case
from app.ml.services.base import Service


def restore_command(
    src: Path, dst: Path, service: Service, mask: Path | None, device: str, tile: int
) -> list[str]:
    """The ``patina restore`` command line for ``service`` on ``src``."""
    info = service.info
    cmd = [sys.executable, "-m", "app", "restore", str(src), "-o", str(dst)]
    cmd += ["--task", info.task, "--method", info.method, "--device", device]
    cmd += ["--tile", str(tile), "--overwrite"]
    if mask is not None:
        cmd += ["--mask", str(mask)]
    return cmd


def e2e_seconds(service: Service, megapixels: float, device: str, tile: int) -> float:
    """Wall seconds of one ``patina restore`` process on a synthetic ``megapixels`` image
    (the files live in a temporary folder, removed afterwards). Raises PatinaError with
    the process's last line when it fails."""
    case = bench_case(service, megapixels)
    with tempfile.TemporaryDirectory(prefix="patina-e2e-") as folder:
        src, dst = Path(folder) / "in.png", Path(folder) / "out.png"
        image_io.save(src, case.degraded)
        mask = None
        if case.mask is not None:
            mask = image_io.save_mask(Path(folder) / "mask.png", case.mask)
        cmd = restore_command(src, dst, service, mask, device, tile)
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PatinaError(f"patina restore failed for {service.info.key}: {last}")
    return seconds
