"""The batch coordinator: journal in, executor in the middle, events out.

:func:`run_batch` opens (or continues) the journal in the output folder, registers the
inputs, then feeds pending files to an executor (local pipeline, sequential, or Ray),
recording every outcome in the journal as it arrives. It is Qt-free and blocking: the
command line calls it on the main thread, the window on a worker thread. Progress and
per-file results go to ``on_event`` (called on the coordinator's thread).

Only the coordinator writes the journal. A file is marked ``running`` before it is
submitted and ``done`` only after its output has been written (atomically), so a kill
at any instant loses at most the files in flight. A soft stop (:meth:`Control.stop`)
lets the files being restored finish; a hard stop interrupts them between tiles. Either
way the others stay ``pending`` for the next run.
"""

from __future__ import annotations

import glob
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.batch.inputs import Source
from app.batch.journal import JOURNAL_NAME, Journal, Outcome, Registered, Row
from app.batch.journal_fs import MODES as JOURNAL_MODES
from app.batch.pipeline import Control, Executor, PipelineExecutor, SequentialExecutor
from app.batch.recipe import Recipe
from app.batch.stages import FileJob
from app.core.errors import InvalidInputError
from app.ml.services.base import Service, typed_params

ENGINES = ("local", "sequential", "ray")
GPU_DEVICES = ("cuda", "mps")
PROGRESS_EVERY = 0.5  # seconds between progress events when no file finishes
ServiceFactory = Callable[[str, "str | None", str], Service]
"""``factory(task, method, device) -> Service``; default: the model registry."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    """How to run (not what to do, which is the Recipe).

    ``workers``: restorations in parallel on the CPU (GPU: always one). ``engine``:
    ``local`` (overlapped pipeline), ``sequential`` or ``ray``. ``overwrite``: replace
    outputs this batch did not write. ``retry_failed``: try failed files again.
    ``journal_mode``: ``auto`` (SQLite WAL on a local disk, a rollback journal on a
    network file system), ``wal`` or ``delete`` (see :mod:`app.batch.journal_fs`).
    """

    workers: int = 1
    engine: str = "local"
    overwrite: bool = False
    retry_failed: bool = False
    ray_address: str | None = None
    journal_mode: str = "auto"


@dataclass
class BatchStarted:
    """Inputs registered: ``todo`` files to process of ``total`` in the batch."""

    todo: int
    total: int
    counts: dict[str, int]
    recipe: Recipe
    journal: Path
    device: str


@dataclass
class FileFinished:
    """One file finished in this run (``outcome.status``: done, failed or skipped)."""

    rel: str
    outcome: Outcome
    output: Path


@dataclass
class BatchProgress:
    """``finished`` of ``todo`` files of this run; ``eta`` seconds (None until known)."""

    finished: int
    todo: int
    restored: int
    failed: int
    skipped: int
    in_flight: int
    elapsed: float
    eta: float | None
    paused: bool


@dataclass
class Summary:
    """What a run did, plus the journal's counts over the whole batch."""

    out_dir: Path
    journal: Path
    todo: int = 0
    restored: int = 0
    reused: int = 0
    failed: int = 0
    skipped: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    recipe: Recipe | None = None
    device: str = "cpu"

    @property
    def finished(self) -> int:
        return self.restored + self.reused + self.failed + self.skipped


Event = BatchStarted | FileFinished | BatchProgress | Summary


def default_factory(task: str, method: str | None, device: str) -> Service:
    """The registry's service (imported lazily: it loads torch)."""
    from app.ml import registry  # type: ignore[attr-defined,unused-ignore]

    return registry.create_service(task, method, device=device)


def is_gpu(device: str) -> bool:
    return device.split(":")[0] in GPU_DEVICES


def journal_path(out_dir: Path) -> Path:
    return Path(out_dir) / JOURNAL_NAME


