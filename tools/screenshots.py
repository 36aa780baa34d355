"""Start the real window, walk through the main states and save screenshots.

    python tools/screenshots.py [--out docs/screenshots]

Runs offscreen (``QT_QPA_PLATFORM=offscreen``, the default here) or under Xvfb
(``xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots.py`` with
``QT_QPA_PLATFORM=xcb``). Opens a sample, synthesises noise + scratches (Degrade panel),
paints a mask, renders a restoration and saves empty, image, mask, split and difference
PNGs. When the model registry is not installed, a classical OpenCV denoiser stands in.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QEventLoop, QPointF, QSettings, Qt, QTimer  # noqa: E402  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402

from app.core.progress import Progress, Work  # noqa: E402
from app.ml.services.base import ParamSpec, Service, ServiceInfo  # noqa: E402


class OpenCvDenoise(Service):
    """Non-local means (OpenCV) in bands: a stand-in when no model registry is present."""

    info = ServiceInfo(
        "denoise",
        "nlmeans",
        "Non-local means (OpenCV)",
        "Classical patch-based denoising; fast, no model needed",
        params=(ParamSpec("strength", 12.0, 1.0, 40.0, help="filter strength (0..255 scale)"),),
    )

    def _run(
        self, image: np.ndarray, mask: Any, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        u8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        h = float(params["strength"])
        out = cv2.fastNlMeansDenoisingColored(u8, None, h, h, 7, 21)
        yield Progress(1, 1, "denoise")
        return out.astype(np.float32) / 255.0


def install_fallback_registry() -> Any:
    """Use the real registry when it lists services; otherwise the OpenCV stand-in."""
    try:
        from app.ml import registry

        if registry.list_services("denoise"):
            return None
    except ImportError:
        pass
    import types

    import app.ml

    fake = types.ModuleType("app.ml.registry")
    fake.list_services = lambda task=None: [OpenCvDenoise.info] if task in (None, "denoise") else []
    fake.default_method = lambda task: "nlmeans"
    sys.modules["app.ml.registry"] = fake
    app.ml.registry = fake  # type: ignore[attr-defined]
    return OpenCvDenoise()


def wait_for(signal: Any, timeout_ms: int = 60_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def settle(app: Any, ms: int = 150) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    app.processEvents()


def hover(view: Any, x: float, y: float) -> None:
    """Move the (synthetic) mouse over image point (x, y) so the brush cursor shows."""
    pos = QPointF(view.mapFromScene(QPointF(x, y)))
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        pos,
        view.viewport().mapToGlobal(pos),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view.mouseMoveEvent(event)


def paint(window: Any, strokes: list[list[tuple[float, float]]]) -> None:
    editor = window.editor
    for stroke in strokes:
        editor.begin_stroke(*stroke[0])
        for x, y in stroke[1:]:
            editor.stroke_to(x, y)
        editor.end_stroke()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--sample", type=Path, default=ROOT / "resources" / "samples" / "chelsea.png"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    service = install_fallback_registry()

    from app.ui.app import setup_application
    from app.ui.main_window import MainWindow

    app = setup_application()
    settings = QSettings(str(args.out / ".screenshots.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.confirm = False
    window.restore_panel.live.setChecked(False)
    window.jobs.service_override = service
    window.resize(1440, 900)
    window.show()
    settle(app)
    shots: dict[str, Path] = {}

    def shot(name: str) -> None:
        settle(app)
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        shots[name] = path
        print("saved", path)

    shot("empty")
    window.open_path(args.sample)
    shot("image")

    window.degrade_panel.set_values(sigma=20.0, scratches=0.6, dust=0.4, seed=3)
    window.show_degrade()
    window.degrade_panel.apply_button.click()
    wait_for(window.document_changed)
    window.restore_dock.raise_()
    h, w = window.document.size
    window.set_tool("brush")
    window.set_brush_radius(14)
    paint(
        window,
        [
            [(w * 0.55, h * 0.2), (w * 0.62, h * 0.3), (w * 0.7, h * 0.38)],
            [(w * 0.2, h * 0.7), (w * 0.3, h * 0.66), (w * 0.42, h * 0.7)],
        ],
    )
    hover(window.area.view, w * 0.74, h * 0.42)
    shot("mask")

    window.render_full()
    wait_for(window.jobs.result_applied)
    mask = window.document.mask_layer(create=False)
    if mask is not None:
        window.document.set_layer_property(mask, "visible", False)
    window.set_tool("hand")
    window.set_compare("split")
    window.area.view.set_zoom(2.0, QPointF(window.area.view.viewport().rect().center()))
    window.area.view.centerOn(w * 0.45, h * 0.45)
    window.area.view.set_split_from_view(window.area.view.viewport().width() * 0.45)
    shot("split")

    window.set_compare("off")
    window.view_fit()
    window.toggle_difference(True)
    if window.document.difference_layer() is not None:
        window.layers_panel.select_layer(window.document.difference_layer())
    shot("difference")
    window.shutdown()
    window.close()
    (args.out / ".screenshots.ini").unlink(missing_ok=True)
    return 0 if len(shots) == 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
