"""QApplication setup and ``run_gui``, what ``patina [FILE]`` calls."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
STYLE = RESOURCES / "style.qss"
SAMPLES = RESOURCES / "samples"


def dark_palette() -> QPalette:
    """A calm, neutral dark palette (no colour cast that would bias judging a photo)."""
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#26282c",
        QPalette.ColorRole.WindowText: "#d8dade",
        QPalette.ColorRole.Base: "#1d1f22",
        QPalette.ColorRole.AlternateBase: "#2a2d31",
        QPalette.ColorRole.ToolTipBase: "#1d1f22",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#d8dade",
        QPalette.ColorRole.Button: "#2f3236",
        QPalette.ColorRole.ButtonText: "#d8dade",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#3d7bd9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6ea8ff",
        QPalette.ColorRole.PlaceholderText: "#7b8088",
    }
    for role, value in colors.items():
        p.setColor(role, QColor(value))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7079"))
    return p


def setup_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once) with Fusion style, dark palette and stylesheet."""
    QCoreApplication.setOrganizationName("Patina")
    QCoreApplication.setApplicationName("Patina")
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    style(app)
    return app


def style(app: QApplication) -> None:
    """Apply the Fusion style, the dark palette and ``resources/style.qss``."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    if STYLE.is_file():
        app.setStyleSheet(STYLE.read_text(encoding="utf-8"))
    icon = RESOURCES / "icons" / "patina.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))


def run_gui(paths: list[str]) -> int:
    """Open the window (and ``paths[0]`` if given); run the event loop; exit code."""
    app = setup_application()
    from app.ui.gc_guard import MainThreadGarbageCollector
    from app.ui.main_window import MainWindow

    collector = MainThreadGarbageCollector(app)  # noqa: F841 - lives as long as the app

    window = MainWindow()
    window.show()
    if paths:
        for path in paths[:1]:
            window.files.open_path(path)
    else:
        QTimer.singleShot(0, window.files.offer_recovery)
    app.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, False)
    return int(app.exec())
