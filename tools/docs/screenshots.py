"""Start the real window under X11, walk through the main states and save screenshots.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/docs/screenshots.py --out docs/screenshots

Opens a sample, synthesises noise + scratches + dust in the Degrade panel, paints two mask
strokes with the brush (mouse events on the canvas), renders the registry's default
denoise method (the learned VDIR model when ``models/manifest.json`` lists one, else the
classical default) on the window's worker pool, and saves ``empty``, ``image``, ``mask``,
``split`` and ``difference`` PNGs. Each is an X11 capture of the window
(``QScreen.grabWindow``); the mouse pointer is moved with ``QCursor.setPos``. On a
platform that cannot capture (``offscreen``) it falls back to rendering the widgets
(``QWidget.grab``) and says so. Exit status 1 when a state could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QPoint, QPointF, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QCursor, QPixmap  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SHOTS = ("empty", "image", "mask", "split", "difference")
JOB_TIMEOUT_MS = 300_000


class ScreenshotError(RuntimeError):
    """A state of the walk-through could not be reached."""


def settle(ms: int = 200) -> None:
    """Run the event loop for ``ms`` so layouts, repaints and the X server catch up."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    QApplication.processEvents()


def wait_for(
    done: Any, failed: Any = None, timeout_ms: int = JOB_TIMEOUT_MS, what: str = ""
) -> None:
    """Run the event loop until ``done`` fires; raise on ``failed`` or after the timeout."""
    loop = QEventLoop()
    outcome: list[str] = []

    def finish(text: str) -> None:
        outcome.append(text)
        loop.quit()

    def on_done(*_: Any) -> None:
        finish("done")

    def on_failed(message: str = "", *_: Any) -> None:
        finish(f"failed: {message}")

    done.connect(on_done)
    if failed is not None:
        failed.connect(on_failed)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    done.disconnect(on_done)
    if failed is not None:
        failed.disconnect(on_failed)
    if not outcome or outcome[0] != "done":
        raise ScreenshotError(f"{what}: {outcome[0] if outcome else 'timed out'}")


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Process events until ``condition()`` holds (True) or the timeout passes (False)."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        settle(50)
    return True


def capture(window: Any) -> QPixmap:
    """The window as the X server shows it; a widget rendering where it cannot capture."""
    screen = window.screen() or QApplication.primaryScreen()
    if QApplication.platformName() != "offscreen" and screen is not None:
        pixmap = screen.grabWindow(window.winId())
        if not pixmap.isNull():
            return pixmap
    return window.grab()


def view_point(view: Any, x: float, y: float) -> QPoint:
    """Viewport position of image point (x, y)."""
    return view.mapFromScene(QPointF(x, y))


def paint_stroke(view: Any, points: list[tuple[float, float]]) -> None:
    """Drag the left button along image points with mouse events on the canvas."""
    viewport = view.viewport()
    none = Qt.KeyboardModifier.NoModifier
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, none, view_point(view, *points[0]))
    for x, y in points[1:]:
        QTest.mouseMove(viewport, view_point(view, x, y))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, none, view_point(view, *points[-1]))


def hover(view: Any, x: float, y: float) -> None:
    """Put the pointer over image point (x, y) so the brush cursor shows there."""
    pos = view_point(view, x, y)
    QCursor.setPos(view.viewport().mapToGlobal(pos))
    QTest.mouseMove(view.viewport(), pos)


def denoise_method() -> str:
    """The registry's default denoise method (learned VDIR when listed)."""
    from app.ml import registry

    return registry.default_method("denoise")


