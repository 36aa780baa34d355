"""Real-window check of the Degrade panel's camera-noise and film-grain controls.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/docs/degrade_camera_shot.py docs/screenshots/degrade-camera.png

Opens resources/samples/chelsea.png, picks the ISO 3200 camera preset with JPEG 90 and a
little film grain in the Degrade dock, presses Apply and grabs the window once the
degraded copy and its PSNR/SSIM against the clean image are shown; prints them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "docs"))

from screenshots import capture, make_window, settle, wait_for, wait_until  # noqa: E402

from app.ui.app import setup_application  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/degrade-camera.png")
    setup_application()
    with tempfile.TemporaryDirectory(prefix="patina-shot-") as scratch:
        window = make_window(Path(scratch) / "settings.ini")
        if not window.open_path(ROOT / "resources" / "samples" / "chelsea.png"):
            print("error: cannot open the sample", file=sys.stderr)
            return 1
        panel = window.degrade_panel
        window.show_degrade()
        panel.camera_preset.setCurrentText("iso3200")
        panel.set_values(jpeg=90, grain=0.15, grain_size=1.5, grain_color=0.2, seed=1)
        settle()
        panel.apply_button.click()
        wait_for(window.document_changed, window.error_shown, 60_000, "degrade")
        window.show_degrade()
        wait_until(panel.metrics.isVisible)
        window.view_fit()
        settle(500)
        capture(window).save(str(out))
        print(panel.metrics.text(), "->", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
