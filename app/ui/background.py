"""Run a plain function off the GUI thread and get its result back on it.

For quick one-off work that is not a restoration job (synthesising a degradation,
computing metrics on a big image, a latent sweep). The functions go through a
:class:`~app.workers.pool.WorkerPool` as :class:`~app.workers.function_job.FunctionJob` s,
one at a time and in the order given, so they obey the pool's rules: never on the GUI
thread, and a function run with a GPU ``device`` waits for the one GPU job at a time.

Threads: ``run``, ``pending``, ``wait`` and ``shutdown`` are for the GUI thread; ``fn`` runs
on a worker thread; ``on_done`` / ``on_error`` run on the GUI thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject

from app.workers.function_job import FunctionJob
from app.workers.pool import WorkerPool


@dataclass
class _Call:
    fn: Callable[[], Any]
    on_done: Callable[[Any], object]
    on_error: Callable[[str, str], object]
    device: str
    job_id: int | None = None


class Background(QObject):
    """A serial runner of functions on a worker pool; ``pending()``: something still runs.

    ``pool``: the window's pool, so helpers share its threads and GPU queue; without one
    the runner makes its own single-thread pool (the GPU gate still holds across pools).
    """

    def __init__(self, parent: QObject | None = None, *, pool: WorkerPool | None = None):
        super().__init__(parent)
        self._owns_pool = pool is None
        self._pool = pool if pool is not None else WorkerPool(self, cpu_threads=1)
        self._queue: deque[_Call] = deque()
        self._current: _Call | None = None
        self._closed = False
        self._pool.finished.connect(self._on_finished)
        self._pool.failed.connect(self._on_failed)
        self._pool.cancelled.connect(self._on_ended)
        self._pool.stale.connect(self._on_ended)

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], object],
        on_error: Callable[[str, str], object],
        *,
        device: str = "cpu",
    ) -> None:
        """Call ``fn()`` on a worker thread; then ``on_done(value)`` or ``on_error(msg, det)``.

        ``device``: where ``fn``'s model runs (``service.device``); a GPU device queues
        ``fn`` behind the one-GPU-job rule. Calls run one at a time, in order. Does nothing
        after :meth:`shutdown` (the window is closing).
        """
        if self._closed:
            return
        self._queue.append(_Call(fn, on_done, on_error, device))
        self._start_next()

    def pending(self) -> bool:
        """Whether a call is running or waiting its turn."""
        return self._current is not None or bool(self._queue)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the running call (and, unless closed, the queued ones) ended."""
        while (call := self._current) is not None and call.job_id is not None:
            if not self._pool.wait_for(call.job_id, timeout_ms):
                return False
            if self._current is call:  # its final signal went elsewhere: it has ended
                self._current = None
                self._start_next()
        return not self.pending()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Refuse new work, drop queued calls, wait for the running one; True: nothing runs.

        Callbacks are not called any more (the window is closing).
        """
        self._closed = True
        self._queue.clear()
        done = self.wait(timeout_ms)
        if self._owns_pool:
            done = self._pool.shutdown(timeout_ms) and done
        return done

    # -- GUI-thread slots ----------------------------------------------------------
    def _start_next(self) -> None:
        if self._current is not None or not self._queue:
            return
        call = self._queue.popleft()
        job = FunctionJob(lambda ctx: call.fn(), device=call.device)
        try:
            call.job_id = self._pool.submit(job)
        except RuntimeError:  # the shared pool has been shut down: the window is closing
            self._closed = True
            self._queue.clear()
            return
        self._current = call

    def _take(self, job_id: int) -> _Call | None:
        call = self._current
        if call is None or call.job_id != job_id:
            return None
        self._current = None
        return None if self._closed else call

    def _on_finished(self, job_id: int, value: Any) -> None:
        call = self._take(job_id)
        try:
            if call is not None:
                call.on_done(value)
        finally:
            self._start_next()

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        call = self._take(job_id)
        try:
            if call is not None:
                call.on_error(message, details)
        finally:
            self._start_next()

    def _on_ended(self, job_id: int) -> None:
        self._take(job_id)
        self._start_next()
