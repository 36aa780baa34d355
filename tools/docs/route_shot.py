"""Route layer screenshot and routed preview latency in the real window (shipped models).

    Xvfb :117 -screen 0 1600x1000x24 &
    export DISPLAY=:117 QT_QPA_PLATFORM=xcb
    .venv/bin/python tools/docs/route_shot.py shot docs/screenshots/route-layer.png
    .venv/bin/python tools/docs/route_shot.py latency

``shot``: a CBSD68 photo with spatially variant noise (linear by default: sigma 5 at the
left to 55 at the right; or ``peaks``), rendered with route=auto;
the Route layer is shown at 55 % opacity over the result and selected in the Layers
panel. ``latency``: tools/docs/steering_report.py's slider-release -> view-updated latency
(1 MP viewport, quick previews on) with route=full and route=auto, alternating, in the
same conditions.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "docs"))

import route_report  # noqa: E402
import steering_report as report  # noqa: E402

from app.core import image_io  # noqa: E402
from app.core.degradations import DegradationSpec, degrade, quantize8  # noqa: E402
from app.core.layers import LayerKind  # noqa: E402
from app.evaluation.routing import add_noise  # noqa: E402

PHOTO = Path("/work/shared/data/test/CBSD68/102061.png")


def set_route(window: Any, route: str) -> None:
    """Choose ``route`` in the Restore dock's Route box."""
    from PySide6.QtWidgets import QComboBox

    combo = window.restore_panel.form.widgets["route"]
    assert isinstance(combo, QComboBox)
    combo.setCurrentText(route)


def shot(out: Path, setting: str = "linear") -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.ui.app import setup_application
    from app.ui.main_window import MainWindow

    setup_application()
    settings = QSettings("/tmp/patina-route-shot.ini", QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.confirm = False
    window.resize(1600, 1000)
    window.show()
    report.settle(500)
    clean = quantize8(image_io.load(PHOTO).pixels)
    sigma = route_report.sigma_field(setting, clean.shape[:2])
    noisy = add_noise(clean, sigma, np.random.default_rng(0))
    path = image_io.save(Path(f"/tmp/route-{setting}.png"), noisy, bit_depth=8, overwrite=True)
    assert window.open_path(path)
    window.restore_panel.select("denoise", "vdir")
    report.wait_step(window)
    set_route(window, "auto")
    window.render_full()
    doc = window.document
    assert doc is not None
    while doc.layers.find(LayerKind.ROUTE) is None:
        report.wait_for(window.jobs.result_applied)
    layer = doc.layers.find(LayerKind.ROUTE)
    assert layer is not None
    layer.visible, layer.opacity = True, 0.55
    model = window.layers_panel.model
    row = next(r for r in range(model.rowCount()) if model.layer_at(r) is layer)
    window.layers_panel.view.setCurrentIndex(model.index(row))
    report.settle(600)
    print(window.statusBar().currentMessage())
    print(model.data(model.index(row), 3))  # the tooltip: legend and path shares
    QApplication.primaryScreen().grabWindow(0).save(str(out))
    window.shutdown()
    window.close()


def latency(repeats: int = 5) -> dict[str, Any]:
    """Median slider-release latency (ms) with route full and auto, quick previews on."""
    from app.core.document import Document
    from app.ml import registry

    service = registry.create_service("denoise", "vdir", device="cpu")
    clean = quantize8(image_io.load(report.DATA / report.IMAGE).pixels)
    big = cv2.resize(clean, (1800, 1200), interpolation=cv2.INTER_CUBIC)
    noisy = degrade(np.clip(big, 0, 1), DegradationSpec(sigma=30.0, seed=1)).image
    window = report.make_window(service, (1376, 1073))  # type: ignore[arg-type]
    window.set_document(Document.from_image(noisy))
    window.restore_panel.select("denoise", "vdir")
    report.wait_step(window)
    window.latent.panel.quick_preview.setChecked(True)
    window.latent_dock.hide()
    window.layers_dock.hide()
    report.settle()
    window.area.view.set_zoom(1.0)
    report.settle()
    y0, x0, y1, x1 = window.area.view.visible_rect()
    times: dict[str, list[float]] = {"full": [], "auto": []}
    strengths = (1.5, 0.7, 2.0, 1.2, 0.4, 1.8, 1.1, 0.9, 1.6, 1.3, 0.6, 1.7)
    for i, s in enumerate(strengths[: 2 * (repeats + 1)]):
        route = ("full", "auto")[i % 2]
        set_route(window, route)
        report.settle(50)
        window.latent.last_preview_latency = None
        window.latent.panel.strength.set_value(s)
        window.latent.panel.strength.released.emit()
        while window.latent.last_preview_latency is None:
            report.wait_for(window.jobs.result_applied)
        times[route].append(window.latent.last_preview_latency * 1000)
    window.shutdown()
    window.close()
    out = {k: {"median_ms": statistics.median(v[1:]), "all_ms": v} for k, v in times.items()}
    return {"viewport": [x1 - x0, y1 - y0], **out, "load": os.getloadavg()[0],
            "time": time.strftime("%H:%M:%S")}  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "shot":
        shot(Path(sys.argv[2]), *sys.argv[3:4])
    else:
        print(latency())
