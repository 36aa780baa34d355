"""Latent steering in the window, with a tiny random VDIR model (CPU, fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from app import cli
from app.commands import restore as restore_command
from app.core import image_io
from app.core.layers import LayerKind
from app.core.progress import drive
from app.core.project import load_project, save_project
from app.ml.recipe import read_sidecar
from app.ml.services.base import ServiceInfo
from tests.ml.tiny_vdir import TinyVDIRService, tiny_service

MARGIN = 24  # px beyond which a changed latent cell cannot reach in the tiny restorer
LAYERS = {"Latent c0", "Latent c1", "Latent c2", "Latent c3", "Latent std", "EST sigma"}


def photo(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth picture with mild noise (quantised to 16 bits, as a file would hold)."""
    yy, xx = np.mgrid[0:h, 0:w] / w
    img = np.dstack([0.5 + 0.3 * np.sin(8 * xx), 0.3 + 0.5 * yy, (xx + yy) / 2])
    img = img + np.random.default_rng(seed).normal(0, 0.06, img.shape)
    return (np.round(np.clip(img, 0, 1) * 65535) / 65535).astype(np.float32)


@pytest.fixture
def tiny() -> TinyVDIRService:
    return tiny_service()


@pytest.fixture
def vdir_registry(monkeypatch: pytest.MonkeyPatch, tiny: TinyVDIRService) -> ServiceInfo:
    """The fake registry also lists a VDIR denoiser (before the window is built)."""
    from app.ml import registry
    from tests.ui.fakes import FAKE_INFOS

    infos = [*FAKE_INFOS, tiny.info]
    monkeypatch.setattr(registry, "list_services",
                        lambda task=None: [i for i in infos if task in (None, i.task)])  # fmt: skip
    return tiny.info


@pytest.fixture
def steer(vdir_registry, window, tiny, tmp_path: Path, qtbot):  # noqa: ANN001, ANN201
    """The window with a photo file open and the tiny VDIR chosen."""
    window.latent.base_factory = lambda task, method: tiny
    path = image_io.save(tmp_path / "photo.png", photo(), bit_depth=16)
    assert window.open_path(path)
    window.restore_panel.select("denoise", "vdir")
    # the automatic strength step is fixed for the document in the background
    qtbot.waitUntil(lambda: window.latent.panel.step.value() > 0, timeout=60_000)
    return window


def render(window, qtbot) -> np.ndarray:  # noqa: ANN001
    with qtbot.waitSignal(window.jobs.result_applied, timeout=60_000) as blocker:
        window.render_full()
    assert blocker.args == ["render"]
    return window.document.result_layer().data.copy()


def to_view(window, x: float, y: float):  # noqa: ANN001, ANN201
    return window.area.view.mapFromScene(QPointF(x, y))


def test_latent_dock_follows_the_method(steer, tiny) -> None:  # noqa: ANN001
    from app.ml.steering import estimate_step

    panel, form = steer.latent.panel, steer.restore_panel.form
    assert steer.latent_dock.isVisible() and panel.strength.isEnabled()
    assert panel.step.value() == estimate_step(tiny, steer.document.original.data)
    assert panel.edit().steer_sigma == panel.step.value()
    assert "latent_strength" in form.widgets
    assert not steer.restore_panel.is_row_visible("latent_strength")
    steer.restore_panel.select("denoise", "invert")
    assert not steer.latent_dock.isVisible() and not panel.strength.isEnabled()


def test_a_new_task_updates_the_dock_and_shows_its_parameters(steer) -> None:  # noqa: ANN001
    from app.ml.services.base import ParamSpec, ServiceInfo

    params = (ParamSpec("scale", 2, 2, 4), ParamSpec("sharpen", 1.0, 0.0, 3.0))
    sr = ServiceInfo("upscale", "fake-sr", "Fake SR", params=params)
    panel = steer.restore_panel
    panel.add_service(sr)
    panel.select("upscale", "fake-sr")
    assert not steer.latent_dock.isVisible()
    box = panel.form.widgets["scale"].parentWidget()
    assert box.isVisible() and panel.is_row_visible("scale") and panel.is_row_visible("sharpen")
    panel.select("denoise", "vdir")
    assert steer.latent_dock.isVisible() and not panel.is_row_visible("latent_strength")
    assert panel.form.widgets["seed"].parentWidget().isVisible()


