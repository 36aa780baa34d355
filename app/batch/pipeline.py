"""Local executors: the overlapped read -> restore -> write pipeline, and a sequential one.

:class:`PipelineExecutor` runs reader, restorer and writer threads joined by bounded
queues, so decoding the next file and encoding the previous one overlap the restoration
of the current one. Memory stays flat however many files there are: at most
:attr:`Executor.capacity` files are in the pipeline at once (the coordinator never
submits more), and the queues between stages hold one item per consumer.

GPU work runs one file at a time (a single restorer thread); on the CPU ``workers``
restorer threads share the service (OpenCV, NumPy and torch release the GIL).

:class:`Control` pauses, resumes and stops a batch from any thread: a soft stop lets the
files being restored or written finish and returns the others to ``pending``; a hard
stop also interrupts restorations between two tiles.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from typing import Any

from app.batch.journal import Outcome
from app.batch.recipe import Recipe
from app.batch.stages import (
    FileJob,
    Loaded,
    Restored,
    process_file,
    read_stage,
    restore_stage,
    write_stage,
)
from app.ml.services.base import Service

_log = logging.getLogger(__name__)
_STOP = None  # queue sentinel


class Control:
    """Pause / resume / stop a running batch; thread-safe.

    ``checkpoint()`` is what restorers poll between tiles: it blocks while paused and
    returns True after a hard stop. ``parked`` counts the threads blocked there (tests
    and the window use it to know a pause has taken hold).
    """

    def __init__(self) -> None:
        self._go = threading.Event()
        self._go.set()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._parked = 0

    def pause(self) -> None:
        """Stop taking new files and hold restorations at their next tile."""
        if not self._stop.is_set():
            self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def stop(self, now: bool = False) -> None:
        """Soft stop (files in flight finish); ``now``: also interrupt them between tiles."""
        self._stop.set()
        if now:
            self._abort.set()
        self._go.set()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    @property
    def parked(self) -> int:
        """Threads currently held by a pause."""
        with self._lock:
            return self._parked

    def checkpoint(self) -> bool:
        """Block while paused; True when the work must stop now (hard stop)."""
        if not self._go.is_set():
            with self._lock:
                self._parked += 1
            try:
                self._go.wait()
            finally:
                with self._lock:
                    self._parked -= 1
        return self._abort.is_set()

    def wait_resumed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a resume; True if not paused."""
        return self._go.wait(timeout)


class Executor(ABC):
    """Runs FileJobs; the coordinator submits at most ``capacity`` before polling."""

    capacity: int = 1

    @abstractmethod
    def submit(self, job: FileJob) -> None:
        """Start work on ``job`` (never blocks when fewer than ``capacity`` are in flight)."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Outcome]:
        """Outcomes finished since the last call; waits up to ``timeout`` for the first."""

    @abstractmethod
    def close(self) -> None:
        """Release threads or cluster resources (all submitted jobs have come back)."""


class SequentialExecutor(Executor):
    """Read, restore and write one file at a time on the caller's thread (for comparison)."""

    capacity = 1

    def __init__(self, service: Service, recipe: Recipe, control: Control) -> None:
        self.service = service
        self.recipe = recipe
        self.control = control
        self._jobs: list[FileJob] = []

    def submit(self, job: FileJob) -> None:
        self._jobs.append(job)

    def poll(self, timeout: float) -> list[Outcome]:
        if not self._jobs:
            return []
        job = self._jobs.pop(0)
        return [process_file(self.service, job, self.recipe, self.control.checkpoint)]

    def close(self) -> None:
        self._jobs.clear()


class PipelineExecutor(Executor):
    """Reader, restorer and writer threads overlapping I/O with restoration."""

    def __init__(
        self,
        service: Service,
        recipe: Recipe,
        control: Control,
        *,
        restorers: int = 1,
        readers: int = 1,
        writers: int = 1,
    ) -> None:
        self.service = service
        self.recipe = recipe
        self.control = control
        self._read_q: queue.Queue[FileJob | None] = queue.Queue()
        self._restore_q: queue.Queue[Loaded | None] = queue.Queue(maxsize=restorers)
        self._write_q: queue.Queue[Restored | None] = queue.Queue(maxsize=writers)
        self._out_q: queue.Queue[Outcome] = queue.Queue()
        # in flight at most: one waiting + one per reader, queue slot and worker of each stage
        self.capacity = 1 + readers + 2 * restorers + 2 * writers
        self._stages = [
            self._start(readers, self._read_loop, "read"),
            self._start(restorers, self._restore_loop, "restore"),
            self._start(writers, self._write_loop, "write"),
        ]

    def _start(self, count: int, loop: Any, name: str) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=loop, name=f"batch-{name}-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in threads:
            thread.start()
        return threads

    def submit(self, job: FileJob) -> None:
        self._read_q.put(job)

    def poll(self, timeout: float) -> list[Outcome]:
        try:
            found = [self._out_q.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self._out_q.get_nowait())
            except queue.Empty:
                return found

    def close(self) -> None:
        """Stop the stages in order (each after the one feeding it has ended)."""
        queues: list[queue.Queue[Any]] = [self._read_q, self._restore_q, self._write_q]
        for stage_queue, threads in zip(queues, self._stages):
            for _ in threads:
                stage_queue.put(_STOP)
            for thread in threads:
                thread.join()

    # ------------------------------------------------------------------ stage loops

    def _read_loop(self) -> None:
        while (job := self._read_q.get()) is not _STOP:
            if self.control.stopping:
                self._out_q.put(Outcome(job.id, "cancelled"))
                continue
            item = self._guard(job.id, read_stage, job)
            if isinstance(item, Outcome):
                self._out_q.put(item)
            else:
                self._restore_q.put(item)

    def _restore_loop(self) -> None:
        while (item := self._restore_q.get()) is not _STOP:
            if self.control.stopping:  # read but not started: back to pending
                self._out_q.put(Outcome(item.job.id, "cancelled"))
                continue
            args = (self.service, item, self.recipe, self.control.checkpoint)
            done = self._guard(item.job.id, restore_stage, *args)
            del item  # do not keep the decoded input while waiting on the writer
            if isinstance(done, Outcome):
                self._out_q.put(done)
            else:
                self._write_q.put(done)

    def _write_loop(self) -> None:
        while (item := self._write_q.get()) is not _STOP:
            outcome = self._guard(item.job.id, write_stage, item, self.recipe)
            del item
            self._out_q.put(outcome)

    def _guard(self, job_id: int, stage: Any, *args: Any) -> Any:
        """Run a stage; a bug in it fails this file instead of killing the thread."""
        try:
            return stage(*args)
        except Exception as err:  # noqa: BLE001
            _log.exception("batch stage %s failed", getattr(stage, "__name__", stage))
            return Outcome(job_id, "failed", error=f"internal error: {type(err).__name__}: {err}")
