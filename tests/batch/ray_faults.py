"""Services for the Ray fault tests: workers that kill their own process (as the kernel's
out-of-memory killer or a crashing library would), and a Ray batch run in a child process.

The factories are picklable dataclasses (Ray sends them to its workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.progress import Work
from app.ml.services.base import Service
from tests.batch.fakes import BoxService

ROOT = Path(__file__).resolve().parents[2]
POISON_SIZE = (40, 56)  # an image of this size kills the worker restoring it, every time


class DyingBoxService(BoxService):
    """BoxService whose process SIGKILLs itself on the ``kill_at``-th restoration of the
    batch (counted over all workers with marker files in ``marks``: so once) and on every
    image of POISON_SIZE."""

    def __init__(self, marks: Path, kill_at: int) -> None:
        super().__init__()
        self.marks = marks
        self.kill_at = kill_at

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        number = self._count()
        if image.shape[:2] == POISON_SIZE or number == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return (yield from super()._run(image, mask, params, tile))

    def _count(self) -> int:
        """The number of this restoration in the batch (1, 2, ...), over all processes."""
        n = 1
        while True:
            try:
                os.close(os.open(self.marks / f"{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return n
            except FileExistsError:
                n += 1


@dataclass(frozen=True)
class DyingFactory:
    marks: str
    kill_at: int

    def __call__(self, task: str, method: str | None, device: str) -> Service:
        return DyingBoxService(Path(self.marks), self.kill_at)


@dataclass(frozen=True)
class SlowFactory:
    seconds: float

    def __call__(self, task: str, method: str | None, device: str) -> Service:
        from tests.batch.fake_patina import SlowBoxService

        return SlowBoxService(self.seconds)


RAY_CHILD = """
import json, pickle, sys
from pathlib import Path
from app.batch.inputs import resolve_source
from app.batch.recipe import Recipe
from app.batch.runner import BatchOptions, run_batch
source = resolve_source(Path(sys.argv[1]), recursive=True)
factory = pickle.loads(bytes.fromhex(sys.argv[3]))
summary = run_batch(source, Path(sys.argv[2]), Recipe("denoise", tile=64),
                    BatchOptions(engine="ray", workers=2), factory=factory)
print(json.dumps([summary.restored, summary.failed]))
"""


def start_ray_batch(source: Path, out: Path, factory: Any) -> subprocess.Popen[str]:
    """A Ray-engine batch (local Ray, 2 CPUs) in a child process of its own session, so
    that a test can kill it with all the Ray processes it started (:func:`kill_group`)."""
    import pickle

    return subprocess.Popen(
        [sys.executable, "-c", RAY_CHILD, str(source), str(out), pickle.dumps(factory).hex()],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish_ray_batch(proc: subprocess.Popen[str]) -> tuple[int, int]:
    """(restored, failed) of a child started by :func:`start_ray_batch`."""
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        kill_group(proc)
    assert proc.returncode == 0, err[-3000:]
    restored, failed = json.loads(out.strip().splitlines()[-1])
    return restored, failed


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the child's process group (the child and what it started; idempotent)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
