"""Worker tests: fail any test that leaves a job or a worker thread running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QThreadPool

from app.workers.pool import WorkerPool


@pytest.fixture(autouse=True)
def no_worker_left_running(qapp: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After each test every WorkerPool it made must be idle; stray work is stopped, then
    reported as a failure. Pools are held until then, so dropping one does not hide it."""
    created: list[WorkerPool] = []
    original_init = WorkerPool.__init__

    def tracking_init(self: WorkerPool, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(WorkerPool, "__init__", tracking_init)
    yield
    leftovers: list[int] = []
    pools = {id(p): p for p in created + WorkerPool.live_pools() if shiboken6.isValid(p)}
    for pool in pools.values():
        leftovers += pool.active_jobs()
        pool.shutdown(10_000)  # stop and join stray jobs so the next test starts clean
        for threads in pool.thread_pools():
            assert threads.waitForDone(10_000)
            assert threads.activeThreadCount() == 0
    global_pool = QThreadPool.globalInstance()
    assert global_pool.waitForDone(10_000) and global_pool.activeThreadCount() == 0
    assert not leftovers, f"the test left jobs {leftovers} running"
