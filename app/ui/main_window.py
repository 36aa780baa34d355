"""MainWindow: the canvas, the Layers / Restore / Degrade docks, menus, toolbar, status bar.

Undo/redo: the Edit menu is driven directly by the document's core ``History`` (its
``changed`` signal updates the actions' text and state); there is no QUndoStack, so
there is only one source of truth. File handling (open, save, export, autosave,
recovery) lives in :class:`~app.ui.files.FileActions`, mixed in here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMenu,
    QTabWidget,
    QWidget,
)

from app.core.degradations import DegradationSpec, degrade
from app.core.document import Document
from app.ui import actions as ui_actions
from app.ui.background import Background
from app.ui.brush_options import BrushOptions
from app.ui.canvas.area import CanvasArea, Compare
from app.ui.canvas.mask_edit import MaskEditor
from app.ui.canvas.tools import BrushTool, EraserTool, HandTool, LassoTool, RectTool, Tool
from app.ui.dialogs.error import ErrorDialog
from app.ui.files import FileActions
from app.ui.jobs import JobRunner
from app.ui.panels import damage as damage_panel
from app.ui.panels.degrade import DegradePanel
from app.ui.panels.layers import LayersPanel
from app.ui.panels.restore import RestorePanel
from app.ui.statusbar import StatusBar
from app.ui.steering import LatentActions
from app.ui.window_parts import HelpActions, ToolActions
from app.workers.pool import WorkerPool


class MainWindow(LatentActions, ToolActions, HelpActions, FileActions, QMainWindow):
    """The Patina window. ``document`` is the open Document or None."""

    document_changed = Signal(object)
    error_shown = Signal(str)

    def __init__(
        self,
        pool: WorkerPool | None = None,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Patina")
        self.setObjectName("PatinaMainWindow")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("Patina", "Patina")
        self.confirm = True  # ask before discarding unsaved changes (tests turn it off)
        self._closed = False
        self.document: Document | None = None
        self.pool = pool or WorkerPool(self)
        self.jobs = JobRunner(self.pool, parent=self)
        self.background = Background(self)
        self.area = CanvasArea(self)
        self.setCentralWidget(self.area)
        self.editor = MaskEditor(lambda: self.document)
        self.tools: dict[str, Tool] = {
            "brush": BrushTool(self.editor),
            "eraser": EraserTool(self.editor),
            "rect": RectTool(self.editor),
            "lasso": LassoTool(self.editor),
            "hand": HandTool(self.editor),
        }
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self._build_docks()
        self._init_latent()
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.actions_by_name = ui_actions.make_actions(self)
        docks_menu = QMenu("&Panels", self)
        for dock in (self.layers_dock, self.restore_dock, self.degrade_dock, self.latent_dock):
            docks_menu.addAction(dock.toggleViewAction())
        ui_actions.build_menus(
            self, self.actions_by_name, {"recent": self.recent_menu, "docks": docks_menu}
        )
        self.brush_options = BrushOptions(self)
        self.brush_options.radius_changed.connect(self.set_brush_radius)
        self.brush_options.hardness_changed.connect(self.set_brush_hardness)
        self.toolbar = ui_actions.build_toolbar(
            self, self.actions_by_name, {"brush_options": self.brush_options}
        )
        self.batch_dialog: Any = None  # File > Batch… (app.ui.dialogs.batch), made on demand
        batch_action = QAction("&Batch…", self)
        batch_action.triggered.connect(self.show_batch)
        self.menuBar().actions()[0].menu().insertAction(self.action("quit"), batch_action)
        self.errors: list[ErrorDialog] = []
        self._wire()
        self.damage = damage_panel.install(self)
        self._init_files()
        self._restore_settings()
        self.set_document(None)
        QApplication.instance().installEventFilter(self)

    # -- construction --------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _build_docks(self) -> None:
        self.layers_panel = LayersPanel(self)
        self.restore_panel = RestorePanel(self)
        self.degrade_panel = DegradePanel(self)
        self.restore_dock = self._dock("Restore", self.restore_panel, "restoreDock")
        self.layers_dock = self._dock("Layers", self.layers_panel, "layersDock")
        self.degrade_dock = self._dock("Degrade", self.degrade_panel, "degradeDock")
        self.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea, QTabWidget.TabPosition.North)
        self.tabifyDockWidget(self.restore_dock, self.degrade_dock)
        self.restore_dock.raise_()
        self.resizeDocks([self.restore_dock], [340], Qt.Orientation.Horizontal)

    def _wire(self) -> None:
        view = self.area.view
        view.zoom_changed.connect(self.status.set_zoom)
        view.cursor_moved.connect(lambda x, y: self.status.set_cursor(self.document, x, y))
        view.viewport_changed.connect(self._on_viewport_changed)
        self.layers_panel.layer_selected.connect(self._on_layer_selected)
        self.restore_panel.preview_requested.connect(self.preview)
        self.restore_panel.render_requested.connect(self.render_full)
        self.restore_panel.cancel_requested.connect(self.cancel_jobs)
        self.degrade_panel.apply_requested.connect(self.apply_degradation)
        self.jobs.busy_changed.connect(self._on_busy)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.status.connect(self.restore_panel.set_status)
        self.jobs.failed.connect(lambda msg, det: self.show_error("Restoration failed", msg, det))
        self.jobs.result_applied.connect(self._on_result)

    # -- document ------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        """Show ``doc`` (None: the empty state); running jobs of the old one are cancelled."""
        old = self.document
        if old is not None:
            old.history.changed.disconnect(self._update_history)
            old.layers.changed.disconnect(self._update_difference_action)
        self.jobs.set_document(doc)
        self.document = doc
        self.area.set_document(doc)
        self.layers_panel.set_document(doc)
        self.restore_panel.set_enabled_for(doc)
        self.latent_set_document(doc)
        self.status.set_image(doc)
        if doc is not None:
            doc.history.changed.connect(self._update_history)
            doc.layers.changed.connect(self._update_difference_action)
        if doc is None:
            self.status.set_zoom(None)
        self.actions_by_name["cancel"].setEnabled(self.jobs.is_rendering())
        self._update_history()
        self._update_difference_action()
        self._update_enabled()
        self._update_metrics()
        self.document_changed.emit(doc)

    def _update_enabled(self) -> None:
        has_doc = self.document is not None
        for name in (
            "save",
            "save_as",
            "export",
            "fit",
            "actual",
            "zoom_in",
            "zoom_out",
            "preview",
            "render",
            "mask_clear",
            "mask_invert",
            "mask_grow",
            "mask_shrink",
            "mask_feather",
            "mask_load",
            "mask_save",
            "compare_split",
            "compare_side",
            "compare_off",
        ):
            self.actions_by_name[name].setEnabled(has_doc)

    def _update_history(self) -> None:
        doc = self.document
        undo, redo = self.actions_by_name["undo"], self.actions_by_name["redo"]
        history = doc.history if doc is not None else None
        undo.setEnabled(bool(history and history.can_undo))
        redo.setEnabled(bool(history and history.can_redo))
        undo.setText(f"&Undo {history.undo_text}" if history and history.undo_text else "&Undo")
        redo.setText(f"&Redo {history.redo_text}" if history and history.redo_text else "&Redo")
        self._update_title()

    def _update_title(self) -> None:
        doc = self.document
        if doc is None:
            self.setWindowTitle("Patina")
            return
        self.setWindowTitle(f"{doc.title}[*] — Patina")
        self.setWindowModified(doc.modified)

    # -- edit ----------------------------------------------------------------------
    def undo(self) -> None:
        if self.document is not None and not self.editor.painting:
            self.document.history.undo()
            self._update_metrics()

    def redo(self) -> None:
        if self.document is not None and not self.editor.painting:
            self.document.history.redo()
            self._update_metrics()

    # -- view ----------------------------------------------------------------------
    def view_fit(self) -> None:
        self.area.view.fit()

    def view_actual(self) -> None:
        self.area.view.actual_pixels()

    def view_zoom_in(self) -> None:
        self.area.view.zoom_in()

    def view_zoom_out(self) -> None:
        self.area.view.zoom_out()

    def compare_off(self) -> None:
        self.set_compare(Compare.OFF)

    def compare_split(self) -> None:
        self.set_compare(Compare.SPLIT)

    def compare_side(self) -> None:
        self.set_compare(Compare.SIDE_BY_SIDE)

    def set_compare(self, mode: Compare | str) -> None:
        mode = Compare(mode)
        self.area.set_compare(mode)
        self.actions_by_name[f"compare_{mode.value}"].setChecked(True)

    def toggle_difference(self, visible: bool) -> None:
        """Show or hide the difference layer (an undoable visibility change)."""
        doc = self.document
        layer = doc.difference_layer() if doc is not None else None
        if doc is not None and layer is not None:
            doc.set_layer_property(layer, "visible", bool(visible))
        self._update_difference_action()

    def _update_difference_action(self) -> None:
        doc = self.document
        layer = doc.difference_layer() if doc is not None else None
        action = self.actions_by_name["show_difference"]
        action.setEnabled(layer is not None)
        action.setChecked(bool(layer is not None and layer.visible))

    def _on_viewport_changed(self) -> None:
        doc = self.document
        if doc is not None and doc.result_layer() is not None:
            self.restore_panel.schedule_preview()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Hold \\ anywhere in the window to flash the original."""
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.isActiveWindow():
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.key() == Qt.Key.Key_Backslash and not key_event.isAutoRepeat():
                self.area.set_solo_original(kind == QEvent.Type.KeyPress)
                return True
        return super().eventFilter(watched, event)

    # -- restoration ---------------------------------------------------------------
    def preview(self) -> None:
        choice = self.restore_panel.selection()
        if self.document is None or choice is None or self._closed:
            return
        task, method, params = choice
        roi = self.area.view.visible_rect()
        if not self.latent_preview(task, method, params, roi):
            self.jobs.preview(task, method, params, roi)
        self.restore_panel.set_status("Previewing the visible area…")

    def render_full(self) -> None:
        choice = self.restore_panel.selection()
        if self.document is None or choice is None or self._closed:
            return
        task, method, params = choice
        if not self.latent_render(task, method, params):
            self.jobs.render(task, method, params)

    def cancel_jobs(self) -> None:
        if self.editor.painting:
            return
        self.jobs.cancel_all()

    def _on_busy(self, busy: bool) -> None:
        self.restore_panel.set_busy(busy)
        self.status.set_progress(busy)
        self.actions_by_name["cancel"].setEnabled(busy)

    def _on_progress(self, fraction: float, text: str) -> None:
        self.restore_panel.set_progress(fraction, text)
        self.status.set_progress(self.jobs.is_rendering(), fraction)

    def _on_result(self, kind: str) -> None:
        self._update_metrics()
        self._update_difference_action()

    def _update_metrics(self) -> None:
        doc = self.document
        if doc is None or doc.ground_truth is None or doc.result_layer() is None:
            self.restore_panel.set_metrics(None)
            return
        if doc.size[0] * doc.size[1] <= 4_000_000:
            self.restore_panel.set_metrics(doc.metrics())
            return

        def show(metrics: dict[str, float] | None) -> None:
            if doc is self.document:
                self.restore_panel.set_metrics(metrics)

        self.background.run(doc.metrics, show, lambda message, details: None)

    # -- degrade -------------------------------------------------------------------
    def show_degrade(self) -> None:
        self.degrade_dock.show()
        self.degrade_dock.raise_()

    def apply_degradation(self, spec: DegradationSpec) -> None:
        """Open a degraded copy of the clean image as a new document (ground truth kept)."""
        doc = self.document
        if doc is None:
            return
        truth = doc.ground_truth if doc.ground_truth is not None else doc.original.data
        clean = truth.copy()
        self.status.showMessage("Synthesising the degradation…")
        self.background.run(
            lambda: degrade(clean, spec),
            lambda result: self._open_degraded(doc, clean, result),
            self._degrade_failed,
        )

    def _degrade_failed(self, message: str, details: str) -> None:
        self.show_error("Degradation failed", message, details)

    def _open_degraded(self, parent: Document, clean: Any, degraded: Any) -> None:
        image = degraded.image
        truth = clean if clean.shape == image.shape else None
        recipe = [{"task": "degrade", "method": "synthetic", "params": degraded.spec.to_dict()}]
        doc = Document.from_image(
            image, parent.meta, source=None, ground_truth=truth, recipe=recipe
        )
        if float(degraded.mask.max(initial=0.0)) > 0:
            mask = doc.mask_layer(create=True)
            mask.set_data(degraded.mask)
        if not self.confirm_discard():
            return
        self.set_document(doc)
        self.status.showMessage("Degraded copy opened; the clean image is its ground truth", 4000)
        self.background.run(
            doc.input_metrics, self.degrade_panel.set_input_metrics, lambda message, details: None
        )

    def show_batch(self) -> None:
        """File > Batch…: the modeless batch dialog (one per window)."""
        from app.ui.dialogs.batch import BatchDialog

        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self)
        self.batch_dialog.show()
        self.batch_dialog.raise_()

    # -- errors --------------------------------------------------------------------
    def show_error(self, title: str, message: str, details: str = "") -> ErrorDialog:
        """A non-modal message with copyable details; the window stays usable."""
        dialog = ErrorDialog(title, message, details, self)
        self.errors.append(dialog)
        # ``finished`` comes before the dialog is deleted (WA_DeleteOnClose); reacting to
        # ``destroyed`` instead would touch half-destroyed objects and can crash.
        dialog.finished.connect(lambda _result: self._forget_error(dialog))
        dialog.show()
        self.status.showMessage(message, 8000)
        self.error_shown.emit(message)
        return dialog

    def _forget_error(self, dialog: ErrorDialog) -> None:
        self.errors = [shown for shown in self.errors if shown is not dialog]

    # -- settings, close -------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 900)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.set_brush_radius(float(self.settings.value("brush/radius", 24.0)))
        self.set_brush_hardness(float(self.settings.value("brush/hardness", 0.7)))
        self.set_tool(str(self.settings.value("tools/current", "brush")))
        self.status.clearMessage()  # restoring the brush is not news

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.confirm_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop timers and workers (idempotent); the window can then be destroyed."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self._closed = True
        if self.batch_dialog is not None:
            self.batch_dialog.close()  # stops a running batch; its journal keeps the rest
        self.restore_panel.set_enabled_for(None)
        self._stop_files()
        self.pool.shutdown(30_000)
        self.background.shutdown(30_000)
        self.discard_autosave()

    def action(self, name: str) -> QAction:
        return self.actions_by_name[name]
