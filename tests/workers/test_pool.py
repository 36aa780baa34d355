"""WorkerPool with fake services: results, progress, cancel, failures, staleness, GPU queue.

The fakes sleep or wait inside the worker thread to stand for a model's work; the tests
themselves never sleep, they wait on signals.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app.core.errors import InvalidInputError
from app.core.progress import Progress, Work
from app.ml.services.base import Service, ServiceInfo
from app.workers import Job, JobResult, WorkerPool, describe_error, is_gpu

TIMEOUT = 10_000


class FakeService(Service):
    """Halves the image in ``tiles`` steps; each step takes ``delay`` s on the worker."""

    info = ServiceInfo(task="denoise", method="fake", title="Fake")

    def __init__(
        self,
        tiles: int = 4,
        delay: float = 0.0,
        fail_at: int | None = None,
        error: Exception | None = None,
        gate: threading.Event | None = None,
        device: str = "cpu",
    ) -> None:
        self.tiles = tiles
        self.delay = delay
        self.fail_at = fail_at
        self.error = error or InvalidInputError("sigma must be at most 75, got 99")
        self.gate = gate
        self.device = device
        self.processed = 0

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        if self.gate is not None:
            assert self.gate.wait(TIMEOUT / 1000)
        for i in range(self.tiles):
            if self.fail_at == i:
                raise self.error
            time.sleep(self.delay)
            self.processed += 1
            yield Progress(i + 1, self.tiles, "fake")
        return image * 0.5


class ConcurrencyProbe(FakeService):
    """Counts how many instances run at once (shared counters)."""

    lock = threading.Lock()
    running = 0
    peak = 0

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        cls = ConcurrencyProbe
        with cls.lock:
            cls.running += 1
            cls.peak = max(cls.peak, cls.running)
        try:
            return (yield from super()._run(image, mask, params, tile))
        finally:
            with cls.lock:
                cls.running -= 1


class BarrierService(FakeService):
    """Finishes only when ``parties`` jobs are inside it at the same time."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__(tiles=1)
        self.barrier = barrier

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        self.barrier.wait(TIMEOUT / 1000)
        return (yield from super()._run(image, mask, params, tile))


def image(h: int = 16, w: int = 20) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, 3), dtype=np.float32)


def job(service: Service, **kw: Any) -> Job:
    return Job(task="denoise", method="fake", image=kw.pop("image", image()), service=service, **kw)


@pytest.fixture
def pool() -> WorkerPool:
    return WorkerPool(cpu_threads=2, resolve_device=lambda job: job.device.replace("auto", "cpu"))


class Recorder:
    """Collects every terminal signal of a pool, by job id."""

    def __init__(self, pool: WorkerPool) -> None:
        self.events: list[tuple[str, int]] = []
        pool.finished.connect(lambda i, r: self.events.append(("finished", i)))
        pool.failed.connect(lambda i, m, d: self.events.append(("failed", i)))
        pool.cancelled.connect(lambda i: self.events.append(("cancelled", i)))
        pool.stale.connect(lambda i: self.events.append(("stale", i)))

    def of(self, job_id: int) -> list[str]:
        return [kind for kind, i in self.events if i == job_id]


def test_job_reaches_finished(qtbot: QtBot, pool: WorkerPool) -> None:
    busy: list[bool] = []
    pool.busy_changed.connect(busy.append)
    source = image()
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT) as blocker:
        job_id = pool.submit(job(FakeService(), image=source, params={"sigma": 10}))
    done_id, result = blocker.args
    assert done_id == job_id and isinstance(result, JobResult)
    np.testing.assert_array_equal(result.pixels, source * 0.5)
    assert result.job.id == job_id and result.job.generation == 1
    assert result.extra["device"] == "cpu" and result.extra["tiles"] == 4
    assert result.elapsed_s >= 0 and pool.active_jobs() == []
    assert busy == [True, False]


def test_progress_per_tile(qtbot: QtBot, pool: WorkerPool) -> None:
    reports: list[Progress] = []
    pool.progress.connect(lambda i, p: reports.append(p))
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT):
        pool.submit(job(FakeService(tiles=5)))
    assert [p.done for p in reports] == [1, 2, 3, 4, 5]
    assert all(p.total == 5 and p.stage == "fake" for p in reports)


def test_cancel_stops_within_one_tile(qtbot: QtBot, pool: WorkerPool) -> None:
    service = FakeService(tiles=50, delay=0.02)
    recorder = Recorder(pool)
    at_cancel: list[int] = []

    def cancel_on_first_tile(job_id: int, report: Progress) -> None:
        if not at_cancel:
            pool.cancel(job_id)  # first the flag, then the count: at most the tile in flight
            at_cancel.append(service.processed)

    pool.progress.connect(cancel_on_first_tile)
    with qtbot.waitSignal(pool.cancelled, timeout=TIMEOUT) as blocker:
        job_id = pool.submit(job(service))
    assert blocker.args == [job_id]
    assert service.processed - at_cancel[0] <= 1
    assert recorder.of(job_id) == ["cancelled"]


