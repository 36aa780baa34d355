"""Restore panel: task, method and its parameters; Preview, Render, Cancel; metrics.

The panel knows nothing of workers: it emits ``preview_requested`` (debounced 250 ms after
the last parameter change while "Live preview" is on, or when Preview is pressed) and
``render_requested``/``cancel_requested``; the window runs the jobs and reports back with
:meth:`set_busy`, :meth:`set_progress` and :meth:`set_metrics`. Services the registry
does not list (the old-photo pipeline) are added with :meth:`add_service`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import qtawesome as qta
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import PatinaError
from app.ml.services.base import TASKS, ServiceInfo
from app.ui.panels.params import ParamForm

PREVIEW_DEBOUNCE_MS = 250
TASK_TITLES = {
    "denoise": "Denoise",
    "deblock": "Remove JPEG blocks",
    "upscale": "Upscale",
    "inpaint": "Inpaint (fill mask)",
    "old-photo": "Old photo (full pipeline)",
}


def _registry() -> Any:
    """``app.ml.registry``, imported when first needed (it lists services, loads no model).

    Without a registry (a broken installation) the panel lists nothing instead of
    stopping the window from opening.
    """
    try:
        from app.ml import registry
    except ImportError:
        return _NoRegistry()
    return registry


def _default_method(task: str) -> str | None:
    """The registry's default method of ``task``; None when it has none (only services
    added with ``add_service``)."""
    try:
        return _registry().default_method(task)  # type: ignore[no-any-return]
    except PatinaError:
        return None


class _NoRegistry:
    def list_services(self, task: str | None = None) -> list[ServiceInfo]:
        return []

    def default_method(self, task: str) -> str | None:
        return None


class RestorePanel(QWidget):
    """Chooses a service and its parameters; emits requests for the window to run."""

    preview_requested = Signal()
    render_requested = Signal()
    cancel_requested = Signal()
    method_changed = Signal()  # another method (of this task, or a new task) was chosen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = QComboBox(self)
        self.method = QComboBox(self)
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.description.setObjectName("hint")
        self._params_layout = QFormLayout()
        self._params_layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form = ParamForm(self._params_layout, self)
        self._hidden_rows: set[str] = set()  # parameter names hidden by set_rows_visible
        self.live = QCheckBox("Live preview of the visible area", self)
        self.live.setChecked(True)
        self.preview_button = QPushButton(qta.icon("mdi6.eye-outline", color="#e0e0e0"), "Preview")
        self.render_button = QPushButton(qta.icon("mdi6.play", color="#ffffff"), "Render")
        self.render_button.setObjectName("primary")
        self.cancel_button = QPushButton(qta.icon("mdi6.stop", color="#e0e0e0"), "Cancel")
        self.progress = QProgressBar(self)
        self.status = QLabel(self)
        self.status.setObjectName("hint")
        self.metrics = QLabel(self)
        self.metrics.setObjectName("metrics")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(PREVIEW_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.preview_requested)
        self._services: list[ServiceInfo] = []
        self._extra: list[ServiceInfo] = []
        self._build()
        self._wire()
        self.set_enabled_for(None)
        self._fill_tasks()
        self.set_busy(False)

    # -- layout --------------------------------------------------------------------
    def _build(self) -> None:
        top = QFormLayout()
        top.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        top.addRow("Task", self.task)
        top.addRow("Method", self.method)
        params = QGroupBox("Parameters", self)
        params.setLayout(self._params_layout)
        buttons = QGridLayout()
        buttons.addWidget(self.preview_button, 0, 0)
        buttons.addWidget(self.render_button, 0, 1)
        progress = QHBoxLayout()
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.description)
        layout.addWidget(params)
        layout.addWidget(self.live)
        layout.addLayout(buttons)
        layout.addLayout(progress)
        layout.addWidget(self.status)
        layout.addWidget(self.metrics)
        layout.addStretch(1)

    def _wire(self) -> None:
        self.task.currentIndexChanged.connect(self._fill_methods)
        self.method.currentIndexChanged.connect(self._on_method)
        self.method.currentIndexChanged.connect(self.method_changed)
        self.form.changed.connect(self.schedule_preview)
        self.preview_button.clicked.connect(self.preview_requested)
        self.render_button.clicked.connect(self.render_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)

    def add_service(self, info: ServiceInfo) -> None:
        """List ``info`` after the registry's services of its task (kept on refills)."""
        self._extra.append(info)
        current = self.task.currentData()
        self._fill_tasks()
        index = self.task.findData(current)
        if index >= 0:
            self.task.setCurrentIndex(index)

    def _list(self, task: str) -> list[ServiceInfo]:
        return [*_registry().list_services(task), *(i for i in self._extra if i.task == task)]

    def _fill_tasks(self) -> None:
        self.task.blockSignals(True)
        self.task.clear()
        for task in TASKS:
            if self._list(task):
                self.task.addItem(TASK_TITLES.get(task, task), task)
        self.task.blockSignals(False)
        self._fill_methods()

    def _fill_methods(self) -> None:
        task = self.task.currentData()
        self._services = self._list(task) if task else []
        self.method.blockSignals(True)
        self.method.clear()
        default = _default_method(task) if task else None
        for info in self._services:
            badge = "  ·  learned" if info.learned else ""
            self.method.addItem(f"{info.title}{badge}", info.method)
            if info.method == default:
                self.method.setCurrentIndex(self.method.count() - 1)
        self.method.blockSignals(False)
        self._on_method()
        self.method_changed.emit()  # a new task is a new method too (Latent dock, rows)

    def _on_method(self) -> None:
        info = self.service()
        self.form.set_specs(info.params if info else ())
        self._sync_params_box()
        self.description.setText(info.description if info else "")
        self.description.setVisible(bool(info and info.description))
        self.schedule_preview()

    # -- state ---------------------------------------------------------------------
    def service(self) -> ServiceInfo | None:
        """The chosen service's description."""
        index = self.method.currentIndex()
        return self._services[index] if 0 <= index < len(self._services) else None

    def selection(self) -> tuple[str, str, dict[str, Any]] | None:
        """(task, method, params) of the current choice, or None."""
        info = self.service()
        return None if info is None else (info.task, info.method, self.form.values())

    def select(self, task: str, method: str | None = None, **params: Any) -> None:
        """Choose ``task``/``method`` and set parameters (used by tests and recipes)."""
        index = self.task.findData(task)
        if index >= 0:
            self.task.setCurrentIndex(index)
        if method is not None:
            index = self.method.findData(method)
            if index >= 0:
                self.method.setCurrentIndex(index)
        self.form.set_values(params)

    def set_rows_visible(self, names: Iterable[str], visible: bool) -> None:
        """Show or hide the parameter rows ``names`` (those the method has); the
        Parameters box is hidden while none of its rows is visible."""
        names = set(names)
        self._hidden_rows = self._hidden_rows - names if visible else self._hidden_rows | names
        self._sync_params_box()

    def _sync_params_box(self) -> None:
        """Apply the hidden rows to the current form; hide the Parameters box while the
        method has rows but none is shown. Kept as names (not read back from the widgets,
        whose visibility lags: rows just built are shown later by the event loop)."""
        for name, widget in self.form.widgets.items():
            self._params_layout.setRowVisible(widget, name not in self._hidden_rows)
        box = self._params_layout.parentWidget()
        if box is not None:
            shown = [name for name in self.form.widgets if name not in self._hidden_rows]
            box.setVisible(bool(shown) or not self.form.widgets)

    def is_row_visible(self, name: str) -> bool:
        """Whether the parameter row ``name`` exists and is shown."""
        return name in self.form.widgets and name not in self._hidden_rows

    def cancel_scheduled_preview(self) -> None:
        """Drop a debounced preview that has not started yet."""
        self._debounce.stop()

    def schedule_preview(self) -> None:
        """Ask for a preview in 250 ms (restarted by every further change) if live is on."""
        if self.live.isChecked() and self.preview_button.isEnabled():
            self._debounce.start()

    def set_enabled_for(self, doc: Any) -> None:
        """Enable the actions when a document is open."""
        for button in (self.preview_button, self.render_button):
            button.setEnabled(doc is not None)
        self._debounce.stop()
        self.set_status("")
        if doc is None:
            self.set_metrics(None)

    def set_busy(self, busy: bool) -> None:
        """A render is running: show progress, allow cancel."""
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.setValue(0)

    def set_progress(self, fraction: float, text: str = "") -> None:
        self.progress.setValue(round(fraction * 100))
        self.status.setText(text)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_metrics(self, metrics: dict[str, float] | None) -> None:
        """Show PSNR/SSIM against the ground truth (hidden when unknown)."""
        if not metrics:
            self.metrics.setText("")
            self.metrics.setVisible(False)
            return
        parts = []
        if "psnr" in metrics:
            parts.append(f"PSNR <b>{metrics['psnr']:.2f}</b> dB")
        if "ssim" in metrics:
            parts.append(f"SSIM <b>{metrics['ssim']:.4f}</b>")
        self.metrics.setText("vs ground truth:  " + "   ".join(parts))
        self.metrics.setVisible(True)
