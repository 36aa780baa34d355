"""HelpController: the Help menu's keyboard shortcut list (non-modal) and About box."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

SHORTCUTS = (
    ("Ctrl+O / Ctrl+S / Ctrl+Shift+S", "Open, save project, save project as"),
    ("Ctrl+E", "Export the result"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"),
    ("B / E", "Brush / eraser (hold Alt to invert)"),
    ("K", "Latent brush: clean more here (Alt: keep more)"),
    ("M / L", "Rectangle / lasso fill (Alt clears)"),
    ("[ / ]", "Smaller / larger brush"),
    ("Shift+[ / Shift+]", "Softer / harder brush"),
    ("Space + drag, middle drag", "Pan"),
    ("Wheel", "Zoom around the cursor"),
    ("F / 1", "Fit / 100 %"),
    ("\\ (hold)", "Show the original"),
    ("Ctrl+D", "Split before | after"),
    ("D", "Difference map"),
    ("Ctrl+P / Ctrl+R", "Preview visible area / render"),
    ("Esc", "Cancel the running job"),
)


class HelpController(QObject):
    """Shows the shortcut list and the About box over ``window``."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in SHORTCUTS
        )
        box = QMessageBox(
            QMessageBox.Icon.NoIcon,
            "Keyboard shortcuts",
            f"<table>{rows}</table>",
            QMessageBox.StandardButton.Close,
            self.window,
        )
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    def show_about(self) -> None:
        QMessageBox.about(
            self.window,
            "About Patina",
            "<h3>Patina</h3><p>Offline photo restoration: denoise, deblock, upscale and "
            "inpaint with steerable latent models. Nothing leaves your computer.</p>",
        )