def test_latent_layers_appear_after_a_vdir_render(steer, qtbot, tiny) -> None:  # noqa: ANN001
    result = render(steer, qtbot)
    doc = steer.document
    layers = {x.name: x for x in doc.layers.all(LayerKind.LATENT)}
    assert set(layers) == LAYERS
    assert all(not x.visible and x.shape == (24, 32) for x in layers.values())
    assert doc.recipe[-1]["method"] == "vdir" and "latent" in doc.recipe[-1]["params"]
    np.testing.assert_allclose(result, np.clip(_plain(tiny, doc.original.data), 0, 1), atol=1e-6)
    assert "Estimated noise σ" in steer.latent.panel.est_label.text()
    combo = steer.latent.panel.layer_combo
    combo.setCurrentIndex(combo.findData("Latent c1"))
    assert layers["Latent c1"].visible and not layers["Latent c0"].visible
    assert steer.area.scene.item_for(layers["Latent c1"]).isVisible()
    assert steer.latent.panel.legend.text().startswith("Latent c1: ")
    steer.latent.show_cursor_estimate(64, 48)
    assert "sigma" in steer.latent.panel.cursor_label.text()


def test_the_models_est_caveat_is_shown_with_the_estimate(steer, qtbot, tiny) -> None:  # noqa: ANN001
    tiny.est_note = "this model's EST does not track the degradation yet"
    render(steer, qtbot)
    text = steer.latent.panel.est_label.text()
    assert "Estimated noise σ" in text and tiny.est_note in text


def _plain(tiny, image):  # noqa: ANN001, ANN202
    from app.core.progress import drive

    return drive(tiny.run(image))


def test_one_strength_model_mirrored_by_both_controls(steer) -> None:  # noqa: ANN001
    model, row, dock = steer.latent.model, steer.restore_panel.form, steer.latent.panel
    dock.strength.set_value(2.0)
    assert model.strength == pytest.approx(2.0)
    assert row.values()["latent_strength"] == pytest.approx(2.0)  # the Restore row mirrors it
    row.set_values({"latent_strength": 0.5})  # ... and writes the same model
    assert model.strength == pytest.approx(0.5)
    assert dock.strength.value() == pytest.approx(0.5)
    assert steer.document.params["latent_edit"]["strength"] == pytest.approx(0.5)


def test_steered_jobs_carry_the_edit_not_strength_params(steer, qtbot, monkeypatch) -> None:  # noqa: ANN001
    submitted = []
    submit = steer.pool.submit
    monkeypatch.setattr(steer.pool, "submit", lambda job: submitted.append(job) or submit(job))
    steer.latent.panel.strength.set_value(2.5)
    render(steer, qtbot)
    job = submitted[-1]
    assert "latent_strength" not in job.params and "seed" not in job.params
    assert job.service.edit.strength == pytest.approx(2.5)
    assert steer.document.recipe[-1]["params"]["latent_strength"] == pytest.approx(2.5)


def test_strength_slider_changes_the_preview(steer, qtbot) -> None:  # noqa: ANN001
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        steer.restore.preview()
    neutral = steer.document.result_layer().data.copy()
    steer.latent.panel.strength.set_value(2.5)
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000) as blocker:
        steer.latent.panel.strength.released.emit()  # letting go previews at once
    assert blocker.args == ["preview"]
    stronger = steer.document.result_layer().data
    assert np.abs(stronger - neutral).mean() > 1e-4
    assert steer.latent.last_preview_latency is not None and steer.latent.last_preview_latency > 0
    params = steer.document.result_layer().meta["params"]
    assert params["latent_strength"] == 2.5 and params["preview"] is True


