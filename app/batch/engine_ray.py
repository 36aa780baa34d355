"""The Ray engine: the same three stages, spread over a Ray cluster (``--engine ray``).

Each file becomes a chain of Ray calls: a ``read`` task (hash + decode, any node), the
``restore`` method of one of the restorer actors (each loads the model once; one GPU
each when the batch runs on a GPU, otherwise CPU actors, ``workers`` of them), and a
``write`` task. Pixels travel through Ray's object store, never through the driver. The
driver (the coordinator in :mod:`app.batch.runner`) stays the only writer of the
journal, which remains the single source of truth: outcomes come back to it, and it
never has more than :attr:`RayExecutor.capacity` files on the cluster.

Inputs and outputs are read and written by the workers, so on a real cluster IN and OUT
must be on a file system every node mounts at the same path (see docs/batch.md).
``ray`` is an optional dependency: ``pip install -e .[cluster]``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from app.batch.journal import Outcome
from app.batch.pipeline import Control, Executor
from app.batch.recipe import Recipe
from app.batch.stages import FileJob, Loaded, Restored, read_stage, restore_stage, write_stage
from app.core.errors import InvalidInputError
from app.ml.services.base import Service

_log = logging.getLogger(__name__)


class RestoreWorker:
    """A Ray actor body: one service (one loaded model) restoring file after file."""

    def __init__(self, factory: Any, recipe: Recipe) -> None:
        self.recipe = recipe
        self.service: Service = factory(recipe.task, recipe.method, recipe.device)

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

    ``address``: a running cluster (``ray://host:10001`` or ``auto``); None uses
    ``$RAY_ADDRESS`` or starts a local instance with ``max(2, workers)`` CPUs, which is
    shut down again by :meth:`close`.
    """

    def __init__(
        self,
        recipe: Recipe,
        factory: Any,
        control: Control,
        *,
        workers: int = 1,
        gpu: bool = False,
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
        actor = ray.remote(num_gpus=1)(RestoreWorker) if gpu else ray.remote(RestoreWorker)
        count = max(1, int(ray.cluster_resources().get("GPU", 0))) if gpu else workers
        self.actors = [actor.remote(factory, recipe) for _ in range(count)]
        self._read = ray.remote(read_stage)
        self._write = ray.remote(write_stage)
        self.capacity = 2 * count + 2
        self._pending: dict[Any, int] = {}
        self._next = 0
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
        actor = self.actors[self._next % len(self.actors)]
        self._next += 1
        loaded = self._read.remote(job)
        restored = actor.restore.remote(loaded)
        self._pending[self._write.remote(restored, self.recipe)] = job.id

    def poll(self, timeout: float) -> list[Outcome]:
        if not self._pending:
            return []
        if self.control.aborted and not self._cancelled:
            self._cancel_all()
        ready, rest = self.ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return [self._outcome(ref) for ref in ready]

    def _outcome(self, ref: Any) -> Outcome:
        job_id = self._pending.pop(ref)
        try:
            outcome: Outcome = self.ray.get(ref)
            return outcome
        except self.ray.exceptions.TaskCancelledError:
            return Outcome(job_id, "cancelled")
        except Exception as err:  # noqa: BLE001 - a node or worker died: fail only this file
            _log.warning("ray task for file %s failed: %s", job_id, err)
            reason = " ".join(str(err).split())[:500]
            return Outcome(job_id, "failed", error=f"Ray: {type(err).__name__}: {reason}")

    def _cancel_all(self) -> None:
        self._cancelled = True
        for ref in self._pending:
            try:
                self.ray.cancel(ref)
            except Exception as err:  # noqa: BLE001 - already finished
                _log.debug("cancel: %s", err)

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
