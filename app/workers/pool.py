"""WorkerPool: runs restoration jobs off the GUI thread, one GPU job at a time.

GPU jobs (device resolving to ``cuda``/``mps``) go to a dedicated single-thread queue
so they never compete for GPU memory; CPU jobs run on a small QThreadPool. Each job's
service generator is driven tile by tile (:func:`app.core.progress.drive`), so cancel
takes effect between tiles.

Every submitted job ends with exactly one of ``finished``, ``failed``, ``cancelled`` or
``stale``, all emitted on the pool's (GUI) thread: worker threads only post queued
events to a small relay object living there, and the pool re-emits. A job superseded by
a newer one on its channel always ends as ``stale`` (its result or error is dropped).
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QThreadPool, Signal

from app.core.errors import Cancelled, InvalidInputError
from app.core.progress import Progress, drive
from app.ml.services.base import Service
from app.workers.jobs import Job, JobResult, describe_error, format_details

GPU_DEVICES = ("cuda", "mps")
DeviceResolver = Callable[[Job], str]


def is_gpu(device: str) -> bool:
    """Whether ``device`` (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``) is a GPU."""
    return device.split(":")[0] in GPU_DEVICES


def default_resolve_device(job: Job) -> str:
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


def _create_service(job: Job, device: str) -> Service:
    if job.service is not None:
        return job.service
    from app.ml import registry

    return registry.create_service(job.task, job.method, device=device)


class _Record:
    """Book-keeping of one submitted job (GUI thread) and its outcome (set by the worker)."""

    def __init__(self, job: Job, device: str) -> None:
        self.job = job
        self.device = device
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.outcome: tuple[Any, ...] = ("cancelled",)


class _Relay(QObject):
    """Lives on the GUI thread; worker threads emit its signals, which arrive queued."""

    started = Signal(int)
    progress = Signal(int, object)
    done = Signal(int)


class WorkerPool(QObject):
    """Runs :class:`Job` s on background threads and reports on the GUI thread.

    Signals (all on the thread the pool lives in):

    - ``started(job_id)``: the job began on a worker thread.
    - ``progress(job_id, Progress)``: one per tile (``done``, ``total``, ``stage``).
    - ``finished(job_id, JobResult)``: success; never for a stale or cancelled job.
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
        self._records: dict[int, _Record] = {}
        self._generations: dict[str, int] = {}
        self._closed = False
        self._relay = _Relay()
        self._relay.moveToThread(self.thread())
        queued = Qt.ConnectionType.QueuedConnection
        self._relay.started.connect(self._on_started, queued)
        self._relay.progress.connect(self._on_progress, queued)
        self._relay.done.connect(self._on_done, queued)
        WorkerPool._live.add(self)

    @classmethod
    def live_pools(cls) -> list[WorkerPool]:
        """Every pool whose Qt object still exists (for test fixtures checking for leaks)."""
        return [pool for pool in cls._live if shiboken6.isValid(pool)]

    # -- public API ----------------------------------------------------------------
    def submit(self, job: Job) -> int:
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
        record = _Record(job, device)
        self._records[job.id] = record
        if len(self._records) == 1:
            self.busy_changed.emit(True)
        pool = self._gpu if is_gpu(device) else self._cpu
        pool.start(functools.partial(_execute, record, self._relay))
        return job.id

    def cancel(self, job_id: int) -> None:
        """Ask job ``job_id`` to stop before its next tile (no-op if it has ended)."""
        record = self._records.get(job_id)
        if record is not None:
            record.cancel.set()

    def cancel_channel(self, channel: str) -> None:
        """Cancel every running or queued job of ``channel``."""
        for record in list(self._records.values()):
            if record.job.channel == channel:
                record.cancel.set()

    def cancel_all(self) -> None:
        """Cancel every running or queued job."""
        for record in list(self._records.values()):
            record.cancel.set()

    def active_jobs(self) -> list[int]:
        """Ids of jobs submitted whose final signal has not been emitted yet."""
        return list(self._records)

    def job(self, job_id: int) -> Job | None:
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

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Refuse new jobs, cancel all and wait for them (see :meth:`wait`)."""
        self._closed = True
        self.cancel_all()
        return self.wait(timeout_ms)

    # -- GUI-thread slots ----------------------------------------------------------
    def _is_stale(self, job: Job) -> bool:
        return job.generation != self._generations.get(job.channel, 0)

    def _on_started(self, job_id: int) -> None:
        record = self._records.get(job_id)
        if record is not None and not self._is_stale(record.job):
            self.started.emit(job_id)

    def _on_progress(self, job_id: int, report: Progress) -> None:
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


def _execute(record: _Record, relay: _Relay) -> None:
    """Worker-thread body: run the job, store its outcome, tell the GUI thread."""
    job = record.job
    try:
        relay.started.emit(job.id)
        record.outcome = _run(record, relay)
    except Cancelled:
        record.outcome = ("cancelled",)
    except BaseException as err:  # noqa: BLE001 - every failure must reach the window
        record.outcome = ("failed", describe_error(err), format_details(err))
    finally:
        record.done.set()
        relay.done.emit(job.id)


def _run(record: _Record, relay: _Relay) -> tuple[str, JobResult]:
    job = record.job
    start = time.perf_counter()
    if record.cancel.is_set():
        raise Cancelled()
    service = _create_service(job, record.device)
    tiles = 0

    def report(progress: Progress) -> None:
        nonlocal tiles
        tiles = progress.done
        relay.progress.emit(job.id, progress)

    work = service.run(job.image, mask=job.mask, params=job.params, tile=job.tile)
    pixels = drive(work, on_progress=report, should_cancel=record.cancel.is_set)
    if record.cancel.is_set():
        raise Cancelled()
    if pixels is None:
        raise InvalidInputError(f"{job.task}/{job.method} returned no image")
    layers = dict(getattr(service, "extra_layers", None) or {})
    extra = {"device": record.device, "tiles": tiles, "layers": layers}
    stages = list(getattr(service, "extra_stages", None) or [])
    return "finished", JobResult(job, pixels, time.perf_counter() - start, extra, stages)
