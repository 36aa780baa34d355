"""Real-window check of quick previews: the shipped registry, a noisy sample, strength 1.8.

QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1440x900x24" \\
    .venv/bin/python tools/docs/quick_preview_shot.py docs/screenshots/latent-quick-preview.png

Opens resources/samples/chelsea.png with Gaussian noise (sigma 30) in the real window,
chooses the shipped VDIR denoiser, releases the Strength slider at 1.8 and grabs the
screen once the preview has landed; prints whether *Quick previews* was available and
on, and the status bar's latency line.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "docs"))

import steering_report as report  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.core import image_io  # noqa: E402
from app.core.degradations import DegradationSpec, degrade  # noqa: E402
from app.ui.app import setup_application  # noqa: E402
from app.ui.main_window import MainWindow  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/latent-quick-preview.png")
    setup_application()
    settings = QSettings("/tmp/patina-quick-shot.ini", QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.confirm = False
    window.resize(1440, 900)
    window.show()
    report.settle(500)
    clean = image_io.load(ROOT / "resources" / "samples" / "chelsea.png").pixels
    noisy = degrade(clean, DegradationSpec(sigma=30.0, seed=1)).image
    path = image_io.save(Path("/tmp/chelsea-sigma30.png"), noisy, bit_depth=8, overwrite=True)
    assert window.open_path(path)
    window.restore_panel.select("denoise", "vdir")
    report.wait_step(window)
    box = window.latent.panel.quick_preview
    print("quick previews available:", box.isEnabled(), "on:", box.isChecked())
    window.latent.panel.strength.set_value(1.8)
    window.latent.last_preview_latency = None
    window.latent.panel.strength.released.emit()
    while window.latent.last_preview_latency is None:
        report.wait_for(window.jobs.result_applied)
    report.settle(300)
    print(window.statusBar().currentMessage())
    QApplication.primaryScreen().grabWindow(0).save(str(out))
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
