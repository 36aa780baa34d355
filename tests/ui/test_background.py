"""Background: plain functions on a worker pool, one at a time, callbacks on the GUI thread."""

from __future__ import annotations

import threading

from pytestqt.qtbot import QtBot

from app.ui.background import Background
from app.workers import GPU_GATE, WorkerPool

TIMEOUT = 10_000


def test_calls_run_off_the_gui_thread_in_order(qtbot: QtBot) -> None:
    background = Background()
    threads: list[str] = []
    results: list[int] = []

    def work(value: int) -> int:
        threads.append(threading.current_thread().name)
        return value

    for value in range(4):
        background.run(lambda v=value: work(v), results.append, lambda m, d: None)
    assert background.pending()
    qtbot.waitUntil(lambda: not background.pending(), timeout=TIMEOUT)
    assert results == [0, 1, 2, 3]
    assert threading.main_thread().name not in threads
    assert background.shutdown(TIMEOUT)


def test_an_error_reaches_on_error_and_the_next_call_still_runs(qtbot: QtBot) -> None:
    background = Background()
    errors: list[str] = []
    results: list[str] = []

    def boom() -> None:
        raise RuntimeError("broken")

    background.run(boom, results.append, lambda message, details: errors.append(message))
    background.run(lambda: "after", results.append, lambda m, d: None)
    qtbot.waitUntil(lambda: not background.pending(), timeout=TIMEOUT)
    assert errors == ["RuntimeError: broken"] and results == ["after"]
    assert background.shutdown(TIMEOUT)


def test_shares_the_windows_pool_and_a_gpu_call_holds_the_gpu(qtbot: QtBot) -> None:
    pool = WorkerPool()
    background = Background(pool=pool)
    held: list[bool] = []
    with qtbot.waitSignal(pool.finished, timeout=TIMEOUT):
        background.run(GPU_GATE.busy, held.append, lambda m, d: None, device="cuda")
    assert held == [True] and not GPU_GATE.busy()
    assert background.shutdown(TIMEOUT) and pool.shutdown(TIMEOUT)


def test_shutdown_refuses_new_work(qtbot: QtBot) -> None:
    background = Background()
    assert background.shutdown(TIMEOUT)
    background.run(lambda: 1, lambda value: None, lambda m, d: None)
    assert not background.pending()


def test_the_windows_helpers_share_its_pool_and_survive_its_cancel(window, qtbot) -> None:  # noqa: ANN001
    """Opening a document or Esc cancels the window's restorations, not its helpers."""
    from app.core.document import Document
    from tests.ui.conftest import rng_image

    gate, results = threading.Event(), []
    window.background.run(lambda: gate.wait(TIMEOUT / 1000), results.append, lambda m, d: None)
    assert len(window.pool.active_jobs()) == 1  # on the window's pool, not a private one
    window.set_document(Document.from_image(rng_image(32, 32)))
    window.restore.cancel_jobs()
    gate.set()
    qtbot.waitUntil(lambda: not window.background.pending(), timeout=TIMEOUT)
    assert results == [True]


def test_window_shutdown_ends_a_running_helper(window) -> None:  # noqa: ANN001
    gate, results = threading.Event(), []
    window.background.run(lambda: gate.wait(TIMEOUT / 1000), results.append, lambda m, d: None)
    window.background.run(lambda: "queued", results.append, lambda m, d: None)
    threading.Timer(0.2, gate.set).start()
    window.shutdown()
    assert not window.background.pending() and not window.pool.active_jobs()
    assert results == []  # the window is closing: no callbacks
