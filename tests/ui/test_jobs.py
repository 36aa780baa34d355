"""Restore jobs from the window: preview, render, cancel, failure, staleness, no freezing."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QTimer

from app.core.document import Document
from tests.ui.conftest import rng_image
from tests.ui.fakes import (
    ConstantService,
    FailingService,
    GatedService,
    InvertService,
    SlowService,
)


def _open(window, h: int = 96, w: int = 128):  # noqa: ANN001, ANN202
    doc = Document.from_image(rng_image(h, w))
    window.set_document(doc)
    return doc


def test_render_reaches_result_layer(window, qtbot) -> None:  # noqa: ANN001
    doc = _open(window)
    window.jobs.service_override = InvertService()
    with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000) as blocker:
        window.restore_panel.render_button.click()
    assert blocker.args == ["render"]
    np.testing.assert_allclose(doc.result_layer().data, 1 - doc.original.data, atol=1e-6)
    assert doc.difference_layer() is not None
    assert window.action("show_difference").isEnabled()
    assert "Denoise" in window.action("undo").text()
    assert not window.restore_panel.cancel_button.isVisible()


def test_preview_covers_visible_region_only(window, qtbot) -> None:  # noqa: ANN001
    doc = _open(window, 300, 400)
    view = window.area.view
    view.set_zoom(4.0)
    view.centerOn(100, 100)
    roi = view.visible_rect()
    assert roi is not None and roi != (0, 0, 300, 400)
    window.jobs.service_override = InvertService()
    with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000):
        window.restore.preview()
    result, original = doc.result_layer().data, doc.original.data
    y0, x0, y1, x1 = roi
    np.testing.assert_allclose(result[y0:y1, x0:x1], 1 - original[y0:y1, x0:x1], atol=1e-6)
    np.testing.assert_array_equal(result[299, 399], original[299, 399])
    assert result_params(doc)["preview"] is True


def result_params(doc):  # noqa: ANN001, ANN201
    return doc.result_layer().meta["params"]


def test_previews_replace_each_other_in_history(window, qtbot) -> None:  # noqa: ANN001
    doc = _open(window)
    for value in (0.2, 0.4, 0.6):
        window.jobs.service_override = ConstantService(value)
        with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000):
            window.restore.preview()
    assert len(doc.history.undo_texts) == 1
    assert np.allclose(doc.result_layer().data, 0.6)
    window.jobs.service_override = ConstantService(0.9)
    with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000):
        window.render_full()
    assert len(doc.history.undo_texts) == 1 and np.allclose(doc.result_layer().data, 0.9)
    window.undo()
    assert doc.result_layer() is None


def test_debounced_live_preview(window, qtbot) -> None:  # noqa: ANN001
    _open(window)
    window.restore_panel.live.setChecked(True)
    window.jobs.service_override = InvertService()
    submitted: list[int] = []
    window.pool.started.connect(submitted.append)
    with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000):
        for value in (0.1, 0.2, 0.3, 0.4):  # four quick edits -> one preview
            window.restore_panel.form.set_values({"strength": value})
    assert len(submitted) == 1


def test_cancel_stops_within_one_tile(window, qtbot) -> None:  # noqa: ANN001
    doc = _open(window)
    service = GatedService(tiles=10)
    window.jobs.service_override = service
    with qtbot.waitSignal(window.pool.started, timeout=20_000):
        window.render_full()
    assert window.restore_panel.cancel_button.isEnabled()
    with qtbot.waitSignal(window.pool.cancelled, timeout=20_000):
        window.restore.cancel_jobs()
        service.gate.set()
    assert service.started <= 1, "work stopped before the next tile"
    assert doc.result_layer() is None
    assert not window.jobs.is_rendering()
    assert window.restore_panel.status.text() == "Cancelled"


def test_failing_service_shows_error_and_window_stays_usable(window, qtbot) -> None:  # noqa: ANN001
    doc = _open(window)
    window.editor.fill_rect((10, 10, 20, 20))
    window.jobs.service_override = FailingService()
    with qtbot.waitSignal(window.error_shown, timeout=20_000) as blocker:
        window.render_full()
    assert "illegal memory access" in blocker.args[0]
    dialog = window.errors[-1]
    assert not dialog.isModal() and dialog.isVisible()
    assert "Traceback" in dialog.details.toPlainText()
    dialog.copy_details()
    assert doc.mask_layer().data[15, 15] == 1.0, "nothing in the document is lost"
    assert window.action("render").isEnabled()
    window.jobs.service_override = InvertService()
    with qtbot.waitSignal(window.jobs.result_applied, timeout=20_000):
        window.render_full()
    assert doc.result_layer() is not None


def test_stale_preview_never_overwrites_newer(window, qtbot) -> None:  # noqa: ANN001
    doc = _open(window)
    old = GatedService(tiles=1, value=0.1)
    window.jobs.service_override = old
    with qtbot.waitSignal(window.pool.started, timeout=20_000):
        window.restore.preview()
    window.jobs.service_override = ConstantService(0.7)
    with qtbot.waitSignals([window.jobs.result_applied, window.pool.stale], timeout=20_000):
        window.restore.preview()
        old.gate.set()
    window.pool.wait(20_000)
    qtbot.wait_until(lambda: not window.pool.active_jobs(), timeout=20_000)
    assert np.allclose(doc.result_layer().data, 0.7)


def test_ui_never_freezes_during_a_slow_job(window, qtbot) -> None:  # noqa: ANN001
    _open(window, 256, 256)
    window.jobs.service_override = SlowService(seconds=3.0)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    with qtbot.waitSignal(window.jobs.result_applied, timeout=30_000):
        window.render_full()
    timer.stop()
    gaps = np.diff(ticks)
    assert len(ticks) > 100
    assert gaps.max() < 0.100, f"the GUI thread stalled for {gaps.max() * 1000:.0f} ms"
