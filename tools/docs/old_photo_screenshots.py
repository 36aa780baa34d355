"""Screenshots of the old-photo flow in the real window: detect -> slider -> brush -> inpaint,
then the one-click pipeline with its stage layers.

    python tools/docs/old_photo_screenshots.py PHOTO [--out docs/screenshots] [--zoom Z]

Runs offscreen unless QT_QPA_PLATFORM says otherwise (e.g. ``xvfb-run -a env
QT_QPA_PLATFORM=xcb ...``). Opens PHOTO (e.g. one of ../shared/data/old_photos; the photo
itself is never copied), runs the damage detector of ``models/`` (top-hat when none is
shipped), shows the probability layer, moves the threshold slider, paints a brush
correction, inpaints (learned model when shipped, else Telea) and saves
``old_photo_{1_open,2_probability,3_mask,4_brush,5_inpainted}.png``. Then it opens PHOTO
afresh, presses *Repair all* with the default threshold and grow (detect -> inpaint ->
restore -> upscale x2) and saves ``old_photo_6_pipeline.png`` (every stage in the Layers
dock, split original / result) and ``old_photo_7_stage.png`` (Result and Restored hidden:
the inpainted stage beside the original, zoomed in).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QPointF, QSettings, Qt, QTimer  # noqa: E402


def wait_for(*signals: Any, timeout_ms: int = 300_000) -> None:
    """Run the event loop until one of ``signals`` is emitted (or the timeout)."""
    loop = QEventLoop()
    for signal in signals:
        signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def settle(app: Any, ms: int = 200) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    app.processEvents()


def paint(window: Any, stroke: list[tuple[float, float]]) -> None:
    editor = window.editor
    editor.begin_stroke(*stroke[0])
    for x, y in stroke[1:]:
        editor.stroke_to(x, y)
    editor.end_stroke()


def pipeline_shots(app: Any, window: Any, photo: Path, shot: Any) -> None:
    """Open ``photo`` afresh, press Repair all (upscale x2), shoot the stage layers."""
    window.open_path(photo)
    ctl = window.damage
    ctl.panel.threshold.setValue(0.5)  # the defaults: one click, nothing tuned
    ctl.panel.grow.setValue(1)
    ctl.panel.upscale.setValue(2)
    window.set_compare("off")
    ctl.panel.pipeline_button.click()
    wait_for(window.jobs.stages_applied, window.jobs.failed)
    doc = window.document
    mask = doc.mask_layer(create=False)
    if mask is not None:
        doc.set_layer_property(mask, "visible", False)
    window.layers_panel.select_layer(doc.result_layer())
    window.set_compare("split")
    window.area.view.set_split_from_view(window.area.view.viewport().width() * 0.5)
    shot("6_pipeline")
    for name in ("Result", "Restored"):
        layer = doc.layers.find("result", name)
        if layer is not None:
            doc.set_layer_property(layer, "visible", False)
    inpainted = doc.layers.find("result", "Inpainted")
    if inpainted is not None:
        window.layers_panel.select_layer(inpainted)
    window.set_compare("side")
    settle(app)
    h, w = doc.size
    view = window.area.view
    view.set_zoom(3.0)
    view.centerOn(w * 0.12, h * 0.55)  # the arcade, where the detector fires
    shot("7_stage")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photo", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--zoom", type=float, default=0.0, help="zoom factor (0: fit)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from app.ui.app import setup_application
    from app.ui.main_window import MainWindow

    app = setup_application()
    ini = Path(tempfile.mkdtemp()) / "old_photo.ini"
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.confirm = False
    window.restore_panel.live.setChecked(False)
    window.resize(1440, 900)
    window.show()
    settle(app)
    saved = []

    def shot(name: str) -> None:
        settle(app)
        path = args.out / f"old_photo_{name}.png"
        window.grab().save(str(path))
        saved.append(path)
        print("saved", path)

    window.open_path(args.photo)
    window.restore_panel.select("old-photo", "pipeline")  # not steerable: no Latent dock
    window.latent.update_latent_state()
    window.damage_dock.raise_()
    window.resizeDocks([window.restore_dock, window.layers_dock], [330, 560],
                       Qt.Orientation.Vertical)  # fmt: skip
    if args.zoom:
        window.area.view.set_zoom(args.zoom, QPointF(window.area.view.viewport().rect().center()))
    shot("1_open")
    ctl = window.damage
    ctl.detect()
    wait_for(ctl.detected)
    doc = window.document
    prob = ctl.probability_layer()
    mask = doc.mask_layer(create=False)
    if prob is not None and mask is not None:
        doc.set_layer_property(prob, "visible", True)
        doc.set_layer_property(mask, "visible", False)
        window.layers_panel.select_layer(prob)
    shot("2_probability")
    if prob is not None and mask is not None:
        doc.set_layer_property(prob, "visible", False)
        doc.set_layer_property(mask, "visible", True)
    ctl.panel.threshold.setValue(0.35)
    ctl.panel.grow.setValue(2)
    shot("3_mask")
    h, w = doc.size
    window.set_tool("brush")
    window.set_brush_radius(max(4.0, min(h, w) / 80))
    paint(window, [(w * 0.1, h * 0.15), (w * 0.18, h * 0.17), (w * 0.26, h * 0.16)])
    shot("4_brush")
    ctl.inpaint()
    wait_for(window.jobs.result_applied)
    mask = doc.mask_layer(create=False)
    if mask is not None:
        doc.set_layer_property(mask, "visible", False)
    window.set_tool("hand")
    window.set_compare("split")
    window.area.view.set_split_from_view(window.area.view.viewport().width() * 0.5)
    shot("5_inpainted")
    pipeline_shots(app, window, args.photo, shot)
    window.shutdown()
    window.close()
    return 0 if len(saved) == 7 else 1


if __name__ == "__main__":
    raise SystemExit(main())