def test_cancel_before_start_and_cancel_all(qtbot: QtBot, pool: WorkerPool) -> None:
    gate = threading.Event()
    recorder = Recorder(pool)
    first = pool.submit(job(FakeService(gate=gate), channel="a"))
    second = pool.submit(job(FakeService(gate=gate), channel="b"))
    pool.cancel_all()
    gate.set()
    qtbot.waitUntil(lambda: not pool.active_jobs(), timeout=TIMEOUT)
    assert recorder.of(first) == ["cancelled"] and recorder.of(second) == ["cancelled"]


def test_failure_is_reported_and_pool_keeps_working(qtbot: QtBot, pool: WorkerPool) -> None:
    with qtbot.waitSignal(pool.failed, timeout=TIMEOUT) as blocker:
        bad = pool.submit(job(FakeService(fail_at=2)))
    job_id, message, details = blocker.args
    assert job_id == bad and message == "sigma must be at most 75, got 99"
    assert "InvalidInputError" in details and "Traceback" in details
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT) as blocker:
        good = pool.submit(job(FakeService()))
    assert blocker.args[0] == good


def test_unexpected_exception_gets_one_line_message(qtbot: QtBot, pool: WorkerPool) -> None:
    service = FakeService(fail_at=0, error=RuntimeError("boom\nsecond line"))
    with qtbot.waitSignal(pool.failed, timeout=TIMEOUT) as blocker:
        pool.submit(job(service))
    assert blocker.args[1] == "RuntimeError: boom"
    assert describe_error(MemoryError()).startswith("Out of memory")
    assert describe_error(RuntimeError("CUDA out of memory. Tried")).startswith("Out of GPU")


def test_newer_preview_makes_older_stale(qtbot: QtBot, pool: WorkerPool) -> None:
    recorder = Recorder(pool)
    finished: list[int] = []
    pool.finished.connect(lambda i, r: finished.append(i))
    old = pool.submit(job(FakeService(tiles=50, delay=0.02), kind="preview", channel="preview"))
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT) as blocker:
        new = pool.submit(job(FakeService(), kind="preview", channel="preview"))
    assert blocker.args[0] == new
    qtbot.waitUntil(lambda: not pool.active_jobs(), timeout=TIMEOUT)
    assert recorder.of(old) == ["stale"] and finished == [new]


def test_completed_but_undelivered_result_is_stale(qtbot: QtBot, pool: WorkerPool) -> None:
    """An old preview that already finished on its thread still never reaches `finished`."""
    recorder = Recorder(pool)
    old = pool.submit(job(FakeService(), kind="preview", channel="preview"))
    for threads in pool.thread_pools():
        assert threads.waitForDone(TIMEOUT)  # done on the worker; its signal is still queued
    new = pool.submit(job(FakeService(), kind="preview", channel="preview"))
    qtbot.waitUntil(lambda: not pool.active_jobs(), timeout=TIMEOUT)
    assert recorder.of(old) == ["stale"] and recorder.of(new) == ["finished"]


def test_channels_are_independent(qtbot: QtBot, pool: WorkerPool) -> None:
    recorder = Recorder(pool)
    a = pool.submit(job(FakeService(), channel="preview"))
    b = pool.submit(job(FakeService(), channel="render"))
    qtbot.waitUntil(lambda: not pool.active_jobs(), timeout=TIMEOUT)
    assert recorder.of(a) == ["finished"] and recorder.of(b) == ["finished"]


def test_gpu_jobs_run_one_at_a_time(qtbot: QtBot) -> None:
    pool = WorkerPool(cpu_threads=2, resolve_device=lambda job: "cuda")
    ConcurrencyProbe.running = ConcurrencyProbe.peak = 0
    recorder = Recorder(pool)
    ids = [
        pool.submit(job(ConcurrencyProbe(tiles=3, delay=0.01), channel=f"c{i}")) for i in range(3)
    ]
    qtbot.waitUntil(lambda: not pool.active_jobs(), timeout=TIMEOUT)
    assert all(recorder.of(i) == ["finished"] for i in ids)
    assert ConcurrencyProbe.peak == 1


def test_cpu_jobs_run_side_by_side(qtbot: QtBot, pool: WorkerPool) -> None:
    barrier = threading.Barrier(2)
    recorder = Recorder(pool)
    a = pool.submit(job(BarrierService(barrier), channel="a"))
    b = pool.submit(job(BarrierService(barrier), channel="b"))
    qtbot.waitUntil(lambda: not pool.active_jobs(), timeout=TIMEOUT)
    assert recorder.of(a) == ["finished"] and recorder.of(b) == ["finished"]


