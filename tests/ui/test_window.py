"""The main window: opening, painting the mask, fills, undo, layers, compare, degrade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from app.core.document import Document
from tests.ui.conftest import rng_image


def _to_view(window, x: float, y: float) -> QPoint:  # noqa: ANN001
    return window.area.view.mapFromScene(QPointF(x, y))


def _drag(
    window, points: list[tuple[float, float]], modifier=Qt.KeyboardModifier.NoModifier
) -> None:  # noqa: ANN001
    viewport = window.area.view.viewport()
    first = _to_view(window, *points[0])
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, first)
    for x, y in points[1:]:
        QTest.mouseMove(viewport, _to_view(window, x, y))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifier, _to_view(window, *points[-1]))


def test_open_sample_shows_it(window, sample_path: Path) -> None:  # noqa: ANN001
    assert window.open_path(sample_path)
    doc = window.document
    assert doc is not None and doc.size == (300, 451)
    assert window.area.scene.item_for(doc.original) is not None
    assert "451 × 300" in window.status.size_label.text()
    assert window.layers_panel.model.rowCount() >= 1
    assert "chelsea" in window.windowTitle()


def test_open_bad_file_shows_error_and_keeps_document(window, sample_path, tmp_path) -> None:  # noqa: ANN001
    window.open_path(sample_path)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert not window.open_path(bad)
    assert window.errors and window.document is not None
    assert window.document.source == sample_path


def test_brush_stroke_paints_and_undo_clears(window, qtbot) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.set_tool("brush")
    window.set_brush_radius(4)
    _drag(window, [(20, 40), (40, 40), (60, 40), (80, 40)])
    mask = window.document.mask_layer().data
    assert mask[40, 20:81].min() > 0.99, "pixels under the stroke are painted"
    assert mask[10, :].max() == 0.0 and mask[80, :].max() == 0.0
    assert window.action("undo").isEnabled()
    assert "Brush stroke" in window.action("undo").text()
    window.undo()
    assert window.document.mask_layer().data.max() == 0.0
    window.redo()
    assert window.document.mask_layer().data[40, 50] > 0.99


def test_fast_stroke_has_no_gaps(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.set_tool("brush")
    window.set_brush_radius(2)
    _drag(window, [(5, 10), (120, 90)])  # one big jump
    mask = window.document.mask_layer().data
    for t in np.linspace(0, 1, 30):
        x, y = 5 + t * 115, 10 + t * 80
        assert mask[round(y), round(x)] > 0.5


def test_eraser_and_alt_invert(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.editor.fill_rect((0, 0, 96, 128))
    window.set_tool("eraser")
    window.set_brush_radius(3)
    _drag(window, [(30, 30), (60, 30)])
    assert window.document.mask_layer().data[30, 45] < 0.01
    window.set_tool("brush")
    _drag(window, [(30, 60), (60, 60)], Qt.KeyboardModifier.AltModifier)
    assert window.document.mask_layer().data[60, 45] < 0.01


def test_rectangle_fill_and_undo(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.set_tool("rect")
    _drag(window, [(10, 20), (30, 30), (50, 60)])
    mask = window.document.mask_layer().data
    assert mask[20:60, 10:50].min() == 1.0
    assert mask[:20].max() == 0.0 and mask[:, 51:].max() == 0.0
    window.undo()
    assert window.document.mask_layer().data.max() == 0.0


def test_lasso_fill(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.set_tool("lasso")
    _drag(window, [(20, 20), (100, 20), (100, 80), (20, 80)])
    mask = window.document.mask_layer().data
    assert mask[30:70, 30:90].min() > 0.99
    assert mask[5, 5] == 0.0 and mask[90, 120] == 0.0


def test_mask_operations_are_undoable(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.editor.fill_rect((40, 40, 50, 50))
    window.tools.mask_grow()
    assert window.document.mask_layer().data[39, 45] == 1.0
    window.tools.mask_invert()
    assert window.document.mask_layer().data[0, 0] == 1.0
    window.tools.mask_clear()
    assert window.document.mask_layer().data.max() == 0.0
    for _ in range(3):
        window.undo()
    assert window.document.mask_layer().data[45, 45] == 1.0


def test_mask_layer_selection_selects_brush(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.set_tool("hand")
    mask = window.document.mask_layer(create=True)
    window.layers_panel.select_layer(mask)
    assert window.area.view.tool() is window.tools.by_name["brush"]


def test_layers_panel_visibility_opacity_delete(window) -> None:  # noqa: ANN001
    doc = Document.from_image(rng_image())
    window.set_document(doc)
    doc.set_result(1 - doc.original.data, task="denoise", method="invert", params={})
    model = window.layers_panel.model
    result = doc.result_layer()
    row = model.row_of(result)
    model.setData(model.index(row), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not result.visible
    assert not window.area.scene.item_for(result).isVisible()
    model.setData(model.index(row), "Inverted", Qt.ItemDataRole.EditRole)
    assert result.name == "Inverted"
    window.layers_panel.select_layer(result)
    window.layers_panel.opacity.setValue(40)
    assert abs(result.opacity - 0.4) < 1e-6
    window.layers_panel.delete.click()
    assert doc.result_layer() is None
    window.undo()
    assert doc.result_layer() is result


def test_zoom_fit_and_actual(window, sample_path) -> None:  # noqa: ANN001
    window.open_path(sample_path)
    view = window.area.view
    window.view_actual()
    assert abs(view.zoom() - 1.0) < 1e-9
    assert window.status.zoom_label.text() == "100%"
    view.set_zoom(100.0)
    assert view.zoom() == 32.0
    window.view_fit()
    assert abs(view.zoom() - view.fit_zoom()) < 1e-9


def test_compare_modes_and_hold_original(window) -> None:  # noqa: ANN001
    doc = Document.from_image(rng_image())
    window.set_document(doc)
    doc.set_result(1 - doc.original.data, task="denoise", method="invert", params={})
    window.set_compare("split")
    assert window.area.scene.split_x() == 64.0
    window.area.view.set_split_from_view(window.area.view.mapFromScene(QPointF(32, 0)).x())
    assert abs(window.area.scene.split_x() - 32) < 1
    window.set_compare("side")
    assert window.area.before_view.isVisible()
    window.area.view.set_zoom(4.0)
    assert window.area.before_view.zoom() == 4.0
    window.set_compare("off")
    assert window.area.scene.split_x() is None and not window.area.before_view.isVisible()
    window.area.set_solo_original(True)
    assert not window.area.scene.item_for(doc.result_layer()).isVisible()
    window.area.set_solo_original(False)
    assert window.area.scene.item_for(doc.result_layer()).isVisible()


def test_degrade_apply_opens_document_with_ground_truth(window, qtbot) -> None:  # noqa: ANN001
    clean = rng_image(64, 64, seed=3)
    window.set_document(Document.from_image(clean))
    window.degrade_panel.set_values(sigma=25.0, scratches=0.5, seed=7)
    with qtbot.waitSignal(window.document_changed, timeout=20_000):
        window.degrade_panel.apply_button.click()
    doc = window.document
    assert doc.ground_truth is not None
    np.testing.assert_array_equal(doc.ground_truth, clean)
    assert np.abs(doc.original.data - clean).mean() > 0.02
    assert doc.recipe and doc.recipe[0]["task"] == "degrade"


def test_degrade_panel_camera_preset_and_grain_controls(window) -> None:  # noqa: ANN001
    from app.core.camera_noise import ISO_PRESETS

    panel = window.degrade_panel
    panel.camera_preset.setCurrentText("iso3200")
    panel.set_values(grain=0.4, grain_size=2.0, grain_color=0.0, demosaic="ea")
    spec = panel.spec()
    assert (spec.shot, spec.read) == pytest.approx(ISO_PRESETS["iso3200"], abs=1e-3)
    assert spec.camera == "iso3200" and spec.demosaic == "ea"
    assert (spec.grain, spec.grain_size, spec.grain_color) == pytest.approx((0.4, 2.0, 0.0))
    panel.reset()
    assert panel.spec().is_identity()


def test_degrade_live_reapplies_and_shows_input_metrics(window, qtbot) -> None:  # noqa: ANN001
    clean = rng_image(64, 64, seed=4)
    window.set_document(Document.from_image(clean))
    panel = window.degrade_panel
    panel.live.setChecked(True)
    with qtbot.waitSignal(window.document_changed, timeout=20_000):
        panel.set_values(sigma=30.0)
    qtbot.waitUntil(lambda: panel.metrics.isVisible(), timeout=20_000)
    first = panel.metrics.text()
    assert "PSNR" in first and "SSIM" in first
    np.testing.assert_array_equal(window.document.ground_truth, clean)
    with qtbot.waitSignal(window.document_changed, timeout=20_000):
        panel.set_values(sigma=5.0)  # re-synthesised from the clean image, not stacked
    qtbot.waitUntil(lambda: panel.metrics.text() != first, timeout=20_000)
    np.testing.assert_array_equal(window.document.ground_truth, clean)
    assert np.abs(window.document.original.data - clean).mean() < 0.03
    panel.live.setChecked(False)
