"""Damage panel flow: detect -> threshold slider changes the mask -> brush correction ->
inpaint result layer (known pixels unchanged) -> undo walks back each stage; and the
one-click old-photo pipeline (tiny VDIR restorer) landing every stage as a layer."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from app.core.damage import scratches
from app.core.document import Document
from app.core.layers import LayerKind
from app.ml.classical_services import BicubicUpscaler, NavierStokesInpainter, TeleaInpainter
from app.ml.services.detect import DetectService, TopHatDetector
from app.ml.services.old_photo import OldPhotoPipeline, OldPhotoService
from app.ui.stage_layers import STEP_TEXTS
from tests.ml.tiny_vdir import tiny_service


def _scan() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = np.full((120, 160, 3), 0.45, np.float32) + rng.normal(0, 0.01, (120, 160, 3))
    damaged, _ = scratches(base.clip(0, 1).astype(np.float32), 0.6, rng)
    return damaged


def _drag(window, points: list[tuple[float, float]]) -> None:  # noqa: ANN001
    viewport = window.area.view.viewport()

    def at(x: float, y: float) -> QPoint:
        return window.area.view.mapFromScene(QPointF(x, y))

    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     at(*points[0]))  # fmt: skip
    for x, y in points[1:]:
        QTest.mouseMove(viewport, at(x, y))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       at(*points[-1]))  # fmt: skip


@pytest.fixture
def damage(window):  # noqa: ANN001, ANN201
    ctl = window.damage
    ctl.detect_factory = lambda: DetectService(TopHatDetector())
    ctl.inpaint_factory = NavierStokesInpainter
    ctl.ask = lambda: pytest.fail("asked although the user painted nothing")
    window.set_document(Document.from_image(_scan()))
    return ctl


def _detect(qtbot, ctl) -> None:  # noqa: ANN001
    with qtbot.waitSignal(ctl.detected, timeout=30_000):
        ctl.detect()


def test_detect_slider_brush_inpaint_undo(window, qtbot, damage) -> None:  # noqa: ANN001
    doc = window.document
    _detect(qtbot, damage)
    prob = doc.layers.find(LayerKind.PROBABILITY)
    assert prob is not None and prob.data.shape == doc.size
    first = doc.mask_layer().data.copy()
    assert first.any()
    damage.panel.threshold.setValue(0.9)  # stricter -> fewer pixels, same undo step
    strict = doc.mask_layer().data.copy()
    assert strict.sum() < first.sum()
    assert doc.history.undo_texts.count("Detected damage") == 1
    assert doc.recipe[-1] == {"task": "detect", "method": "tophat",
                              "params": {"threshold": 0.9, "grow": 1}}  # fmt: skip
    window.set_tool("brush")
    window.set_brush_radius(3)
    _drag(window, [(10, 10), (30, 10)])  # brush correction
    painted = doc.mask_layer().data.copy()
    assert painted[10, 12:28].min() > 0.99
    with qtbot.waitSignal(window.jobs.result_applied, timeout=30_000):
        damage.inpaint()
    result = doc.result_layer()
    assert result is not None
    keep = painted == 0
    assert np.array_equal(result.data[keep], doc.original.data[keep])
    assert not np.allclose(result.data[~keep], doc.original.data[~keep])
    window.undo()  # inpaint
    assert doc.result_layer() is None
    window.undo()  # brush stroke
    assert np.array_equal(doc.mask_layer().data, strict)
    window.undo()  # detected mask (slider updates shared one step)
    assert not doc.mask_layer().data.any()
    assert not any(e.get("task") == "detect" for e in doc.recipe)
    window.undo()  # probability layer
    assert doc.layers.find(LayerKind.PROBABILITY) is None


def test_slider_asks_before_replacing_a_painted_mask(window, qtbot, damage) -> None:  # noqa: ANN001
    doc = window.document
    _detect(qtbot, damage)
    window.set_tool("brush")
    window.set_brush_radius(3)
    _drag(window, [(10, 100), (40, 100)])
    painted = doc.mask_layer().data.copy()
    answers: list[str] = ["cancel", "merge"]
    damage.ask = lambda: answers.pop(0)
    damage.panel.grow.setValue(3)  # cancel: the user's mask stays
    assert np.array_equal(doc.mask_layer().data, painted)
    damage.panel.grow.setValue(2)  # merge: painted pixels kept, detection added
    merged = doc.mask_layer().data
    assert merged[100, 12:38].min() > 0.99 and merged.sum() >= painted.sum()
    assert not answers


# -- one-click pipeline -------------------------------------------------------------------


@pytest.fixture
def pipeline(damage):  # noqa: ANN001, ANN201
    """The window's pipeline: top-hat detector, Telea, a tiny VDIR old-photo restorer and
    bicubic upscaling (the service of the last run is ``pipeline.service``)."""
    stages = OldPhotoPipeline(TopHatDetector(level=0.1), TeleaInpainter(),
                              tiny_service("old-photo"), BicubicUpscaler())  # fmt: skip

    def make() -> OldPhotoService:
        damage.service = OldPhotoService(stages)
        return damage.service

    damage.pipeline_factory = make
    return damage


def _paint_user_mask(window) -> np.ndarray:  # noqa: ANN001
    window.set_tool("brush")
    window.set_brush_radius(3)
    _drag(window, [(10, 100), (40, 100)])
    return window.document.mask_layer().data.copy()


def _results(doc) -> list[str]:  # noqa: ANN001
    return [layer.name for layer in doc.layers.all(LayerKind.RESULT)]


def _stage_recipe(doc) -> list[str]:  # noqa: ANN001
    return [e["stage"] for e in doc.recipe if e.get("task") == "old-photo"]


def test_pipeline_lands_each_stage_and_undo_walks_back(window, qtbot, pipeline) -> None:  # noqa: ANN001
    doc = window.document
    painted = _paint_user_mask(window)
    pipeline.panel.upscale.setValue(2)
    with qtbot.waitSignal(window.jobs.stages_applied, timeout=60_000) as landed:
        pipeline.run_pipeline()
    assert landed.args == [["probability", "mask", "inpainted", "restored", "upscaled"]]
    res = pipeline.service.last
    h, w = doc.size
    assert doc.layers.find(LayerKind.PROBABILITY).data.shape == (h, w)
    assert _results(doc) == ["Inpainted", "Restored", "Result"]
    assert doc.result_layer().data.shape == (2 * h, 2 * w, 3)
    assert doc.result_layer().meta["stage"] == "upscaled"
    mask = doc.mask_layer().data
    assert np.all(mask >= painted) and mask.sum() > painted.sum()  # user's pixels kept
    assert np.array_equal(mask, res.mask)
    inpainted = doc.layers.find(LayerKind.RESULT, "Inpainted").data
    keep = mask == 0
    assert np.array_equal(inpainted[keep], doc.original.data[keep])
    assert not np.allclose(inpainted[~keep], doc.original.data[~keep])
    assert _stage_recipe(doc) == ["detect", "inpaint", "old-photo", "upscale"]
    assert doc.recipe[-4]["params"]["merged"] is True
    steps = ["probability", "mask", "inpainted", "restored", "upscaled"]
    assert doc.history.undo_texts[-5:] == [STEP_TEXTS[s] for s in steps]
    assert not pipeline.panel.detect_check.isChecked()  # next repair uses this mask
    window.undo()  # final (upscaled)
    assert _results(doc) == ["Inpainted", "Restored"]
    assert _stage_recipe(doc) == ["detect", "inpaint", "old-photo"]
    window.undo()  # restored
    assert _results(doc) == ["Inpainted"]
    window.undo()  # inpainted
    assert _results(doc) == [] and _stage_recipe(doc) == ["detect"]
    window.undo()  # mask
    assert np.array_equal(doc.mask_layer().data, painted) and _stage_recipe(doc) == []
    window.undo()  # probability
    assert doc.layers.find(LayerKind.PROBABILITY) is None
    window.undo()  # the user's brush stroke, untouched by the pipeline
    assert not doc.mask_layer().data.any()


def test_pipeline_from_restore_dock_repairs_only_the_mask(window, qtbot, pipeline) -> None:  # noqa: ANN001
    doc = window.document
    painted = _paint_user_mask(window)
    window.restore_panel.select("old-photo", "pipeline", detect=False)
    assert window.restore_panel.selection()[:2] == ("old-photo", "pipeline")
    with qtbot.waitSignal(window.jobs.stages_applied, timeout=60_000) as landed:
        window.render_full()
    assert landed.args == [["inpainted", "restored"]]
    assert doc.layers.find(LayerKind.PROBABILITY) is None
    assert np.array_equal(doc.mask_layer().data, painted)
    assert _results(doc) == ["Inpainted", "Result"]
    assert _stage_recipe(doc) == ["inpaint", "old-photo"]


def test_restore_for_grain_runs_the_grain_restorer(window, qtbot, damage) -> None:  # noqa: ANN001
    stages = OldPhotoPipeline(None, TeleaInpainter(), tiny_service("old-photo"), None,
                              tiny_service("denoise"))  # fmt: skip
    damage.pipeline_factory = lambda: OldPhotoService(stages)
    damage.panel.detect_check.setChecked(True)  # no detector: nothing detected, no inpaint
    damage.panel.restore_kind.setCurrentIndex(1)
    assert damage.panel.pipeline_params()["restore"] == "grain"
    with qtbot.waitSignal(window.jobs.stages_applied, timeout=60_000) as landed:
        damage.run_pipeline()
    assert landed.args == [["restored"]]
    assert _stage_recipe(window.document) == ["denoise"]