def test_inputs_are_copied_at_submit(qtbot: QtBot, pool: WorkerPool) -> None:
    gate = threading.Event()
    source = image()
    expected = source * 0.5
    mask = np.zeros(source.shape[:2], np.float32)
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT) as blocker:
        pool.submit(job(FakeService(gate=gate), image=source, mask=mask))
        source[...] = 0  # the GUI keeps editing its arrays
        mask[...] = 1
        gate.set()
    np.testing.assert_array_equal(blocker.args[1].pixels, expected)
    assert not blocker.args[1].job.mask.any()


def test_roi_runs_on_the_crop(qtbot: QtBot, pool: WorkerPool) -> None:
    source = image(30, 40)
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT) as blocker:
        pool.submit(job(FakeService(), image=source, roi=(5, 10, 25, 30), kind="preview"))
    result = blocker.args[1]
    assert result.pixels.shape == (20, 20, 3) and result.job.roi == (5, 10, 25, 30)
    np.testing.assert_array_equal(result.pixels, source[5:25, 10:30] * 0.5)


def test_bad_roi_raises_at_submit(pool: WorkerPool) -> None:
    with pytest.raises(InvalidInputError, match="not inside"):
        pool.submit(job(FakeService(), roi=(0, 0, 100, 5)))
    assert pool.active_jobs() == []


def test_registry_service_is_created_on_the_worker(
    qtbot: QtBot, pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, str, str]] = []

    def create_service(task: str, method: str, device: str = "auto") -> Service:
        calls.append((task, method, device, threading.current_thread().name))
        if method == "missing":
            raise InvalidInputError("no method 'missing' for denoise")
        return FakeService(tiles=2)

    fake = types.ModuleType("app.ml.registry")
    fake.create_service = create_service  # type: ignore[attr-defined]
    fake.list_services = lambda task: []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.ml.registry", fake)
    monkeypatch.setattr(sys.modules["app.ml"], "registry", fake, raising=False)
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT):
        pool.submit(Job(task="denoise", method="fake", image=image(), device="cpu"))
    assert calls[0][:3] == ("denoise", "fake", "cpu")
    assert calls[0][3] != threading.main_thread().name
    with qtbot.waitSignal(pool.failed, timeout=TIMEOUT) as blocker:
        pool.submit(Job(task="denoise", method="missing", image=image(), device="cpu"))
    assert blocker.args[1] == "no method 'missing' for denoise"


def test_shutdown_cancels_and_refuses_new_jobs(qtbot: QtBot, pool: WorkerPool) -> None:
    recorder = Recorder(pool)
    job_id = pool.submit(job(FakeService(tiles=500, delay=0.01)))
    assert pool.shutdown()
    assert recorder.of(job_id) == ["cancelled"] and pool.active_jobs() == []
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(job(FakeService()))


def test_job_ids_unique_and_generations_per_channel(pool: WorkerPool) -> None:
    gate = threading.Event()
    a = job(FakeService(gate=gate), channel="x")
    b = job(FakeService(gate=gate), channel="x")
    c = job(FakeService(gate=gate), channel="y")
    for each in (a, b, c):
        pool.submit(each)
    gate.set()
    assert len({a.id, b.id, c.id}) == 3
    assert (a.generation, b.generation, c.generation) == (1, 2, 1)
    with pytest.raises(RuntimeError, match="only once"):
        pool.submit(a)
    assert pool.wait(TIMEOUT) and pool.active_jobs() == []


def test_is_gpu() -> None:
    assert is_gpu("cuda") and is_gpu("cuda:1") and is_gpu("mps") and not is_gpu("cpu")


def test_qt_binding_keeps_references_to_singletons(qtbot: QtBot) -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None per void call and to True
    per emit, until CPython aborts; pyproject pins <6.12. This fails on a leaking binding."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        probe.ping.emit()
        probe.setObjectName("probe")
    assert none_before - sys.getrefcount(None) < 100
    assert true_before - sys.getrefcount(True) < 100


def test_device_probe_reports_a_name_without_blocking(qtbot: QtBot) -> None:
    from app.workers import DeviceProbe

    probe = DeviceProbe()
    with qtbot.waitSignal(probe.found, timeout=60_000) as blocker:
        probe.start()
    name = blocker.args[0]
    assert name.startswith(("CPU", "GPU"))


def test_stopping_a_running_device_probe_ends_its_process(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import QProcess

    from app.workers import device

    monkeypatch.setattr(device, "_cached", None)
    monkeypatch.setattr(device, "_PROBE", "import time; time.sleep(30)")
    probe = device.DeviceProbe()
    probe.start()
    process = probe._process
    assert process is not None and process.waitForStarted(10_000)
    found: list[str] = []
    probe.found.connect(found.append)
    probe.stop()
    assert process.state() == QProcess.ProcessState.NotRunning
    qtbot.wait(50)
    assert found == [] and device._cached is None
    probe.stop()  # idempotent
