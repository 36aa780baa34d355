"""Real-window check of the learned upscaler's controls: Scale / Blur / K / gamma.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/sr_screenshot.py docs/screenshots/upscale-dlnet.png

Opens resources/samples/chelsea.png shrunk x2 after a blur of 1.3 px, chooses the
registry's default upscaler (``dlnet`` when models/manifest.json lists dlnet-sr) with
Scale 2 and Blur 1.3, renders it on the window's worker pool and grabs the screen once
the result has landed; prints the parameter rows the Restore panel built.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from PySide6.QtWidgets import QLabel  # noqa: E402
from screenshots import capture, make_window, settle, wait_for  # noqa: E402

from app.core import image_io  # noqa: E402
from app.core.degradations import DegradationSpec, degrade  # noqa: E402
from app.ml import registry  # noqa: E402
from app.ui.app import setup_application  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/upscale-dlnet.png")
    setup_application()
    clean = image_io.load(ROOT / "resources" / "samples" / "chelsea.png").pixels
    small = degrade(clean, DegradationSpec(scale=2, blur=1.3)).image
    with tempfile.TemporaryDirectory(prefix="patina-shot-") as scratch:
        path = image_io.save(Path(scratch) / "chelsea-x2-blur1.3.png", small, bit_depth=8)
        window = make_window(Path(scratch) / "settings.ini")
        assert window.open_path(path)
        method = registry.default_method("upscale")
        window.restore_panel.select("upscale", method, scale=2, blur=1.3)
        settle(300)
        layout = window.restore_panel._params_layout
        rows = [layout.itemAt(i).widget() for i in range(layout.count())]
        print("method:", method, "rows:", [w.text() for w in rows if isinstance(w, QLabel)])
        window.restore_panel.render_button.click()
        wait_for(window.jobs.result_applied, window.jobs.failed, what="render")
        settle(500)
        print(window.statusBar().currentMessage())
        capture(window).save(str(out))
        window.shutdown()
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
