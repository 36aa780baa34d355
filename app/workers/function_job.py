"""FunctionJob: a plain function for the worker pool (not a restoration service).

Quick helpers (metrics, a synthetic degradation, a latent sweep) and long jobs with their
own progress (a whole batch) go through the same :class:`~app.workers.pool.WorkerPool` as
restorations, so they obey its rules: off the GUI thread, one GPU job at a time.

Threads:

- ``fn(ctx)`` runs on a worker thread. ``ctx.report(payload)`` may be called there as
  often as needed; each payload reaches the pool's ``progress(job_id, payload)`` signal on
  the GUI thread, in order. ``ctx.cancelled()`` turns True once the pool cancels the job.
- ``fn``'s return value reaches ``finished(job_id, value)``; an exception reaches
  ``failed(job_id, message, details)`` (:func:`~app.workers.jobs.describe_error`); a job
  cancelled by the pool ends as ``cancelled`` even when ``fn`` returns normally.
- ``on_cancel()``, when given, is called on the GUI thread the first time the pool cancels
  the job (``cancel``, ``cancel_channel``, ``cancel_all``, ``shutdown`` or a newer job on
  its channel): for work with its own stop switch, e.g. a batch's ``Control``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import Cancelled
from app.workers import jobs


def device_of(service: Any) -> str:
    """The device ``service`` runs its model on (``"cpu"`` when it does not say)."""
    return str(getattr(service, "device", None) or "cpu")


class JobContext:
    """What ``fn`` gets on the worker thread: progress out, cancel in."""

    def __init__(self, job_id: int, cancel: threading.Event, report: Callable[[Any], None]) -> None:
        self.job_id = job_id
        self._cancel = cancel
        self._report = report

    def report(self, payload: Any) -> None:
        """Send ``payload`` to the pool's ``progress(job_id, payload)`` (GUI thread)."""
        self._report(payload)

    def cancelled(self) -> bool:
        """Whether the pool has asked this job to stop."""
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`~app.core.errors.Cancelled` when the pool asked the job to stop."""
        if self.cancelled():
            raise Cancelled()


@dataclass(eq=False)
class FunctionJob:
    """One call of ``fn(ctx)`` on a worker thread.

    Fields:
        fn: the work; gets a :class:`JobContext`, returns the result (any object).
        device: ``"cpu"`` (default), ``"cuda"``, ``"mps"`` or ``"auto"``: where the work
            runs. A GPU device puts the job in the pool's GPU queue, behind the GPU gate.
            With ``"auto"`` the pool decides from ``service`` or ``task``/``method`` (as for
            a :class:`~app.workers.jobs.Job`).
        task, method, service: what the function runs, for ``"auto"`` (optional).
        channel: jobs on one channel supersede each other (see ``Job.channel``); empty: a
            channel of its own, so the job is never superseded.
        on_cancel: called on the GUI thread when the pool cancels the job (see module).
        id: unique, assigned on creation. generation: set by ``submit``.
    """

    fn: Callable[[JobContext], Any]
    device: str = "cpu"
    task: str = ""
    method: str = ""
    service: Any = None
    channel: str = ""
    kind: str = "render"
    on_cancel: Callable[[], None] | None = None
    id: int = field(default_factory=lambda: next(jobs._ids))  # one id space with Job
    generation: int = 0

    def prepare(self) -> None:
        """Give the job its own channel when it has none (``submit``, GUI thread)."""
        if not self.channel:
            self.channel = f"function-{self.id}"
