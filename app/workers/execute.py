"""The worker-thread side of the pool: run one job and post what happened.

Everything here runs on a pool thread, never on the GUI thread. The only way back is
``relay.post`` (:class:`~app.workers.relay.Relay`): ``events.started(id)`` once the job
really begins (a GPU job: once it holds the GPU gate), ``events.progress(id, payload)``
per tile or report, and always, last, ``events.done(id)`` after ``record.outcome`` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

from app.core.errors import Cancelled, InvalidInputError
from app.core.progress import Progress, drive
from app.ml.services.base import Service
from app.workers.function_job import FunctionJob, JobContext
from app.workers.gpu_gate import GPU_GATE
from app.workers.jobs import Job, JobResult, describe_error, format_details
from app.workers.relay import Relay

GPU_DEVICES = ("cuda", "mps")
AnyJob = Job | FunctionJob


def is_gpu(device: str) -> bool:
    """Whether ``device`` (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``) is a GPU."""
    return device.split(":")[0] in GPU_DEVICES


class Record:
    """Book-keeping of one submitted job (GUI thread) and its outcome (set by the worker).

    ``outcome``: ``("finished", value)``, ``("failed", message, details)`` or
    ``("cancelled",)``; read on the GUI thread only after ``done`` is set.
    """

    def __init__(self, job: AnyJob, device: str) -> None:
        self.job = job
        self.device = device
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.outcome: tuple[Any, ...] = ("cancelled",)


class Events(NamedTuple):
    """GUI-thread callbacks the worker posts to (the pool's slots)."""

    started: Callable[[int], None]
    progress: Callable[[int, Any], None]
    done: Callable[[int], None]


def execute(record: Record, relay: Relay, events: Events) -> None:
    """Worker-thread body: run the job, store its outcome, tell the GUI thread."""
    job_id = record.job.id

    def report(payload: Any) -> None:
        relay.post(events.progress, job_id, payload)

    try:
        with _device_slot(record) as held:
            if not held:  # cancelled while it waited for the GPU
                raise Cancelled()
            relay.post(events.started, job_id)
            if record.cancel.is_set():
                raise Cancelled()
            record.outcome = _run(record, report)
    except Cancelled:
        record.outcome = ("cancelled",)
    except BaseException as err:  # noqa: BLE001 - every failure must reach the window
        record.outcome = ("failed", describe_error(err), format_details(err))
    finally:
        record.done.set()
        relay.post(events.done, job_id)


def _device_slot(record: Record) -> AbstractContextManager[bool]:
    """Hold the GPU gate for a GPU job (False: cancelled while waiting); CPU: no gate."""
    if is_gpu(record.device):
        return GPU_GATE.hold(record.cancel.is_set)
    return nullcontext(True)


def _run(record: Record, report: Callable[[Any], None]) -> tuple[str, Any]:
    if isinstance(record.job, FunctionJob):
        return _run_function(record, record.job, report)
    return _run_service(record, record.job, report)


def _run_function(
    record: Record, job: FunctionJob, report: Callable[[Any], None]
) -> tuple[str, Any]:
    value = job.fn(JobContext(job.id, record.cancel, report))
    if record.cancel.is_set():
        raise Cancelled()
    return "finished", value


def _run_service(record: Record, job: Job, report: Callable[[Any], None]) -> tuple[str, Any]:
    start = time.perf_counter()
    service = _create_service(job, record.device)
    tiles = 0

    def on_tile(progress: Progress) -> None:
        nonlocal tiles
        tiles = progress.done
        report(progress)

    work = service.run(job.image, mask=job.mask, params=job.params, tile=job.tile)
    pixels = drive(work, on_progress=on_tile, should_cancel=record.cancel.is_set)
    if record.cancel.is_set():
        raise Cancelled()
    if pixels is None:
        raise InvalidInputError(f"{job.task}/{job.method} returned no image")
    layers = dict(getattr(service, "extra_layers", None) or {})
    note = str(getattr(service, "run_note", "") or "")  # e.g. the blur an upscaler estimated
    extra = {"device": record.device, "tiles": tiles, "layers": layers, "note": note}
    stages = list(getattr(service, "extra_stages", None) or [])
    return "finished", JobResult(job, pixels, time.perf_counter() - start, extra, stages)


def _create_service(job: Job, device: str) -> Service:
    if job.service is not None:
        return job.service
    from app.ml import registry

    return registry.create_service(job.task, job.method, device=device)
