"""Measure the batch engine: files per minute (sequential vs overlapped) and peak memory.

    nice -n 10 python tools/bench/batch_bench.py speed  --count 200 --out /tmp/batch-speed
    nice -n 10 python tools/bench/batch_bench.py memory --count 2000 --out /tmp/batch-mem

``speed`` restores ``count`` images from ../shared/data/test (CBSD68, Kodak24, BSD100,
then McMaster/Set14; read in place, never copied) with the default denoise method, once
per engine setting, each into a fresh output folder. ``memory`` writes ``count`` tiny
synthetic images to /tmp and runs the pipeline in a child process, sampling its resident
memory (VmRSS) as files finish; the peak should not grow with ``count``.
Numbers go to docs/batch.md; they are never test assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.batch.inputs import resolve_source  # noqa: E402
from app.batch.recipe import Recipe  # noqa: E402
from app.batch.runner import BatchOptions, FileFinished, run_batch  # noqa: E402
from app.ml.services.base import Service  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "test"
SIMULATE = 0.0  # seconds per file of the simulated GPU model (--simulate-gpu)
SETS = ("CBSD68", "Kodak24", "BSD100", "McMaster", "Set14")


def factory(task: str, method: str | None, device: str) -> Service:
    """The registry's service when the registry exists, else the classical bilateral
    filter (the registry's default for denoise until a learned model ships)."""
    try:
        from app.ml import registry  # type: ignore[attr-defined,unused-ignore]

        return registry.create_service(task, method, device=device)  # type: ignore[no-any-return]
    except ImportError:
        from app.ml.classical_services import BilateralDenoiser

        return BilateralDenoiser()


class WaitingService(Service):
    """Stands in for a model on a GPU: waits ``seconds`` per file without using the CPU,
    returns the input (``--simulate-gpu``; not the default method)."""

    from app.ml.services.base import ServiceInfo as _Info

    info = _Info("denoise", "simulated-gpu", "Simulated GPU model")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.device = "cuda"  # one file at a time, like a real GPU

    def _run(self, image, mask, params, tile):  # type: ignore[no-untyped-def] # noqa: ANN001, ANN202
        from app.core.progress import Progress

        threading.Event().wait(self.seconds)
        yield Progress(1, 1, "simulated")
        return image.copy()


def test_images(count: int) -> list[Path]:
    found: list[Path] = []
    for name in SETS:
        found += sorted(p for p in (DATA / name).rglob("*") if p.suffix.lower() == ".png")
    if len(found) < count:
        raise SystemExit(f"only {len(found)} images under {DATA}")
    return found[:count]


def speed(args: argparse.Namespace) -> None:
    """Each setting restores all ``count`` images; with ``rounds`` > 1 the images are cut
    into that many chunks and the settings take turns chunk by chunk, so a change in the
    machine's load (it is shared) hits every setting alike."""
    images = test_images(args.count)
    megapixels = sum(_pixels(p) for p in images) / 1e6
    print(f"{len(images)} images, {megapixels:.1f} MP in all, from {DATA}")
    settings = _settings(args.settings)
    totals = {s: [0, 0.0, 0.0] for s in settings}  # files, seconds, cpu seconds
    chunks = [images[i :: args.rounds] for i in range(args.rounds)]
    for index, chunk in enumerate(chunks):
        listing = Path(args.out) / f"inputs-{index}.txt"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("".join(f"{p}\n" for p in chunk))
        for setting in settings:
            files, seconds, cpu = _timed_run(
                listing, Path(args.out) / f"{setting[0]}-{setting[1]}-{index}", *setting
            )
            totals[setting] = [a + b for a, b in zip(totals[setting], (files, seconds, cpu))]
            load = os.getloadavg()[0]
            print(f"round {index}: {setting} {files} files {seconds:.1f} s load {load:.1f}")
    for (engine, workers), (files, seconds, cpu) in totals.items():
        row = {"engine": engine, "workers": workers, "files": files, "seconds": round(seconds, 1),
               "files_per_min": round(60 * files / seconds, 1), "cpu_seconds": round(cpu, 1),
               "cores_used": round(cpu / seconds, 2)}  # fmt: skip
        print(json.dumps(row), flush=True)


def _timed_run(listing: Path, out: Path, engine: str, workers: int) -> tuple[int, float, float]:
    shutil.rmtree(out, ignore_errors=True)
    source = resolve_source(listing)
    cpu, start = _cpu_seconds(), time.perf_counter()
    made = factory if SIMULATE <= 0 else (lambda *a: WaitingService(SIMULATE))
    summary = run_batch(source, out, Recipe("denoise"), BatchOptions(workers, engine),
                        factory=made)  # fmt: skip
    return summary.restored, time.perf_counter() - start, _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _settings(text: str) -> list[tuple[str, int]]:
    pairs = []
    for item in text.split(","):
        engine, _, workers = item.partition(":")
        pairs.append((engine, int(workers or 1)))
    return pairs


def _pixels(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.width * image.height


def memory(args: argparse.Namespace) -> None:
    """Run the child for ``count`` tiny files and print its RSS samples."""
    folder = Path(args.out) / f"in-{args.count}"
    if not folder.exists():
        _tiny_images(folder, args.count)
    out = Path(args.out) / f"out-{args.count}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, __file__, "memory-child", str(folder), str(out)]
    subprocess.run(cmd, check=True)


def _tiny_images(folder: Path, count: int) -> None:
    import numpy as np

    from app.core import image_io

    rng = np.random.default_rng(0)
    for i in range(count):
        sub = folder / f"box{i // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        image_io.save(sub / f"scan{i:05d}.png", rng.random((64, 64, 3), dtype=np.float32))


def memory_child(args: argparse.Namespace) -> None:
    samples: list[tuple[int, float]] = []
    finished = [0]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(0.2):
            samples.append((finished[0], _rss_mib()))

    def on_event(event: object) -> None:
        if isinstance(event, FileFinished):
            finished[0] += 1

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    source = resolve_source(args.input, recursive=True)
    start = time.perf_counter()
    summary = run_batch(source, Path(args.output), Recipe("denoise"), BatchOptions(1, "local"),
                        factory=factory, on_event=on_event)  # fmt: skip
    stop.set()
    thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = summary.restored
    marks = {}
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        past = [rss for done, rss in samples if done <= share * total]
        marks[f"{int(share * 100)}%"] = round(max(past), 1) if past else None
    print(json.dumps({"files": total, "seconds": round(time.perf_counter() - start, 1),
                      "peak_rss_mib": round(peak, 1), "rss_mib_by_progress": marks}))  # fmt: skip


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--out", default="/tmp/batch-speed")
    p.add_argument("--settings", default="sequential:1,local:1,local:2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--simulate-gpu", type=float, default=0.0, metavar="S",
                   help="replace the method by a CPU-free wait of S seconds per file")  # fmt: skip
    p = sub.add_parser("memory")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--out", default="/tmp/batch-mem")
    p = sub.add_parser("memory-child")
    p.add_argument("input")
    p.add_argument("output")
    args = parser.parse_args()
    global SIMULATE
    SIMULATE = getattr(args, "simulate_gpu", 0.0)
    {"speed": speed, "memory": memory, "memory-child": memory_child}[args.cmd](args)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
