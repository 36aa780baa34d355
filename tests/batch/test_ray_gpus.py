"""Ray's GPU decision is taken from the cluster and by each worker, never from the head
node's own device (no GPU and no Ray cluster needed: the probes are injected)."""

from __future__ import annotations

from typing import Any

import pytest

from app.batch import engine_ray
from app.batch.engine_ray import ActorPlan, RestoreWorker, plan_actors, worker_device
from app.batch.pipeline import Control
from app.batch.recipe import Recipe
from app.ml.services.base import Service
from tests.batch.fakes import BoxService


@pytest.mark.parametrize(
    ("device", "workers", "gpus", "plan"),
    [("auto", 3, 0, ActorPlan(3, 0)), ("auto", 3, 2, ActorPlan(2, 1)),
     ("cuda", 1, 4, ActorPlan(4, 1)), ("cuda:1", 1, 1, ActorPlan(1, 1)),
     ("cpu", 3, 2, ActorPlan(3, 0)), ("mps", 2, 0, ActorPlan(2, 0)),
     ("auto", 1, 0.5, ActorPlan(1, 0))],
)  # fmt: skip
def test_actors_follow_the_clusters_gpus(device: str, workers: int, gpus: float,
                                         plan: ActorPlan) -> None:  # fmt: skip
    assert plan_actors(device, workers, gpus) == plan


@pytest.mark.parametrize(
    ("device", "gpu_ids", "used"),
    [("auto", [0], "auto"), ("auto", [], "cpu"), ("cuda", ["1"], "cuda"), ("cuda", [], "cpu"),
     ("cuda:1", [3], "cuda"), ("cpu", [0], "cpu"), ("mps", [], "mps")],
)  # fmt: skip
def test_each_worker_resolves_its_own_device(device: str, gpu_ids: list[Any], used: str) -> None:
    assert worker_device(device, gpu_ids) == used
    asked: list[str] = []

    def factory(task: str, method: str | None, dev: str) -> Service:
        asked.append(dev)
        return BoxService(device="cuda:0" if dev in ("auto", "cuda") else dev)

    worker = RestoreWorker(factory, Recipe("denoise", device=device), gpu_probe=lambda: gpu_ids)
    assert asked == [used]
    assert worker.device() == ("cuda:0" if used in ("auto", "cuda") else used)


class FakeRay:
    """Just what RayExecutor.__init__ calls, on a cluster with ``gpus`` GPUs: records the
    options of each ``ray.remote`` and the actors created."""

    def __init__(self, gpus: float) -> None:
        self.gpus = gpus
        self.options: dict[str, dict[str, Any]] = {}
        self.actors: list[tuple[Any, ...]] = []

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 8.0, "GPU": self.gpus} if self.gpus else {"CPU": 8.0}

    def remote(self, **options: Any) -> Any:
        def wrap(target: Any) -> Any:
            self.options[target.__name__] = options
            fake = self

            class Remote:
                @staticmethod
                def remote(*args: Any) -> object:
                    fake.actors.append(args)
                    return object()

            return Remote

        return wrap


@pytest.mark.parametrize(("gpus", "count", "num_gpus"), [(0, 3, None), (2, 2, 1)])
def test_a_cpu_only_head_uses_the_clusters_gpus(
    monkeypatch: pytest.MonkeyPatch, gpus: float, count: int, num_gpus: int | None
) -> None:
    fake = FakeRay(gpus)
    monkeypatch.setattr(engine_ray, "import_ray", lambda: fake)
    recipe = Recipe("denoise", device="auto")  # the head itself has no GPU
    executor = engine_ray.RayExecutor(recipe, lambda *a: BoxService(), Control(), workers=3)
    assert len(fake.actors) == count and executor.capacity == 2 * count + 2
    options = fake.options["RestoreWorker"]
    assert options.get("num_gpus") == num_gpus
    assert options["max_restarts"] == -1  # a dead worker is restarted
    assert fake.options["read_stage"]["max_retries"] > 0