def test_preview_of_the_visible_region_matches_the_render(steer, qtbot) -> None:  # noqa: ANN001
    view = steer.area.view
    view.set_zoom(12.0)
    view.centerOn(70, 50)
    steer.latent.panel.strength.set_value(1.8)
    full = render(steer, qtbot)
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        steer.restore.preview()
    y0, x0, y1, x1 = view.visible_rect()
    assert (y1 - y0) < 96 and (x1 - x0) < 128, "only part of the image is visible"
    part = steer.document.result_layer().data[y0:y1, x0:x1]
    inner = np.s_[MARGIN // 2 : -MARGIN // 2 or None, MARGIN // 2 : -MARGIN // 2 or None]
    np.testing.assert_allclose(part[inner], full[y0:y1, x0:x1][inner], atol=2e-3)


def test_channel_reset_restores_the_output_exactly(steer, qtbot) -> None:  # noqa: ANN001
    panel = steer.latent.panel
    original = render(steer, qtbot)
    panel.gains[1].set_value(2.0)
    panel.offsets[1].set_value(0.5)
    assert np.abs(render(steer, qtbot) - original).max() > 1e-3
    panel.reset_channel(1)
    assert panel.edit().channels_neutral
    assert np.array_equal(render(steer, qtbot), original)


def test_latent_brush_changes_the_result_only_where_painted(steer, qtbot, tmp_path) -> None:  # noqa: ANN001
    before = render(steer, qtbot)
    steer.latent.use_latent_brush(erase=False)
    assert steer.action("tool_latent").isChecked()
    steer.set_brush_radius(8)
    viewport = steer.area.view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     to_view(steer, 50, 48))  # fmt: skip
    for x in (56, 62, 70, 78):
        QTest.mouseMove(viewport, to_view(steer, x, 48))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       to_view(steer, 78, 48))  # fmt: skip
    smap = steer.document.layers.find(LayerKind.STRENGTH).data
    painted = smap != 0.5
    assert painted[48, 50:79].all() and not painted[10, :].any()
    assert "clean more" in steer.action("undo").text()
    after = render(steer, qtbot)
    diff = np.abs(after - before).max(axis=2)
    assert diff[painted].mean() > 1e-3
    ys, xs = np.nonzero(painted)
    far = np.ones_like(painted)
    far[
        max(0, ys.min() - MARGIN) : ys.max() + MARGIN, max(0, xs.min() - MARGIN) : xs.max() + MARGIN
    ] = False
    assert diff[far].max() < 1e-5, (
        "outside the painted area (and the model's reach) nothing changes"
    )
    path = save_project(steer.document, tmp_path / "p.patina")
    assert np.array_equal(load_project(path).layers.find(LayerKind.STRENGTH).data, smap)
    steer.undo()  # the render
    assert "clean more" in steer.action("undo").text()
    steer.undo()  # the stroke
    assert (steer.document.layers.find(LayerKind.STRENGTH).data == 0.5).all()


def test_transplant_from_a_dragged_region(steer, qtbot) -> None:  # noqa: ANN001
    before = render(steer, qtbot)
    steer.latent.start_pick("transplant")
    viewport = steer.area.view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     to_view(steer, 4, 4))  # fmt: skip
    QTest.mouseMove(viewport, to_view(steer, 30, 20))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       to_view(steer, 36, 28))  # fmt: skip
    panel = steer.latent.panel
    assert panel.transplant_box.isChecked() and panel.transplant_ref.source == "region"
    y0, x0, y1, x1 = panel.transplant_ref.rect
    assert abs(y0 - 4) <= 1 and abs(x0 - 4) <= 1 and abs(y1 - 28) <= 1 and abs(x1 - 36) <= 1
    assert steer.area.view.tool() is not steer.latent.pick_tool, "the previous tool is back"
    after = render(steer, qtbot)
    assert np.abs(after - before).mean() > 1e-3
    part = steer.document.result_layer().meta["params"]["latent"]["transplant"]
    assert part["source"] == "region" and part["apply_to"] == "global"


