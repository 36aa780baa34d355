"""End to end, offscreen: the real window, the real registry and worker pool, a real model.

Open a small crop of a sample -> Degrade panel (noise sigma 25 + scratches) -> a brush
stroke on the mask -> render the registry's default denoise method on the window's
WorkerPool (the learned VDIR model listed in ``models/manifest.json``; and again with no
models installed: the classical default) -> the result beats the degraded input against
the ground truth -> export a 16-bit PNG and read it back -> save a project, reopen it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from app.core import image_io  # noqa: E402
from app.core.metrics import psnr  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chelsea.png"
CROP = (60, 150, 220, 310)  # y0, x0, y1, x1: 160 x 160 px around an eye
JOB_TIMEOUT_MS = 120_000


@pytest.fixture
def crop_path(tmp_path: Path) -> Path:
    """A 160 x 160 8-bit PNG cut from the sample (speed: the model runs on the CPU)."""
    if not SAMPLE.exists():
        pytest.skip("sample images are missing")
    y0, x0, y1, x1 = CROP
    pixels = image_io.load(SAMPLE).pixels[y0:y1, x0:x1]
    return image_io.save(tmp_path / "chelsea-crop.png", pixels, bit_depth=8)


@pytest.fixture(params=["shipped", "none"])
def models(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: ANN001
    """The models folder: the shipped one, or an empty one (classical default method)."""
    if request.param == "none":
        (tmp_path / "no-models").mkdir()
        monkeypatch.setenv("PATINA_MODELS_DIR", str(tmp_path / "no-models"))
    else:
        monkeypatch.delenv("PATINA_MODELS_DIR", raising=False)
    return str(request.param)


@pytest.fixture
def window(qtbot, tmp_path: Path, models: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # noqa: ANN001
    """The MainWindow (its Restore panel lists ``models``' services) with its own settings;
    no job or visible widget may outlive it."""
    from app.ui.app import style
    from app.ui.main_window import MainWindow
    from app.workers.pool import WorkerPool

    monkeypatch.setenv("PATINA_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    style(qtbot_app())
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.confirm = False
    win.restore_panel.live.setChecked(False)  # only the render runs a model
    qtbot.addWidget(win)
    win.resize(1100, 750)
    win.show()
    qtbot.waitExposed(win)
    errors: list[str] = []
    win.error_shown.connect(errors.append)
    yield win
    win.shutdown()
    assert not win.pool.active_jobs(), "a job outlived the test"
    for dialog in list(win.errors):
        dialog.close()
    win.close()
    assert all(not pool.is_busy() for pool in WorkerPool.live_pools())
    assert not errors, f"the flow showed errors: {errors}"


def qtbot_app():  # noqa: ANN201
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def _drag(view, points: list[tuple[float, float]]) -> None:  # noqa: ANN001
    """A left-button stroke through image points, as mouse events on the canvas."""

    def at(x: float, y: float) -> QPoint:
        return view.mapFromScene(QPointF(x, y))

    viewport, none = view.viewport(), Qt.KeyboardModifier.NoModifier
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, none, at(*points[0]))
    for point in points[1:]:
        QTest.mouseMove(viewport, at(*point))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, none, at(*points[-1]))


def _degrade(window, qtbot) -> None:  # noqa: ANN001
    panel = window.degrade_panel
    panel.set_values(sigma=25.0, scratches=0.5, seed=7)
    window.show_degrade()
    with qtbot.waitSignal(window.document_changed, timeout=JOB_TIMEOUT_MS):
        panel.apply_button.click()
    window.view_fit()


def _render_default_denoise(window, qtbot) -> str:  # noqa: ANN001
    """Choose the registry's default denoise method and render it; the method."""
    from app.ml import registry

    method = registry.default_method("denoise")
    window.restore_panel.select("denoise", method)
    assert window.restore_panel.selection()[:2] == ("denoise", method)
    failures: list[str] = []
    window.jobs.failed.connect(lambda message, details: failures.append(message))
    with qtbot.waitSignal(
        window.jobs.busy_changed, timeout=JOB_TIMEOUT_MS, check_params_cb=lambda busy: not busy
    ):
        window.render_full()
    assert not failures, failures
    return method


def test_degrade_paint_render_export_and_project(
    window,
    qtbot,
    crop_path,
    tmp_path,
    models,  # noqa: ANN001
) -> None:
    assert window.open_path(crop_path)
    _degrade(window, qtbot)
    doc = window.document
    truth, degraded = doc.ground_truth, doc.original.data.copy()
    assert truth is not None and truth.shape == degraded.shape == (160, 160, 3)

    window.set_tool("brush")
    window.set_brush_radius(5)
    _drag(window.area.view, [(30, 120), (60, 122), (90, 125), (120, 128)])
    mask = doc.mask_layer().data
    assert mask[122, 60] > 0.99 and mask[125, 90] > 0.99, "the stroke painted the mask"
    assert "Brush stroke" in window.action("undo").text()

    method = _render_default_denoise(window, qtbot)
    from app.ml import registry

    learned = {info.method for info in registry.list_services("denoise") if info.learned}
    assert (method in learned) == (models == "shipped" and bool(learned))
    result = doc.result_layer()
    assert result is not None and result.meta["method"] == method
    assert result.data.shape == truth.shape
    assert psnr(result.data, truth) > psnr(degraded, truth) + 1.0
    assert window.restore_panel.metrics.isVisibleTo(window.restore_panel)

    exported = window.files.export_to(tmp_path / "restored.png", bit_depth=16)
    assert exported is not None
    raw = cv2.imread(str(exported), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16 and raw.shape == (160, 160, 3)
    loaded = image_io.load(exported)
    assert loaded.meta.bit_depth == 16
    np.testing.assert_allclose(loaded.pixels, np.clip(result.data, 0, 1), atol=1 / 65535 + 1e-6)

    project_path = tmp_path / "work.patina"
    assert window.files.save_to(project_path) and not doc.modified
    window.set_document(None)
    assert window.open_path(project_path)
    again = window.document
    np.testing.assert_array_equal(again.original.data, degraded)
    np.testing.assert_array_equal(again.mask_layer().data, mask)
    np.testing.assert_array_equal(again.result_layer().data, result.data)
    assert again.ground_truth is not None
    assert [entry["task"] for entry in again.recipe] == ["degrade", "denoise"]
