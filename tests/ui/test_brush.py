"""Brush hardness: the toolbar control, Shift+[ / Shift+], QSettings, the painted edge."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from app.core.document import Document
from app.ui.brush_options import step_hardness
from tests.ui.conftest import rng_image


@pytest.mark.parametrize(
    ("start", "direction", "expected"),
    [(0.7, 1, 0.8), (0.7, -1, 0.6), (0.95, 1, 1.0), (1.0, 1, 1.0), (0.04, -1, 0.0), (0.0, -1, 0.0)],
)
def test_step_hardness_snaps_and_clamps(start: float, direction: int, expected: float) -> None:
    assert step_hardness(start, direction) == pytest.approx(expected)


def test_slider_sets_hardness_and_settings(window) -> None:  # noqa: ANN001
    options = window.tools.brush_options
    options.hardness_slider.setValue(35)
    assert window.editor.brush.hardness == pytest.approx(0.35)
    assert window.latent.strength_editor.brush.hardness == pytest.approx(0.35)  # latent brush too
    assert float(window.settings.value("brush/hardness")) == pytest.approx(0.35)
    assert options.hardness_label.text() == "35 %"
    options.size_box.setValue(40)
    assert window.editor.brush.radius == 40.0


def test_shift_brackets_change_hardness(window, qtbot) -> None:  # noqa: ANN001
    window.activateWindow()
    qtbot.waitActive(window)
    window.set_brush_hardness(0.7)
    QTest.keyClick(window, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.ShiftModifier)
    assert window.editor.brush.hardness == pytest.approx(0.6)
    QTest.keyClick(window, Qt.Key.Key_BraceLeft, Qt.KeyboardModifier.ShiftModifier)  # X11 form
    assert window.editor.brush.hardness == pytest.approx(0.5)
    QTest.keyClick(window, Qt.Key.Key_BraceRight, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(window, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ShiftModifier)
    assert window.editor.brush.hardness == pytest.approx(0.7)
    assert window.tools.brush_options.hardness_slider.value() == 70
    radius = window.editor.brush.radius
    QTest.keyClick(window, Qt.Key.Key_BracketRight)  # plain ] still sizes the brush
    assert window.editor.brush.radius > radius
    assert window.editor.brush.hardness == pytest.approx(0.7)


def test_hardness_is_remembered(window, qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from app.ui.main_window import MainWindow

    window.set_brush_hardness(0.3)
    window.set_brush_radius(12)
    window.settings.sync()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    try:
        assert again.editor.brush.hardness == pytest.approx(0.3)
        assert again.tools.brush_options.hardness_slider.value() == 30
        assert again.tools.brush_options.size_box.value() == 12
    finally:
        again.shutdown()


def test_soft_brush_paints_a_soft_edge(window) -> None:  # noqa: ANN001
    window.set_document(Document.from_image(rng_image()))
    window.set_brush_radius(10)
    edges = {}
    for hardness in (1.0, 0.2):
        window.set_brush_hardness(hardness)
        window.editor.begin_stroke(64, 48)
        window.editor.end_stroke()
        mask = window.document.mask_layer().data
        edges[hardness] = float(mask[48, 64 + 7])  # 7 px from the centre of a 10 px dab
        assert mask[48, 64] > 0.99
        window.undo()
    assert edges[1.0] > 0.99 and edges[0.2] < 0.6
