"""The Ray engine: the same three stages, spread over a Ray cluster (``--engine ray``).

Each file becomes a chain of Ray calls: a ``read`` task (hash + decode, any node), the
``restore`` method of one of the restorer actors (each loads the model once), and a
``write`` task. Pixels travel through Ray's object store, never through the driver. The
driver (the coordinator in :mod:`app.batch.runner`) stays the only writer of the
journal, which remains the single source of truth: outcomes come back to it, and it
never has more than :attr:`RayExecutor.capacity` files on the cluster.

GPUs (:func:`plan_actors`): when the *cluster* has GPUs (whatever the driver's own
device) and the recipe allows one, there is one actor per GPU, each asking Ray for one;
otherwise ``workers`` CPU actors. Each actor resolves its own device when it starts
(:func:`worker_device`): the recipe's device where Ray gave it a GPU, the CPU where not.

A worker that dies (killed, out of memory, its node lost) is restarted by Ray
(``max_restarts``; its model is loaded again); the files it held come back as actor
errors and are sent again, to any actor, up to :data:`MAX_ATTEMPTS` times each, so only
a file that kills its worker every time fails. Read and write tasks are retried by Ray
(``max_retries``) when their worker dies. Outputs are written atomically and the write
of a file runs once its restoration succeeded, so every output is written once.

Inputs and outputs are read and written by the workers, so on a real cluster IN and OUT
must be on a file system every node mounts at the same path (see docs/batch.md).
``ray`` is an optional dependency: ``pip install -e .[cluster]``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.batch.journal import Outcome
from app.batch.pipeline import Control, Executor
from app.batch.recipe import Recipe
from app.batch.stages import FileJob, Loaded, Restored, read_stage, restore_stage, write_stage
from app.core.errors import InvalidInputError
from app.ml.services.base import Service

_log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # restorations of one file cut short by its worker dying, then it fails
TASK_RETRIES = 3  # Ray retries of a read or write task whose worker died
GPU_DEVICES = ("auto", "cuda")


@dataclass(frozen=True)
class ActorPlan:
    """``count`` restorer actors, each asking Ray for ``num_gpus`` GPUs."""

    count: int
    num_gpus: int


def plan_actors(device: str, workers: int, cluster_gpus: float) -> ActorPlan:
    """The restorer actors for a recipe ``device`` on a cluster with ``cluster_gpus`` GPUs
    (the head's own device plays no part): one per GPU, when the cluster has some and
    ``device`` is ``auto`` or ``cuda[:N]``; otherwise ``workers`` CPU actors."""
    gpus = int(cluster_gpus)
    if gpus >= 1 and device.split(":")[0] in GPU_DEVICES:
        return ActorPlan(gpus, 1)
    return ActorPlan(max(1, workers), 0)


def worker_device(device: str, gpu_ids: Sequence[Any]) -> str:
    """The device an actor builds its service on: the recipe's ``device`` when Ray gave it
    a GPU (``gpu_ids``; ``cuda:N`` becomes ``cuda``, the one GPU Ray lets it see), else the
    CPU for ``auto``/``cuda`` (a GPU it was not given belongs to another actor), else
    ``device`` (``cpu``, ``mps``)."""
    kind = device.split(":")[0]
    if kind not in GPU_DEVICES:
        return device
    if gpu_ids:
        return kind
    return "cpu"


def _ray_gpu_ids() -> list[Any]:
    import ray

    return list(ray.get_gpu_ids())


class RestoreWorker:
    """A Ray actor body: one service (one loaded model) restoring file after file.

    ``gpu_probe`` returns the GPUs Ray assigned to this actor (default: ``ray.get_gpu_ids``).
    """

    def __init__(
        self, factory: Any, recipe: Recipe, gpu_probe: Callable[[], Sequence[Any]] | None = None
    ) -> None:
        self.recipe = recipe
        device = worker_device(recipe.device, (gpu_probe or _ray_gpu_ids)())
        self.service: Service = factory(recipe.task, recipe.method, device)

    def restore(self, item: Loaded | Outcome) -> Restored | Outcome:
        return restore_stage(self.service, item, self.recipe)

    def device(self) -> str:
        return str(getattr(self.service, "device", "cpu"))


def import_ray() -> Any:
    """The ``ray`` module, or InvalidInputError saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise InvalidInputError(
            "the Ray engine needs the optional 'ray' package: pip install -e .[cluster]"
        ) from err
    return ray


class RayExecutor(Executor):
    """Runs FileJobs as Ray task/actor chains (see the module docstring).

    A file's read task starts as soon as it is submitted; its restoration goes to the
    first idle actor (one file per actor at a time: a slow file holds up no other, and a
    worker's death is charged to the one file it was restoring). ``address``: a running
    cluster (``ray://host:10001`` or ``auto``); None uses ``$RAY_ADDRESS`` or starts a
    local instance with ``max(2, workers)`` CPUs, which is shut down again by :meth:`close`.
    """

    def __init__(
        self,
        recipe: Recipe,
        factory: Any,
        control: Control,
        *,
        workers: int = 1,
        address: str | None = None,
    ) -> None:
        self.ray = ray = import_ray()
        self.recipe = recipe
        self.control = control
        self._owns = False
        if not ray.is_initialized():
            self._init(address, workers)
        if factory is None:
            from app.batch.runner import default_factory

            factory = default_factory
        self.plan = plan_actors(recipe.device, workers, ray.cluster_resources().get("GPU", 0))
        options: dict[str, Any] = {"max_restarts": -1, "max_task_retries": 0}
        if self.plan.num_gpus:  # (a CPU actor keeps Ray's default: no CPU held while alive)
            options["num_gpus"] = self.plan.num_gpus
        worker = ray.remote(**options)(RestoreWorker)
        self.actors = [worker.remote(factory, recipe) for _ in range(self.plan.count)]
        self._read = ray.remote(max_retries=TASK_RETRIES)(read_stage)
        self._write = ray.remote(max_retries=TASK_RETRIES)(write_stage)
        self.capacity = 2 * self.plan.count + 2
        self._idle = list(range(self.plan.count))
        self._waiting: deque[FileJob] = deque()  # read started, no actor yet
        self._loaded: dict[int, Any] = {}  # job id -> ref of its read
        self._restoring: dict[Any, tuple[int, int]] = {}  # restore ref -> (job id, actor)
        self._pending: dict[Any, int] = {}  # write ref -> job id
        self._jobs: dict[int, FileJob] = {}
        self._deaths: dict[int, int] = {}
        self._cancelled = False

    def _init(self, address: str | None, workers: int) -> None:
        address = address or os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            self.ray.init(address=address, **kwargs)
        else:  # local instance: its workers import app (and tests) like this process
            path = os.pathsep.join(p for p in sys.path if p)
            env = {"env_vars": {"PYTHONPATH": path}}
            self.ray.init(num_cpus=max(2, workers), runtime_env=env, **kwargs)
        self._owns = True

    def submit(self, job: FileJob) -> None:
        self._jobs[job.id] = job
        self._loaded[job.id] = self._read.remote(job)
        self._waiting.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand waiting files to idle actors (a restarting actor queues its call)."""
        while self._waiting and self._idle and not self._cancelled:
            job, index = self._waiting.popleft(), self._idle.pop(0)
            restored = self.actors[index].restore.remote(self._loaded[job.id])
            self._restoring[restored] = (job.id, index)
            self._pending[self._write.remote(restored, self.recipe)] = job.id

    def poll(self, timeout: float) -> list[Outcome]:
        if self.control.aborted and not self._cancelled:
            return self._cancel_all()
        refs = [*self._restoring, *self._pending]
        if not refs:
            return []
        # fetch_local=False: a restored image stays on its node until its write task reads it
        ready, rest = self.ray.wait(refs, num_returns=1, timeout=timeout, fetch_local=False)
        if ready and rest:
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=False)
            ready += more
        for ref in ready:  # a finished (or failed) restoration frees its actor
            if ref in self._restoring:
                self._idle.append(self._restoring.pop(ref)[1])
        outcomes = [self._outcome(ref) for ref in ready if ref in self._pending]
        self._dispatch()
        return [outcome for outcome in outcomes if outcome is not None]

    def _outcome(self, ref: Any) -> Outcome | None:
        """The file's outcome; None when it was sent again (its worker died)."""
        job_id = self._pending.pop(ref)
        try:
            outcome: Outcome = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            outcome = Outcome(job_id, "cancelled")
        except self.ray.exceptions.RayActorError as err:
            return self._worker_died(job_id, err)
        except Exception as err:  # noqa: BLE001 - a node or worker died: fail only this file
            outcome = self._failed(job_id, err)
        self._forget(job_id)
        return outcome

    def _worker_died(self, job_id: int, err: Exception) -> Outcome | None:
        """Queue the file again (Ray restarts the actor) unless this was its last attempt."""
        deaths = self._deaths[job_id] = self._deaths.get(job_id, 0) + 1
        if self._cancelled or self.control.aborted:
            self._forget(job_id)
            return Outcome(job_id, "cancelled")
        if deaths < MAX_ATTEMPTS:
            _log.warning("the worker restoring file %s died (%d); sending it again", job_id, deaths)
            self._waiting.append(self._jobs[job_id])
            return None
        self._forget(job_id)
        return self._failed(job_id, err, f"its worker died {deaths} times restoring it; ")

    def _failed(self, job_id: int, err: Exception, why: str = "") -> Outcome:
        _log.warning("ray task for file %s failed: %s", job_id, err)
        reason = " ".join(str(err).split())[:500]
        return Outcome(job_id, "failed", error=f"Ray: {why}{type(err).__name__}: {reason}")

    def _forget(self, job_id: int) -> None:
        for table in (self._jobs, self._deaths, self._loaded):
            table.pop(job_id, None)

    def _cancel_all(self) -> list[Outcome]:
        """Cancel every call; the files not yet at an actor come back cancelled now."""
        self._cancelled = True
        for ref in [*self._restoring, *self._pending]:
            try:
                self.ray.cancel(ref)
            except Exception as err:  # noqa: BLE001 - already finished
                _log.debug("cancel: %s", err)
        waiting = [Outcome(job.id, "cancelled") for job in self._waiting]
        for outcome in waiting:
            self._forget(outcome.id)
        self._waiting.clear()
        return waiting

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception as err:  # noqa: BLE001
                _log.debug("kill actor: %s", err)
        self.actors = []
        if self._owns:
            self.ray.shutdown()
            self._owns = False