def run_batch(
    source: Source,
    out_dir: Path,
    recipe: Recipe,
    options: BatchOptions | None = None,
    *,
    factory: ServiceFactory | None = None,
    control: Control | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Summary:
    """Run (or continue) the batch of ``source`` into ``out_dir`` with ``recipe``.

    Raises InvalidInputError before any work for a bad output folder, an unknown method
    or parameter, or a journal of another batch. Per-file problems never raise: they are
    recorded as failed and the batch goes on.
    """
    options = options or BatchOptions()
    if options.engine not in ENGINES:
        raise InvalidInputError(f"engine must be one of {', '.join(ENGINES)}")
    if options.journal_mode not in JOURNAL_MODES:
        raise InvalidInputError(f"journal mode must be one of {', '.join(JOURNAL_MODES)}")
    out_dir = prepare_output(source, Path(out_dir))
    source = replace(source, exclude=(*source.exclude, out_dir))
    factory = factory or default_factory
    service = factory(recipe.task, recipe.method, recipe.device)
    recipe = resolve_recipe(recipe, service)
    coordinator = _Coordinator(out_dir, recipe, options, service, factory, control, on_event)
    return coordinator.run(source)


def prepare_output(source: Source, out_dir: Path) -> Path:
    """Create ``out_dir``; refuse the input folder itself (outputs never go beside inputs)."""
    resolved = out_dir.resolve()
    if resolved == source.root.resolve():
        raise InvalidInputError(
            f"the output folder {out_dir} is the input folder; choose another folder "
            "(originals are never written to)"
        )
    if resolved.exists() and not resolved.is_dir():
        raise InvalidInputError(f"{out_dir} is a file, not a folder")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInputError(f"cannot create {out_dir}: {err.strerror or err}") from err
    return resolved


def resolve_recipe(recipe: Recipe, service: Service) -> Recipe:
    """``recipe`` with the method the registry chose and every parameter's value filled in.

    Raises InvalidInputError for a parameter the method does not have or a bad value.
    """
    params = service.resolve_params(_typed(service, recipe.params))
    return replace(recipe, method=service.info.method, params=params)


def typed_recipe(recipe: Recipe, factory: ServiceFactory | None = None) -> Recipe:
    """``recipe`` with each parameter typed by its service's ParamSpec (command-line text
    such as ``ensemble=1`` or ``seed=3``; see :func:`app.ml.services.base.typed_params`).

    Raises InvalidInputError for a parameter the method does not have or a bad value.
    """
    service = (factory or default_factory)(recipe.task, recipe.method, recipe.device)
    return replace(recipe, params=_typed(service, recipe.params))


def _typed(service: Service, params: dict[str, Any]) -> dict[str, Any]:
    # ``scale`` is allowed for every method (a recipe may carry the window's upscale factor)
    return typed_params(service.info, params, implied={"scale": params.get("scale")})


class _Coordinator:
    """One run: register the inputs, feed the executor, record outcomes, report."""

    def __init__(
        self,
        out_dir: Path,
        recipe: Recipe,
        options: BatchOptions,
        service: Service,
        factory: ServiceFactory | None,
        control: Control | None,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.out_dir = out_dir
        self.recipe = recipe
        self.options = options
        self.service = service
        self.factory = factory
        self.control = control or Control()
        self.emit = on_event or (lambda event: None)
        self.device = str(getattr(service, "device", "cpu"))
        self.summary = Summary(out_dir, journal_path(out_dir), recipe=recipe, device=self.device)
        self.in_flight: dict[int, Row] = {}
        self.queue: deque[Row] = deque()
        self.exhausted = False

    def run(self, source: Source) -> Summary:
        path = journal_path(self.out_dir)
        with Journal.open(path, mode=self.options.journal_mode) as journal:
            self.journal = journal
            journal.bind(self.recipe, source.root)
            workers = self.options.workers
            run_id = journal.begin_run(self.options.engine, workers, self.device)
            registered = journal.register(
                source.files(), self.recipe, run_id,
                retry_failed=self.options.retry_failed, output_root=self.out_dir,
            )  # fmt: skip
            self._started(registered)
            try:
                self._loop(run_id)
            finally:
                self.summary.counts = counts = journal.counts()
                self.summary.interrupted = counts["pending"] + counts["running"] > 0
                outcome = "interrupted" if self.summary.interrupted else "finished"
                journal.end_run(run_id, outcome, self.summary.restored, self.summary.failed)
        self.emit(self.summary)
        return self.summary

    def _started(self, registered: Registered) -> None:
        self.summary.todo = registered.todo
        total = sum(registered.counts.values())
        self.emit(
            BatchStarted(
                registered.todo, total, registered.counts, self.recipe,
                self.summary.journal, self.device,
            )
        )  # fmt: skip

    # ------------------------------------------------------------------- the loop

    def _loop(self, run_id: int) -> None:
        if self.summary.todo == 0:
            return
        executor = self._executor()
        self.start = last = time.perf_counter()
        try:
            while True:
                if not self.control.stopping and not self.control.paused:
                    self._feed(executor, run_id)
                if not self.in_flight and (self.exhausted or self.control.stopping):
                    break
                outcomes = executor.poll(0.1)
                for outcome in outcomes:
                    self._record(outcome)
                if outcomes or time.perf_counter() - last > PROGRESS_EVERY:
                    self._progress()
                    self.journal.heartbeat(run_id)
                    last = time.perf_counter()
        finally:
            executor.close()
            self.summary.elapsed = time.perf_counter() - self.start
        self._progress()

    def _executor(self) -> Executor:
        engine, workers = self.options.engine, max(1, self.options.workers)
        if engine == "sequential":
            return SequentialExecutor(self.service, self.recipe, self.control)
        if engine == "ray":
            from app.batch.engine_ray import RayExecutor

            return RayExecutor(  # GPUs: decided from the cluster's, not from ours
                self.recipe, self.factory, self.control, workers=workers,
                address=self.options.ray_address,
            )  # fmt: skip
        restorers = 1 if is_gpu(self.device) else workers
        readers = 2 if workers >= 4 else 1  # decoding is cheaper than encoding
        return PipelineExecutor(
            self.service, self.recipe, self.control,
            restorers=restorers, readers=readers, writers=workers,
        )  # fmt: skip

    def _feed(self, executor: Executor, run_id: int) -> None:
        """Submit pending files until the executor holds ``capacity`` of them."""
        while len(self.in_flight) < executor.capacity:
            if not self.queue and not self.exhausted:
                rows = self.journal.next_pending(run_id, 64)
                self.queue.extend(rows)
                self.exhausted = not rows
            if not self.queue:
                return
            row = self.queue.popleft()
            job = self._job(row)
            if job is None:
                continue
            self.journal.mark_running(row.id)
            self.in_flight[row.id] = row
            executor.submit(job)

    def _job(self, row: Row) -> FileJob | None:
        """The FileJob of ``row``; None (and the row skipped) if its output is not ours."""
        dest = self.out_dir / row.output
        ours = row.attempts > 0  # this batch started it before, so it owns the name
        if not ours and not self.options.overwrite and dest.exists():
            reason = f"{dest} already exists and was not written by this batch; not replaced"
            self.journal.skip(row.id, reason + " (use --overwrite to replace it)")
            self._record(Outcome(row.id, "skipped", error=reason), known=row)
            return None
        if ours:
            remove_temp_files(dest)
        prev_out = row.output_hash if row.input_hash else None
        return FileJob(
            row.id, Path(row.src), dest, row.rel, ours or self.options.overwrite,
            row.input_hash, prev_out,
        )  # fmt: skip

    def _record(self, outcome: Outcome, known: Row | None = None) -> None:
        row = known or self.in_flight.pop(outcome.id, None)
        if row is None:
            _log.warning("outcome for unknown file id %s ignored", outcome.id)
            return
        if known is None:
            self.journal.finish(outcome)
        if outcome.status == "cancelled":
            return
        self._count(outcome)
        self.emit(FileFinished(row.rel, outcome, self.out_dir / row.output))

    def _count(self, outcome: Outcome) -> None:
        s = self.summary
        if outcome.status == "done" and outcome.reused:
            s.reused += 1
        elif outcome.status == "done":
            s.restored += 1
        elif outcome.status == "failed":
            s.failed += 1
        else:
            s.skipped += 1

    def _progress(self) -> None:
        s = self.summary
        elapsed = time.perf_counter() - self.start
        finished = s.finished
        remaining = max(0, s.todo - finished)
        eta = elapsed / finished * remaining if finished else None
        self.emit(
            BatchProgress(
                finished, s.todo, s.restored + s.reused, s.failed, s.skipped,
                len(self.in_flight), elapsed, eta, self.control.paused,
            )
        )  # fmt: skip


def remove_temp_files(dest: Path) -> None:
    """Delete temp files an interrupted atomic write of ``dest`` may have left."""
    pattern = f".{glob.escape(dest.name)}.*.tmp"
    for tmp in dest.parent.glob(pattern):
        try:
            tmp.unlink()
        except OSError as err:
            _log.warning("could not remove %s: %s", tmp, err)
