"""`python -m tests.batch.fake_patina ARGS`: the real `patina` CLI with a fake service.

The batch command's default service factory is replaced by :class:`SlowBoxService`
(a tiled box blur that waits ``PATINA_FAKE_TILE_SECONDS`` per tile, default 0), so
subprocess tests (SIGKILL, Ctrl-C) run the real command line without torch or models.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import numpy as np

from app import cli
from app.batch import runner
from app.core.progress import Work
from app.ml.services.base import Service
from tests.batch.fakes import BoxService


class SlowBoxService(BoxService):
    """BoxService that takes ``seconds`` per tile (simulates a model)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        pause = threading.Event()
        work = super()._run(image, mask, params, tile)
        try:
            while True:
                report = next(work)
                pause.wait(self.seconds)
                yield report
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def slow_factory(task: str, method: str | None, device: str) -> Service:
    return SlowBoxService(float(os.environ.get("PATINA_FAKE_TILE_SECONDS", "0")))


def main() -> int:
    runner.default_factory = slow_factory  # type: ignore[assignment]
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
