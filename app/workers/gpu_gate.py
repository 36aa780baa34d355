"""The GPU gate: one GPU job at a time in the whole process.

Each :class:`~app.workers.pool.WorkerPool` runs its GPU jobs on a single thread, which keeps
them from competing for GPU memory inside that pool. The gate extends the rule across
pools (the window's, a batch dialog's, a research view's): a GPU job holds
:data:`GPU_GATE` from its start to its end, on its worker thread. A job waiting for the
gate stays cancellable: it gives up as soon as its cancel flag is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_S = 0.05  # how often a waiting job looks at its cancel flag


class GpuGate:
    """A lock that worker threads take for a GPU job; never taken on the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, should_cancel: Callable[[], bool]) -> bool:
        """Wait for the GPU; False (not holding it) once ``should_cancel()`` is True."""
        while not self._lock.acquire(timeout=POLL_S):
            if should_cancel():
                return False
        return True

    def release(self) -> None:
        self._lock.release()

    @contextmanager
    def hold(self, should_cancel: Callable[[], bool]) -> Iterator[bool]:
        """``with gate.hold(flag) as held:`` — ``held`` False: cancelled while waiting."""
        held = self.acquire(should_cancel)
        try:
            yield held
        finally:
            if held:
                self.release()

    def busy(self) -> bool:
        """Whether a GPU job holds the gate now (a snapshot, for tests and status)."""
        return self._lock.locked()


GPU_GATE = GpuGate()
