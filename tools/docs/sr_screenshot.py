"""Real-window check of the learned upscaler's controls: Scale / Blur / K / gamma.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/docs/sr_screenshot.py docs/screenshots/upscale-dlnet.png [METHOD]

Opens resources/samples/chelsea.png shrunk x2 after a blur of 1.3 px, chooses the
registry's default upscaler (``dlnet`` when models/manifest.json lists dlnet-sr) with
Scale 2 and Blur 1.3, renders it on the window's worker pool and grabs the screen once
the result has landed; prints the parameter rows the Restore panel built. METHOD
(e.g. ``vdir``, the blind model, which is given Scale only) overrides the default.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "docs"))

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
        method = sys.argv[2] if len(sys.argv) > 2 else registry.default_method("upscale")
        given = {"scale": 2} if method == "vdir" else {"scale": 2, "blur": 1.3}
        window.restore_panel.select("upscale", method, **given)
        settle(300)
        panel = window.restore_panel
        rows = [name for name in panel.form.widgets if panel.is_row_visible(name)]
        print("method:", method, "rows:", rows)
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
