"""WorkerPool: runs restoration jobs off the GUI thread, one GPU job at a time.

GPU jobs (device resolving to ``cuda``/``mps``) go to a dedicated single-thread queue
and hold the process-wide GPU gate (:mod:`app.workers.gpu_gate`) while they run, so they
never compete for GPU memory, not even with another pool's; CPU jobs run on a small
QThreadPool. Each job's service generator is driven tile by tile
(:func:`app.core.progress.drive`), so cancel takes effect between tiles. A
:class:`~app.workers.function_job.FunctionJob` runs a plain function under the same rules
(helpers, a whole batch).

Threads: every public method is for the thread the pool lives in (the GUI thread). The
worker side (:mod:`app.workers.execute`) only posts calls back through the pool's
:class:`~app.workers.relay.Relay`.

Every submitted job ends with exactly one of ``finished``, ``failed``, ``cancelled`` or
``stale``, all emitted on the pool's (GUI) thread. A job superseded by a newer one on its
channel always ends as ``stale`` (its result or error is dropped).
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal

from app.core.progress import Progress
from app.workers.execute import AnyJob, Events, Record, execute, is_gpu
from app.workers.function_job import FunctionJob
from app.workers.relay import Relay

DeviceResolver = Callable[[AnyJob], str]

__all__ = ["DeviceResolver", "WorkerPool", "default_resolve_device", "is_gpu"]


def default_resolve_device(job: AnyJob) -> str:
    """The device ``job`` will run on (called on the GUI thread by ``submit``).

    An explicit ``job.device`` wins; with ``"auto"``: a ready ``job.service``'s own
    ``device``; a classical (not learned) registry service -> ``"cpu"``; else the best
    device available (``app.ml.loading.pick_device``: CUDA, MPS, then CPU).
    """
    if job.device != "auto":
        return job.device
    if job.service is not None:
        return str(getattr(job.service, "device", "cpu"))
    if not _is_learned(job.task, job.method):
        return "cpu"
    return _auto_device()


@functools.cache
def _auto_device() -> str:
    try:
        from app.ml.loading import pick_device

        return pick_device("auto")[0]
    except Exception:  # no torch, a broken driver: the CPU always works
        return "cpu"


def _is_learned(task: str, method: str) -> bool:
    """Whether the registry says task/method is a learned model (True when unsure)."""
    try:
        from app.ml import registry

        for info in registry.list_services(task):
            info = getattr(info, "info", info)
            if getattr(info, "method", None) == method:
                return bool(getattr(info, "learned", True))
    except Exception:  # registry missing or another shape: assume the model may use a GPU
        return True
    return True


class WorkerPool(QObject):
    """Runs :class:`Job` s and :class:`FunctionJob` s on background threads and reports
    on the GUI thread.

    Signals (all on the thread the pool lives in):

    - ``started(job_id)``: the job began on a worker thread (a GPU job: it holds the GPU).
    - ``progress(job_id, payload)``: a Job's :class:`Progress`, one per tile (``done``,
      ``total``, ``stage``); a FunctionJob's ``ctx.report(payload)``, in order.
    - ``finished(job_id, value)``: success, with a Job's :class:`JobResult` or a
      FunctionJob's return value; never for a stale or cancelled job.
    - ``failed(job_id, message, details)``: an exception; ``message`` is one line for
      the user (``str(err)`` of a PatinaError), ``details`` the traceback text.
    - ``cancelled(job_id)``: stopped by :meth:`cancel` (between tiles).
    - ``stale(job_id)``: superseded by a newer job on its channel; result dropped.
    - ``busy_changed(bool)``: True when the first job is submitted, False when the last
      one has ended.

    ``resolve_device(job) -> str`` decides each job's device at submit (default:
    :func:`default_resolve_device`; tests inject ``lambda job: "cuda"``). Call
    :meth:`shutdown` before the pool goes away (e.g. in the window's closeEvent).
    """

    started = Signal(int)
    progress = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str, str)
    cancelled = Signal(int)
    stale = Signal(int)
    busy_changed = Signal(bool)

    _live: weakref.WeakSet[WorkerPool] = weakref.WeakSet()

    def __init__(
        self,
        parent: QObject | None = None,
        cpu_threads: int = 2,
        *,
        resolve_device: DeviceResolver | None = None,
    ) -> None:
        super().__init__(parent)
        self._cpu = QThreadPool(self)
        self._cpu.setMaxThreadCount(max(1, cpu_threads))
        self._gpu = QThreadPool(self)
        self._gpu.setMaxThreadCount(1)
        self._resolve = resolve_device or default_resolve_device
        self._records: dict[int, Record] = {}
        self._generations: dict[str, int] = {}
        self._closed = False
        self._relay = Relay()  # owned by Python: worker threads keep it alive while they post
        self._relay.moveToThread(self.thread())
        self._events = Events(self._on_started, self._on_progress, self._on_done)
        WorkerPool._live.add(self)

    @classmethod
    def live_pools(cls) -> list[WorkerPool]:
        """Every pool whose Qt object still exists (for test fixtures checking for leaks)."""
        return [pool for pool in cls._live if shiboken6.isValid(pool)]

    # -- public API ----------------------------------------------------------------
    def submit(self, job: AnyJob) -> int:
        """Queue ``job``; returns its id. Never blocks on the work itself.

        Copies the inputs (cropped to ``job.roi``), resolves the device, bumps the
        channel's generation (``job.generation``) and cancels the channel's older jobs
        (they end as ``stale``). Raises InvalidInputError for a bad roi, RuntimeError
        after :meth:`shutdown` or for a Job object submitted before.
        """
        if self._closed:
            raise RuntimeError("the worker pool has been shut down")
        if job.generation or job.id in self._records:
            raise RuntimeError("a Job can be submitted only once; make a new one")
        job.prepare()
        device = self._resolve(job)
        generation = self._generations.get(job.channel, 0) + 1
        self._generations[job.channel] = generation
        job.generation = generation
        self.cancel_channel(job.channel)
        record = Record(job, device)
        self._records[job.id] = record
        if len(self._records) == 1:
            self.busy_changed.emit(True)
        pool = self._gpu if is_gpu(device) else self._cpu
        pool.start(functools.partial(execute, record, self._relay, self._events))
        return job.id

    def cancel(self, job_id: int) -> None:
        """Ask job ``job_id`` to stop before its next tile (no-op if it has ended)."""
        record = self._records.get(job_id)
        if record is not None:
            _cancel(record)

    def cancel_channel(self, channel: str) -> None:
        """Cancel every running or queued job of ``channel``."""
        for record in list(self._records.values()):
            if record.job.channel == channel:
                _cancel(record)

    def cancel_all(self) -> None:
        """Cancel every running or queued job."""
        for record in list(self._records.values()):
            _cancel(record)

    def active_jobs(self) -> list[int]:
        """Ids of jobs submitted whose final signal has not been emitted yet."""
        return list(self._records)

    def job(self, job_id: int) -> AnyJob | None:
        """The active job with ``job_id``, or None once it has ended."""
        record = self._records.get(job_id)
        return None if record is None else record.job

    def thread_pools(self) -> tuple[QThreadPool, QThreadPool]:
        """The (CPU, GPU) QThreadPools, for leak checks in tests."""
        return self._cpu, self._gpu

    def is_busy(self) -> bool:
        """Whether any job is active."""
        return bool(self._records)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every job has ended or ``timeout_ms`` passed (-1: no limit).

        For shutdown and tests only (it blocks the calling thread). Final signals of
        jobs that ended are emitted before it returns. True when no job is active.
        """
        start = time.monotonic()
        done = self._cpu.waitForDone(timeout_ms)
        if timeout_ms >= 0:
            timeout_ms = max(0, timeout_ms - int((time.monotonic() - start) * 1000))
        done = self._gpu.waitForDone(timeout_ms) and done
        for job_id, record in list(self._records.items()):
            if record.done.is_set():
                self._on_done(job_id)
        return done and not self._records

    def wait_for(self, job_id: int, timeout_ms: int = 30_000) -> bool:
        """Block until job ``job_id`` has ended or ``timeout_ms`` passed (-1: no limit).

        For closing a dialog and tests only (it blocks the calling thread, which must be
        the pool's). Everything the job posted is delivered before this returns: its
        progress, then its final signal. True when the job is no longer active.
        """
        record = self._records.get(job_id)
        if record is None:
            return True
        if not record.done.wait(None if timeout_ms < 0 else timeout_ms / 1000):
            return False
        self._relay.flush()  # progress and the final signal, in the order posted
        self._on_done(job_id)  # no-op when flush delivered it
        return True

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Refuse new jobs, cancel all and wait for them (see :meth:`wait`)."""
        self._closed = True
        self.cancel_all()
        return self.wait(timeout_ms)

    # -- GUI-thread slots ----------------------------------------------------------
    def _is_stale(self, job: AnyJob) -> bool:
        return job.generation != self._generations.get(job.channel, 0)

    def _on_started(self, job_id: int) -> None:
        record = self._records.get(job_id)
        if record is not None and not self._is_stale(record.job):
            self.started.emit(job_id)

    def _on_progress(self, job_id: int, report: Progress | object) -> None:
        record = self._records.get(job_id)
        if record is not None and not record.cancel.is_set():
            self.progress.emit(job_id, report)

    def _on_done(self, job_id: int) -> None:
        record = self._records.pop(job_id, None)
        if record is None:
            return  # already delivered by wait()
        outcome = record.outcome
        if self._is_stale(record.job):
            self.stale.emit(job_id)
        elif outcome[0] == "finished":
            self.finished.emit(job_id, outcome[1])
        elif outcome[0] == "failed":
            self.failed.emit(job_id, outcome[1], outcome[2])
        else:
            self.cancelled.emit(job_id)
        if not self._records:
            self.busy_changed.emit(False)


def _cancel(record: Record) -> None:
    """Set the job's cancel flag; a FunctionJob's ``on_cancel`` runs the first time."""
    first = not record.cancel.is_set()
    record.cancel.set()
    hook = record.job.on_cancel if isinstance(record.job, FunctionJob) else None
    if first and hook is not None:
        hook()