class Walkthrough:
    """Drives one MainWindow through the states and saves a PNG of each."""

    def __init__(self, window: Any, out: Path) -> None:
        self.window = window
        self.out = out
        self.saved: list[Path] = []
        self.grabbed_by_x11 = QApplication.platformName() != "offscreen"

    def shot(self, name: str) -> None:
        settle(300)
        path = self.out / f"{name}.png"
        if not capture(self.window).save(str(path)):
            raise ScreenshotError(f"cannot write {path}")
        self.saved.append(path)
        print("saved", path, flush=True)

    def run(self, sample: Path, method: str) -> None:
        window = self.window
        status = window.status
        wait_until(lambda: "detecting" not in status.device_label.text())
        self.shot("empty")
        if not window.open_path(sample):
            raise ScreenshotError(f"cannot open {sample}")
        window.restore_panel.select("denoise", method)
        self.shot("image")
        self.degrade_and_paint()
        self.shot("mask")
        self.render()
        self.show_split()
        self.shot("split")
        self.show_difference()
        self.shot("difference")

    def degrade_and_paint(self) -> None:
        window = self.window
        window.degrade_panel.set_values(sigma=20.0, scratches=0.6, dust=0.4, seed=3)
        window.show_degrade()
        settle()
        window.degrade_panel.apply_button.click()
        wait_for(window.document_changed, window.error_shown, 60_000, "degrade")
        window.restore_dock.raise_()
        window.view_fit()
        h, w = window.document.size
        window.set_tool("brush")
        window.set_brush_radius(12)
        window.set_brush_hardness(0.6)
        view = window.area.view
        settle()
        for stroke in (
            [(w * 0.55, h * 0.2), (w * 0.6, h * 0.26), (w * 0.66, h * 0.33), (w * 0.71, h * 0.38)],
            [(w * 0.2, h * 0.72), (w * 0.26, h * 0.68), (w * 0.33, h * 0.67), (w * 0.42, h * 0.7)],
        ):
            paint_stroke(view, stroke)
        hover(view, w * 0.76, h * 0.43)

    def render(self) -> None:
        window = self.window
        window.render_full()
        wait_for(window.jobs.result_applied, window.jobs.failed, what="render")
        doc = window.document
        if doc.result_layer() is None:
            raise ScreenshotError("the render left no result layer")
        mask = doc.mask_layer(create=False)
        if mask is not None:
            doc.set_layer_property(mask, "visible", False)

    def show_split(self) -> None:
        """Split compare, zoomed so the image fills the canvas height, on the cat's eyes."""
        window = self.window
        view = window.area.view
        h, w = window.document.size
        window.set_tool("hand")
        window.set_compare("split")
        settle()
        zoom = view.viewport().height() / h
        view.set_zoom(zoom, QPointF(view.viewport().rect().center()))
        view.centerOn(w * 0.5, h * 0.5)
        view.set_split_from_view(view.viewport().width() * 0.45)
        hover(view, w * 0.62, h * 0.45)

    def show_difference(self) -> None:
        window = self.window
        window.set_compare("off")
        window.view_fit()
        window.toggle_difference(True)
        layer = window.document.difference_layer()
        if layer is None:
            raise ScreenshotError("no difference layer after the render")
        window.layers_panel.select_layer(layer)
        h, w = window.document.size
        hover(window.area.view, w * 0.62, h * 0.45)


def make_window(settings_path: Path) -> Any:
    """A MainWindow with throw-away settings, filling the screen (at most 1600×1000)."""
    from app.ui.main_window import MainWindow

    settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.confirm = False
    window.restore_panel.live.setChecked(False)
    screen = QApplication.primaryScreen().availableGeometry()
    width, height = min(1600, screen.width()), min(1000, screen.height())
    window.setGeometry(screen.x(), screen.y(), width, height)
    window.show()
    window.raise_()
    window.activateWindow()
    return window


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--sample", type=Path, default=ROOT / "resources" / "samples" / "chelsea.png"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from app.ui.app import setup_application

    setup_application()
    method = denoise_method()
    print(f"platform {QApplication.platformName()}, denoise method {method}", flush=True)
    with tempfile.TemporaryDirectory(prefix="patina-shots-") as scratch:
        window = make_window(Path(scratch) / "settings.ini")
        walk = Walkthrough(window, args.out)
        try:
            walk.run(args.sample, method)
        except ScreenshotError as err:
            print("error:", err, file=sys.stderr)
        finally:
            window.shutdown()
            window.close()
            window.deleteLater()
            settle(50)
    if not walk.grabbed_by_x11:
        print("note: offscreen platform, widgets rendered with QWidget.grab (no X11 capture)")
    return 0 if len(walk.saved) == len(SHOTS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
