"""FunctionJob on the pool (result, progress, failure, cancel hook) and the GPU gate."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.core.errors import InvalidInputError
from app.workers import GPU_GATE, FunctionJob, JobContext, WorkerPool
from tests.workers.test_pool import TIMEOUT, ConcurrencyProbe, FakeService, Recorder, job


@pytest.fixture
def pool() -> WorkerPool:
    return WorkerPool(cpu_threads=2)


def test_result_and_progress_arrive_on_the_gui_thread(qtbot: QtBot, pool: WorkerPool) -> None:
    threads: list[str] = []
    reports: list[Any] = []
    pool.progress.connect(lambda i, payload: reports.append(payload))

    def work(ctx: JobContext) -> str:
        threads.append(threading.current_thread().name)
        for step in ("a", "b", "c"):
            ctx.report(step)
        return "value"

    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT) as blocker:
        job_id = pool.submit(FunctionJob(work))
    assert blocker.args == [job_id, "value"]
    assert reports == ["a", "b", "c"]
    assert threads and threads[0] != threading.main_thread().name


def test_failure_is_reported(qtbot: QtBot, pool: WorkerPool) -> None:
    def work(ctx: JobContext) -> None:
        raise InvalidInputError("no such folder")

    with qtbot.waitSignal(pool.failed, timeout=TIMEOUT) as blocker:
        pool.submit(FunctionJob(work))
    assert blocker.args[1] == "no such folder" and "Traceback" in blocker.args[2]


def test_cancel_calls_the_hook_once_and_ends_cancelled(qtbot: QtBot, pool: WorkerPool) -> None:
    stop = threading.Event()
    hooks: list[int] = []
    recorder = Recorder(pool)

    def on_cancel() -> None:
        hooks.append(1)
        stop.set()

    def work(ctx: JobContext) -> str:
        assert stop.wait(TIMEOUT / 1000)
        return "interrupted but returned"

    job_id = pool.submit(FunctionJob(work, on_cancel=on_cancel))
    pool.cancel(job_id)
    pool.cancel_all()  # a second request does not call the hook again
    assert pool.wait_for(job_id, TIMEOUT)
    assert hooks == [1] and recorder.of(job_id) == ["cancelled"]


def test_wait_for_delivers_progress_then_the_end(qtbot: QtBot, pool: WorkerPool) -> None:
    order: list[str] = []
    pool.progress.connect(lambda i, payload: order.append(payload))
    pool.finished.connect(lambda i, value: order.append("finished"))

    def work(ctx: JobContext) -> None:
        ctx.report("one")
        ctx.report("two")

    job_id = pool.submit(FunctionJob(work))
    assert pool.wait_for(job_id, TIMEOUT)
    assert order == ["one", "two", "finished"] and pool.active_jobs() == []


def test_gpu_jobs_of_two_pools_never_overlap(qtbot: QtBot) -> None:
    """The GPU gate: the window's pool and a dialog's pool share one GPU."""
    first = WorkerPool(resolve_device=lambda job: "cuda")
    second = WorkerPool(resolve_device=lambda job: "cuda")
    ConcurrencyProbe.running = ConcurrencyProbe.peak = 0
    for index, each in enumerate((first, second, first, second)):
        each.submit(job(ConcurrencyProbe(tiles=3, delay=0.01), channel=f"c{index}"))
    qtbot.waitUntil(lambda: not first.active_jobs() and not second.active_jobs(), timeout=TIMEOUT)
    assert ConcurrencyProbe.peak == 1


def test_a_job_waiting_for_the_gpu_can_be_cancelled(qtbot: QtBot) -> None:
    holder = WorkerPool(resolve_device=lambda job: "cuda")
    waiter = WorkerPool(resolve_device=lambda job: "cuda")
    release = threading.Event()
    inside = threading.Event()

    def hold_the_gpu(ctx: JobContext) -> None:
        inside.set()
        assert release.wait(TIMEOUT / 1000)

    holder.submit(FunctionJob(hold_the_gpu, device="cuda"))
    assert inside.wait(TIMEOUT / 1000) and GPU_GATE.busy()
    started: list[int] = []
    waiter.started.connect(started.append)
    with qtbot.waitSignal(waiter.cancelled, timeout=TIMEOUT):
        waiting = waiter.submit(job(FakeService(), channel="preview"))
        waiter.cancel(waiting)
    assert started == [] and holder.active_jobs()
    release.set()
    assert holder.wait(TIMEOUT) and not GPU_GATE.busy()
