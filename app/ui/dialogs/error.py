"""A non-modal error message with a copyable "Details" box (the traceback)."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class ErrorDialog(QDialog):
    """Shows ``message`` (one line a person understands) and optional ``details``."""

    def __init__(self, title: str, message: str, details: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.setMinimumWidth(460)
        icon = QLabel(self)
        icon.setPixmap(qta.icon("mdi6.alert-circle-outline", color="#f0a35e").pixmap(40, 40))
        self.message = QLabel(message, self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setObjectName("errorMessage")
        head = QHBoxLayout()
        head.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.message, 1)
        self.details = QPlainTextEdit(details, self)
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details.setMinimumHeight(180)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        self.toggle = QPushButton("Show details", self)
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._toggle)
        self.copy = QPushButton(qta.icon("mdi6.content-copy", color="#d0d0d0"), "Copy", self)
        self.copy.clicked.connect(self.copy_details)
        for button in (self.toggle, self.copy):
            button.setVisible(bool(details))
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def _toggle(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.toggle.setText("Hide details" if shown else "Show details")
        self.adjustSize()

    def copy_details(self) -> None:
        """Put the message and the details on the clipboard."""
        text = f"{self.message.text()}\n\n{self.details.toPlainText()}".strip()
        QGuiApplication.clipboard().setText(text)
