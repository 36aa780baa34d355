"""Time painting on a 24 MP image: milliseconds per mouse move of a brush stroke.

    python tools/bench/bench_brush.py [--megapixels 24] [--radius 40] [--moves 200]

Measures what one mouse-move costs in the window: the core dab (``apply_stroke`` on the
mask in place, undo bookkeeping) plus re-tinting the dirty rectangle of the overlay and
the view's repaint of that rectangle (offscreen). Prints median and 95th percentile.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from PySide6.QtCore import (  # noqa: E402
    QEvent,  # noqa: E402
    QPointF,
    QSettings,
    Qt,
)
from PySide6.QtGui import QMouseEvent  # noqa: E402


def profile_dab(window, cx: float, cy: float) -> None:  # noqa: ANN001
    """The model part alone: core dab + undo bookkeeping + overlay re-tint (no painting)."""
    editor = window.editor
    editor.begin_stroke(cx, cy)
    times = []
    for i in range(100):
        t0 = time.perf_counter()
        editor.stroke_to(cx + 3 * i, cy + 40 * np.sin(i / 10))
        times.append((time.perf_counter() - t0) * 1000)
    editor.end_stroke()
    print(
        f"  dab + overlay only: median {np.median(times):.2f} ms, "
        f"p95 {np.percentile(times, 95):.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--radius", type=float, default=40.0)
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    from app.core.document import Document
    from app.ui.app import setup_application
    from app.ui.main_window import MainWindow

    app = setup_application()
    w = int(round((args.megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(args.megapixels * 1e6 / w))
    image = np.full((h, w, 3), 0.5, np.float32)
    settings = QSettings(str(Path("/tmp/patina-bench.ini")), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.confirm = False
    window.resize(1400, 900)
    window.show()
    window.set_document(Document.from_image(image))
    window.set_tool("brush")
    window.set_brush_radius(args.radius)
    view = window.area.view
    view.actual_pixels()
    app.processEvents()
    viewport = view.viewport()
    centre = view.image_pos(QPointF(viewport.rect().center()))

    def send(kind: QEvent.Type, x: float, y: float, buttons: Qt.MouseButton) -> None:
        pos = QPointF(view.mapFromScene(QPointF(x, y)))
        event = QMouseEvent(
            kind,
            pos,
            viewport.mapToGlobal(pos),
            Qt.MouseButton.LeftButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        app.sendEvent(viewport, event)

    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, centre.x() - 300, centre.y(), left)
    times = []
    for i in range(args.moves):
        x = centre.x() - 300 + 600 * i / args.moves
        y = centre.y() + 150 * np.sin(i / 15)
        t0 = time.perf_counter()
        send(QEvent.Type.MouseMove, x, y, left)
        app.processEvents()  # the (dirty-region) repaint the event loop does next
        times.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    send(QEvent.Type.MouseButtonRelease, x, y, Qt.MouseButton.NoButton)
    release = (time.perf_counter() - t0) * 1000
    ms = np.array(times)
    profile_dab(window, centre.x(), centre.y())
    print(
        f"{w}x{h} ({w * h / 1e6:.1f} MP), radius {args.radius:.0f} px, 100% zoom, "
        f"{args.moves} moves: median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, "
        f"max {ms.max():.2f} ms per move; release (undo step) {release:.1f} ms"
    )
    window.shutdown()
    window.close()
    Path("/tmp/patina-bench.ini").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
