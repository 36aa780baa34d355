"""The Batch dialog: start, progress, pause, resume, cancel (offscreen, fake service);
the batch runs as a worker-pool job under the one-GPU-job rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.batch.recipe import Recipe
from app.batch.runner import Summary
from app.ui.dialogs.batch import BatchDialog, format_eta
from app.workers import GPU_GATE, Job, WorkerPool
from tests.batch.fakes import TokenService, write_image
from tests.workers.test_pool import ConcurrencyProbe

FILES = 8


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    for i in range(FILES):
        write_image(tmp_path / "in" / f"scan{i}.png", i)
    return tmp_path / "in", tmp_path / "out"


@pytest.fixture
def dialog(qtbot, folders: tuple[Path, Path]):  # noqa: ANN001, ANN201
    service = TokenService()
    dlg = BatchDialog(factory=lambda *args: service)
    dlg.service = service  # type: ignore[attr-defined]
    qtbot.addWidget(dlg)
    dlg.input_edit.setText(str(folders[0]))
    dlg.output_edit.setText(str(folders[1]))
    dlg.show()
    yield dlg
    service.release(1000)
    dlg.close()
    assert not dlg.is_running()


def click(qtbot, button) -> None:  # noqa: ANN001
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_start_progress_pause_resume_cancel(qtbot, dialog: BatchDialog) -> None:  # noqa: ANN001
    service: TokenService = dialog.service  # type: ignore[attr-defined]
    with qtbot.waitSignal(dialog.file_finished, timeout=20_000):
        click(qtbot, dialog.start_button)
        assert dialog.state == "running" and not dialog.start_button.isEnabled()
        service.release(1)
    qtbot.waitUntil(lambda: dialog.progress.value() == 1, timeout=10_000)
    assert dialog.eta_label.text().startswith(f"1 of {FILES}")
    assert dialog.table.item(0, 1).text() == "scan0.png"
    assert dialog.table.item(0, 2).text() == "done"
    assert not dialog.table.item(0, 0).icon().isNull()  # the after-thumbnail

    click(qtbot, dialog.pause_button)
    assert dialog.state == "paused" and dialog.resume_button.isEnabled()
    service.release(1)  # the next file runs one tile, then the pause holds it
    qtbot.waitUntil(lambda: dialog.control.parked == 1, timeout=10_000)
    assert dialog.table.rowCount() == 1

    with qtbot.waitSignal(dialog.file_finished, timeout=20_000):
        click(qtbot, dialog.resume_button)
    assert dialog.state == "running"
    qtbot.waitUntil(lambda: dialog.progress.value() == 2, timeout=10_000)

    service.wait_started(3)  # the third file is in flight
    click(qtbot, dialog.cancel_button)
    assert dialog.state == "stopping" and "after the files in flight" in dialog.status_label.text()
    with qtbot.waitSignal(dialog.batch_finished, timeout=20_000) as blocker:
        service.release(1000)
    summary: Summary = blocker.args[0]
    assert summary.interrupted and summary.restored == 3
    assert summary.counts["pending"] == FILES - 3
    assert dialog.state == "stopped" and dialog.start_button.isEnabled()
    assert "files left" in dialog.status_label.text()


def test_start_again_continues_the_batch(qtbot, dialog: BatchDialog) -> None:  # noqa: ANN001
    dialog.service.release(1000)  # type: ignore[attr-defined]
    with qtbot.waitSignal(dialog.batch_finished, timeout=30_000) as first:
        click(qtbot, dialog.start_button)
    assert first.args[0].restored == FILES and dialog.state == "finished"
    with qtbot.waitSignal(dialog.batch_finished, timeout=30_000) as second:
        click(qtbot, dialog.start_button)
    assert second.args[0].todo == 0


def test_bad_input_is_shown_not_raised(qtbot, dialog: BatchDialog) -> None:  # noqa: ANN001
    dialog.input_edit.setText(str(Path(dialog.output_edit.text()).parent / "missing"))
    with qtbot.waitSignal(dialog.batch_failed, timeout=5_000):
        click(qtbot, dialog.start_button)
    assert dialog.state == "error" and "not a folder" in dialog.status_label.text()


def test_recipe_round_trip(qtbot, dialog: BatchDialog, tmp_path: Path) -> None:  # noqa: ANN001
    dialog.apply_recipe(Recipe("denoise", "invert", {"strength": 0.5}, output_format="tiff"))
    recipe = dialog.recipe()
    assert (recipe.method, recipe.params, recipe.output_format) == (
        "invert", {"strength": 0.5}, "tiff",
    )  # fmt: skip
    dialog.method_combo.setCurrentText("(default)")
    assert dialog.recipe().params == {}


def test_format_eta() -> None:
    assert (format_eta(None), format_eta(65), format_eta(3723)) == ("--", "1:05", "1:02:03")


def test_file_menu_opens_the_dialog(qtbot, window) -> None:  # noqa: ANN001
    file_menu = window.menuBar().actions()[0].menu()
    (action,) = [a for a in file_menu.actions() if a.text() == "&Batch…"]
    action.trigger()
    assert isinstance(window.batch_dialog, BatchDialog) and window.batch_dialog.isVisible()
    assert window.batch_dialog.pool is window.pool  # queues with the window's restorations
    window.batch_dialog.close()


class GpuTokenService(TokenService):
    """A batch service that counts itself into the shared GPU-overlap probe."""

    def _run(self, image, mask, params, tile):  # noqa: ANN001, ANN202
        probe = ConcurrencyProbe
        with probe.lock:
            probe.running += 1
            probe.peak = max(probe.peak, probe.running)
        try:
            return (yield from super()._run(image, mask, params, tile))
        finally:
            with probe.lock:
                probe.running -= 1


def test_batch_runs_on_the_pool_and_takes_turns_with_a_gpu_restore(
    qtbot, folders: tuple[Path, Path]
) -> None:  # noqa: ANN001
    """The batch is a pool job; an interactive GPU restore (another pool, as the window's)
    waits for it: the two never run on the GPU at the same time."""
    ConcurrencyProbe.running = ConcurrencyProbe.peak = 0
    service = GpuTokenService()
    batch_pool = WorkerPool(resolve_device=lambda job: "cuda")
    dlg = BatchDialog(factory=lambda *args: service, pool=batch_pool)
    qtbot.addWidget(dlg)
    dlg.input_edit.setText(str(folders[0]))
    dlg.output_edit.setText(str(folders[1]))
    window_pool = WorkerPool(resolve_device=lambda job: "cuda")
    click(qtbot, dlg.start_button)
    service.wait_started(1)
    assert batch_pool.active_jobs() == [dlg._job] and GPU_GATE.busy()
    restore = window_pool.submit(
        Job(
            task="denoise",
            method="fake",
            image=np.zeros((8, 8, 3), np.float32),
            service=ConcurrencyProbe(tiles=2),
        )  # fmt: skip
    )
    with qtbot.waitSignal(dlg.batch_finished, timeout=30_000) as blocker:
        service.release(1000)
    assert blocker.args[0].restored == FILES and not dlg.is_running()
    assert window_pool.wait_for(restore, 10_000)
    assert ConcurrencyProbe.peak == 1
    dlg.close()
