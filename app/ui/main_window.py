"""MainWindow: composes the canvas, the docks, menus, toolbar, status bar and the
controllers of :mod:`app.ui.controllers`, which do the work.

Undo/redo: the Edit menu is driven directly by the document's core ``History`` (its
``changed`` signal updates the actions' text and state); there is no QUndoStack, so
there is only one source of truth. The window keeps the document, the view commands
(zoom, compare, difference map), errors, settings and shutdown; a few one-line
delegates (``open_path``, ``set_tool``, ``render_full``, ...) are its scripting surface
for ``app.ui.app`` and ``tools/docs/screenshots.py``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMenu,
    QTabWidget,
    QWidget,
)

from app.core.document import Document
from app.ui import actions as ui_actions
from app.ui.background import Background
from app.ui.canvas.area import CanvasArea, Compare
from app.ui.canvas.mask_edit import MaskEditor
from app.ui.controllers.damage import DamageController
from app.ui.controllers.degrade import DegradeController
from app.ui.controllers.files import FileController
from app.ui.controllers.help import HelpController
from app.ui.controllers.latent import LatentController
from app.ui.controllers.restore import RestoreController
from app.ui.controllers.tools import ToolController
from app.ui.dialogs.error import ErrorDialog
from app.ui.job_runner import JobRunner
from app.ui.panels.layers import LayersPanel
from app.ui.statusbar import StatusBar
from app.workers.pool import WorkerPool

RIGHT, LEFT = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.LeftDockWidgetArea
DOC_ACTIONS = ("save", "save_as", "export", "fit", "actual", "zoom_in", "zoom_out",
               "preview", "render", "mask_clear", "mask_invert", "mask_grow", "mask_shrink",
               "mask_feather", "mask_load", "mask_save", "compare_split", "compare_side",
               "compare_off")  # fmt: skip


class MainWindow(QMainWindow):
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
        self.closing = False  # set by shutdown: controllers start no new work
        self.document: Document | None = None
        self.pool = pool or WorkerPool(self)
        self.jobs = JobRunner(self.pool, parent=self)
        self.background = Background(self, pool=self.pool)  # helpers share its threads
        self.area = CanvasArea(self)
        self.setCentralWidget(self.area)
        self.editor = MaskEditor(lambda: self.document)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.errors: list[ErrorDialog] = []
        self._compose()
        self.files.start()
        self._restore_settings()
        self.set_document(None)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    # -- construction --------------------------------------------------------------
    def _compose(self) -> None:
        """Controllers, their docks, menus and toolbar, in the order they stack."""
        self.layers_panel = LayersPanel(self)
        self.restore = RestoreController(self)
        self.degrade = DegradeController(self)
        self.restore_panel, self.degrade_panel = self.restore.panel, self.degrade.panel
        self._build_docks()
        self.files = FileController(self)
        self.tools = ToolController(self)
        self.help = HelpController(self)
        self.latent = LatentController(self)
        self.restore.steered = self.latent  # steerable methods run through it
        self.latent_dock = self._dock("Latent", self.latent.panel, "latentDock", LEFT)
        self.latent_dock.hide()
        self._build_menus()
        self._add_batch_action()
        self._wire()
        self.damage = DamageController(self)
        self.damage_dock = self._dock("Damage", self.damage.panel, "damageDock")
        self.tabifyDockWidget(self.restore_dock, self.damage_dock)
        self.restore_dock.raise_()

    def _build_menus(self) -> None:
        """The actions (slots on the window and its controllers), menus and toolbar."""
        self.actions_by_name = ui_actions.make_actions(self)
        docks_menu = QMenu("&Panels", self)
        for dock in (self.layers_dock, self.restore_dock, self.degrade_dock, self.latent_dock):
            docks_menu.addAction(dock.toggleViewAction())
        extra = {"recent": self.files.recent_menu, "docks": docks_menu}
        ui_actions.build_menus(self, self.actions_by_name, extra)
        self.toolbar = ui_actions.build_toolbar(
            self, self.actions_by_name, {"brush_options": self.tools.brush_options}
        )

    def _dock(
        self, title: str, widget: QWidget, name: str, area: Qt.DockWidgetArea = RIGHT
    ) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.restore_dock = self._dock("Restore", self.restore.panel, "restoreDock")
        self.layers_dock = self._dock("Layers", self.layers_panel, "layersDock")
        self.degrade_dock = self._dock("Degrade", self.degrade.panel, "degradeDock")
        self.setTabPosition(RIGHT, QTabWidget.TabPosition.North)
        self.tabifyDockWidget(self.restore_dock, self.degrade_dock)
        self.restore_dock.raise_()
        self.resizeDocks([self.restore_dock], [340], Qt.Orientation.Horizontal)

    def _add_batch_action(self) -> None:
        """File > Batch… (before Quit): the modeless batch dialog, made on demand."""
        self.batch_dialog: Any = None  # app.ui.dialogs.batch.BatchDialog
        batch_action = QAction("&Batch…", self)
        batch_action.triggered.connect(self.show_batch)
        file_menu = self.menuBar().actions()[0].menu()
        if isinstance(file_menu, QMenu):
            file_menu.insertAction(self.action("quit"), batch_action)

    def _wire(self) -> None:
        view = self.area.view
        view.zoom_changed.connect(self.status.set_zoom)
        view.cursor_moved.connect(lambda x, y: self.status.set_cursor(self.document, x, y))
        view.viewport_changed.connect(self._on_viewport_changed)
        self.jobs.result_applied.connect(self._update_difference_action)
        self.latent.active_changed.connect(self.latent_dock.setVisible)

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
        self.restore.set_document(doc)
        self.latent.set_document(doc)
        self.status.set_image(doc)
        if doc is not None:
            doc.history.changed.connect(self._update_history)
            doc.layers.changed.connect(self._update_difference_action)
        if doc is None:
            self.status.set_zoom(None)
        self.action("cancel").setEnabled(self.jobs.is_rendering())
        self._update_history()
        self._update_difference_action()
        for name in DOC_ACTIONS:
            self.action(name).setEnabled(doc is not None)
        self.restore.update_metrics()
        self.document_changed.emit(doc)

    def _update_history(self) -> None:
        doc = self.document
        undo, redo = self.actions_by_name["undo"], self.actions_by_name["redo"]
        history = doc.history if doc is not None else None
        undo.setEnabled(bool(history and history.can_undo))
        redo.setEnabled(bool(history and history.can_redo))
        undo.setText(f"&Undo {history.undo_text}" if history and history.undo_text else "&Undo")
        redo.setText(f"&Redo {history.redo_text}" if history and history.redo_text else "&Redo")
        self.update_title()

    def update_title(self) -> None:
        """ "<title>[*] — Patina", marked modified while the document has unsaved changes."""
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
            self.restore.update_metrics()

    def redo(self) -> None:
        if self.document is not None and not self.editor.painting:
            self.document.history.redo()
            self.restore.update_metrics()

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
            self.restore.panel.schedule_preview()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Hold \\ anywhere in the window to flash the original."""
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.isActiveWindow():
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.key() == Qt.Key.Key_Backslash and not key_event.isAutoRepeat():
                self.area.set_solo_original(kind == QEvent.Type.KeyPress)
                return True
        return super().eventFilter(watched, event)

    # -- scripting surface (one-line delegates to the controllers) --------------------
    def open_path(self, path: Any) -> bool:
        return self.files.open_path(path)

    def set_tool(self, name: str) -> None:
        self.tools.set_tool(name)

    def set_brush_radius(self, radius: float) -> None:
        self.tools.set_brush_radius(radius)

    def set_brush_hardness(self, hardness: float) -> None:
        self.tools.set_brush_hardness(hardness)

    def render_full(self) -> None:
        self.restore.render_full()

    def show_degrade(self) -> None:
        self.degrade_dock.show()
        self.degrade_dock.raise_()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        self.files.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.files.drop(event)

    def show_batch(self) -> None:
        """File > Batch…: the modeless batch dialog (one per window)."""
        from app.ui.dialogs.batch import BatchDialog

        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self, pool=self.pool)  # queues with restorations
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
        tools = self.tools
        tools.set_brush_radius(float(str(self.settings.value("brush/radius", 24.0))))
        tools.set_brush_hardness(float(str(self.settings.value("brush/hardness", 0.7))))
        tools.set_tool(str(self.settings.value("tools/current", "brush")))
        self.status.clearMessage()  # restoring the brush is not news

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.files.confirm_discard():
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
        self.closing = True
        if self.batch_dialog is not None:
            self.batch_dialog.close()  # stops a running batch; its journal keeps the rest
        self.restore.set_document(None)
        self.files.stop()
        self.status.stop()
        self.pool.shutdown(30_000)  # also cancels the Background's call (a shared pool)
        self.background.shutdown(30_000)
        self.files.discard_autosave()

    def action(self, name: str) -> QAction:
        return self.actions_by_name[name]