def test_recipe_sidecar_reproduces_the_pixels_through_the_cli(
    steer, qtbot, tiny, tmp_path, monkeypatch
) -> None:  # noqa: ANN001, E501
    panel = steer.latent.panel
    panel.strength.set_value(1.7)
    panel.offsets[2].set_value(-0.4)
    steer.latent.strength_editor.begin_stroke(90, 60)
    steer.latent.strength_editor.stroke_to(110, 70)
    steer.latent.strength_editor.end_stroke()
    render(steer, qtbot)
    out = steer.files.export_to(tmp_path / "photo-restored.png", bit_depth=16)
    sidecar = tmp_path / "photo-restored.recipe.json"
    assert (
        out is not None
        and sidecar.exists()
        and (tmp_path / "photo-restored.latent-map.png").exists()
    )
    recipe = read_sidecar(sidecar)
    assert recipe.latent.strength == 1.7 and recipe.latent.offsets[2] == -0.4
    assert "--recipe" in sidecar.read_text()
    monkeypatch.setattr(restore_command, "create", lambda *a: tiny)
    again = tmp_path / "again.png"
    args = [
        "restore",
        recipe.input,
        "-o",
        str(again),
        "--task",
        "denoise",
        "--recipe",
        str(sidecar),
    ]
    assert cli.main([*args, "--bit-depth", "16"]) == 0
    assert np.array_equal(image_io.load(again).pixels, image_io.load(out).pixels)


def test_research_views_and_uncertainty(steer, qtbot) -> None:  # noqa: ANN001
    steer.latent.research.open_sweep()
    sweep = steer.latent.research.sweep_dialog
    sweep.count.setValue(3)
    with qtbot.waitSignal(sweep.finished_sweep, timeout=60_000):
        sweep.run()
    assert len(sweep.cells) == 3 and len(sweep.images) == 3
    sweep.cells[0].scale(2.0, 2.0)
    sweep.cells[0].moved.emit()
    assert sweep.cells[2].transform().m11() == pytest.approx(2.0)
    assert sweep.sheet().shape[1] > 2 * sweep.images[0].shape[1]  # two columns of cells
    sweep.close()
    steer.latent.research.open_embedding()
    emb = steer.latent.research.embedding_dialog
    with qtbot.waitSignal(emb.computed, timeout=60_000):
        emb.run()
    assert len(emb.view.dots) == 12  # 96x128 in 32 px patches
    QTest.mouseClick(emb.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     emb.view.dot_position(5).toPoint())  # fmt: skip
    rect = steer.latent.research.highlight.rect()
    box = emb.result.boxes[5]
    assert (rect.y(), rect.x()) == (box[1], box[2]) and rect.width() == 32
    pca = emb.result.points.copy()
    emb.projection.setCurrentIndex(emb.projection.findData("tsne"))
    with qtbot.waitSignal(emb.computed, timeout=60_000):
        emb.run()
    assert emb.result.method == "tsne" and len(emb.view.dots) == 12
    assert not np.allclose(emb.result.points, pca)
    emb.close()
    steer.latent.research.run_uncertainty(3, 0)
    qtbot.waitUntil(lambda: steer.document.layers.find(LayerKind.LATENT, "Uncertainty") is not None,
                    timeout=60_000)  # fmt: skip
    spread = steer.document.layers.find(LayerKind.LATENT, "Uncertainty")
    assert spread.shape == (96, 128) and spread.data.max() > 0 and spread.visible


def test_research_calls_run_on_the_models_device(steer, tiny, monkeypatch) -> None:  # noqa: ANN001
    """The step estimate and the uncertainty run where the model runs (a GPU waits its turn)."""
    from app.core.document import Document

    devices: list[str] = []

    def record(fn, done, error, *, device: str = "cpu") -> None:  # noqa: ANN001
        devices.append(device)

    monkeypatch.setattr(steer.background, "run", record)
    monkeypatch.setattr(tiny, "device", "cuda")  # recorded only: nothing runs
    steer.set_document(Document.from_image(photo()))  # a new document: its step is estimated
    steer.latent.research.run_uncertainty(2, 0)
    assert devices == ["cuda", "cuda"]


def test_a_large_view_is_previewed_centre_first(steer, qtbot, monkeypatch) -> None:  # noqa: ANN001
    import app.ui.controllers.latent as steering_ui

    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        steer.restore.preview()  # one step: the whole view
    whole = steer.document.result_layer().data.copy()
    monkeypatch.setattr(steering_ui, "FOCUS", 48)
    monkeypatch.setattr(steering_ui, "FOCUS_ABOVE", 1.5 * 48 * 48)
    steer.latent.panel.strength.set_value(2.0)
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        steer.latent.panel.strength.released.emit()
    centre = steer.document.result_layer().data.copy()
    assert steer.latent.last_focus_latency is not None
    assert steer.pool.active_jobs(), "the rest of the view is on its way"
    changed = np.abs(centre - whole).max(axis=2) > 1e-6
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 48 - 24 - 1 and ys.max() <= 48 + 24 and xs.min() >= 64 - 24 - 1
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        pass  # the rest of the view follows by itself
    assert not steer.pool.active_jobs()
    assert steer.latent.last_preview_latency >= steer.latent.last_focus_latency
    final = steer.document.result_layer().data
    assert np.abs(final - whole)[:12].max() > 1e-4, "the edges are updated too"
    assert len([t for t in steer.document.history.undo_texts if "Denoise" in t]) == 1


def test_ensemble_choice_reaches_the_render_and_the_recipe(steer, qtbot, tiny) -> None:  # noqa: ANN001
    from app.core.progress import drive

    form = steer.restore_panel.form
    assert "ensemble" in form.widgets  # the Restore dock offers the self-ensemble
    one = render(steer, qtbot)
    form.set_values({"ensemble": "4"})
    four = render(steer, qtbot)
    image = steer.document.original.data
    expected = drive(tiny.restore(image, tiny.encode(image), ensemble=4))
    np.testing.assert_allclose(four, expected, atol=1e-5)
    assert not np.allclose(one, four, atol=1e-4)
    assert steer.document.recipe[-1]["params"]["ensemble"] == "4"
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000) as blocker:
        steer.restore.preview()  # previews stay one view, whatever the ensemble
    assert blocker.args == ["preview"]
    np.testing.assert_allclose(steer.document.result_layer().data, one, atol=1e-5)


class QuickTiny(TinyVDIRService):
    """A tiny VDIR that restores with another model's restorer (a stand-in for the quick
    preview restorer; the latent is still this model's)."""

    def __init__(self, model, restorer) -> None:  # noqa: ANN001
        super().__init__(model)
        self.is_quick, self._restorer = True, restorer

    @property
    def restorer_model(self):  # noqa: ANN201
        return self._restorer


@pytest.fixture
def with_quick(tiny, monkeypatch):  # noqa: ANN001, ANN201
    """The tiny model ships a quick preview restorer (before the window picks it)."""
    from tests.ml.tiny_vdir import tiny_model

    quick = QuickTiny(tiny.model, tiny_model(seed=5))
    monkeypatch.setattr(tiny, "preview_file", "tiny-quick.safetensors")
    monkeypatch.setattr(tiny, "quick", lambda: quick)
    return quick


def test_quick_previews_use_the_preview_restorer_and_renders_the_full_one(
    with_quick,
    steer,
    qtbot,  # noqa: ANN001
) -> None:
    panel = steer.latent.panel
    assert panel.quick_preview.isEnabled() and panel.quick_preview.isChecked()
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        steer.restore.preview()
    quick = steer.document.result_layer().data.copy()
    with qtbot.waitSignal(steer.jobs.result_applied, timeout=60_000):
        panel.quick_preview.setChecked(False)  # a change previews again, now full
        steer.restore.preview()
    exact = steer.document.result_layer().data.copy()
    full = render(steer, qtbot)
    np.testing.assert_allclose(exact, full, atol=2e-3)
    assert np.abs(quick - full).mean() > 1e-3
    latent = with_quick.encode(steer.document.original.data)
    expected = drive(with_quick.restore(steer.document.original.data, latent))
    np.testing.assert_allclose(quick, expected, atol=2e-3)


def test_quick_previews_are_off_for_a_model_without_one(steer) -> None:  # noqa: ANN001
    assert not steer.latent.panel.quick_preview.isEnabled()
