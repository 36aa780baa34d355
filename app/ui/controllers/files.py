"""FileController: open, recent files, projects, export, masks, autosave every 3 minutes
and crash recovery, for one window.

It reads the window's ``document``, ``settings`` and ``confirm`` and calls its
``set_document``, ``show_error`` and status bar. Errors a user can cause (a bad file, a
full disk) are shown as messages; the open document stays as it was. ``exported(path)``
follows every successful export (the latent controller writes the recipe sidecar then).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCursor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMenu, QMessageBox

from app.core import image_io, project
from app.core.document import Document
from app.core.errors import PatinaError
from app.ui.dialogs.export import ExportDialog, suggest_path
from app.ui.dialogs.recover import RecoverDialog

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

AUTOSAVE_MS = 3 * 60 * 1000
MAX_RECENT = 10
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;Patina projects (*.patina)"


class FileController(QObject):
    """Open / save / export / autosave behaviour of ``window``; owns the recent-files menu."""

    exported = Signal(object)  # Path of the file just written

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.aboutToShow.connect(self.fill_recent)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)

    @property
    def document(self) -> Document | None:
        return self.window.document

    def start(self) -> None:
        """Start autosaving (once the window is built)."""
        self.autosave_timer.start()

    def stop(self) -> None:
        self.autosave_timer.stop()

    def _error(self, title: str, message: str, details: str = "") -> None:
        self.window.show_error(title, message, details)

    def _say(self, message: str, ms: int) -> None:
        self.window.status.showMessage(message, ms)

    # -- open ----------------------------------------------------------------------
    def open_dialog(self) -> None:
        folder = str(self.window.settings.value("files/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self.window, "Open photo", folder, IMAGE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open an image or project; on failure show why and keep the current document."""
        path = Path(path)
        if not self.confirm_discard():
            return False
        QApplication.setOverrideCursor(QCursor(Qt.CursorShape.WaitCursor))
        try:
            doc = Document.open(path)
        except PatinaError as err:
            self._error("Cannot open file", str(err))
            return False
        except Exception as err:  # noqa: BLE001 - unexpected, still not fatal
            from app.workers.jobs import describe_error, format_details

            self._error("Cannot open file", describe_error(err), format_details(err))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.discard_autosave()
        self.window.set_document(doc)
        self._add_recent(path)
        self.window.settings.setValue("files/last_dir", str(path.parent))
        return True

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if Path(p) != path.resolve()]
        recent.insert(0, str(path.resolve()))
        self.window.settings.setValue("files/recent", recent[:MAX_RECENT])

    def recent_files(self) -> list[str]:
        value = self.window.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    def fill_recent(self) -> None:
        """Fill the Open Recent menu (before it shows)."""
        menu = self.recent_menu
        menu.clear()
        for path in self.recent_files():
            action = QAction(Path(path).name, menu)
            action.setToolTip(path)
            action.setEnabled(Path(path).exists())
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
            menu.addAction(action)
        if not menu.actions():
            empty = menu.addAction("No recent files")
            empty.setEnabled(False)

    def drag_enter(self, event: QDragEnterEvent) -> None:
        """Accept a drag that carries local files."""
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def drop(self, event: QDropEvent) -> None:
        """A dropped file is opened (the first one, when several are dropped)."""
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    # -- projects ------------------------------------------------------------------
    def save_project(self) -> bool:
        doc = self.document
        if doc is None:
            return False
        if doc.project_path is None:
            return self.save_project_as()
        return self.save_to(doc.project_path)

    def save_project_as(self) -> bool:
        doc = self.document
        if doc is None:
            return False
        suggested = doc.project_path or suggest_path(doc.source, None, ".patina").with_name(
            f"{Path(doc.title).stem}.patina"
        )
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save project", str(suggested), "Patina projects (*.patina)"
        )
        return bool(path) and self.save_to(Path(path))

    def save_to(self, path: Path) -> bool:
        """Save the project to ``path``; False (and a message) when it cannot be written."""
        doc = self.document
        assert doc is not None
        try:
            written = project.save_project(doc, path)
        except PatinaError as err:
            self._error("Cannot save project", str(err))
            return False
        self.discard_autosave()
        self.window.update_title()
        self._say(f"Saved {written.name}", 4000)
        return True

    # -- export --------------------------------------------------------------------
    def export(self) -> None:
        doc = self.document
        if doc is None:
            return
        folder = self.window.settings.value("files/export_dir")
        suggested = suggest_path(doc.source, Path(folder) if folder else None)
        depth = getattr(doc.meta, "bit_depth", 8) if doc.meta is not None else 8
        dialog = ExportDialog(suggested, depth, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        options = dialog.options()
        self.export_to(options.path, options.bit_depth, options.quality)

    def export_to(self, path: Path, bit_depth: int = 8, quality: int = 92) -> Path | None:
        """Write the result; asks before replacing a file, never writes over the original.

        Returns the path written (then ``exported`` is emitted), None when nothing was."""
        doc = self.document
        assert doc is not None
        overwrite = False
        if path.exists() and not _same(path, doc.source):
            if not self._ask(f"{path.name} already exists. Replace it?"):
                return None
            overwrite = True
        try:
            written = doc.export(path, bit_depth=bit_depth, quality=quality, overwrite=overwrite)
        except PatinaError as err:
            self._error("Cannot export", str(err))
            return None
        self.window.settings.setValue("files/export_dir", str(written.parent))
        self._say(f"Exported {written}", 5000)
        self.exported.emit(written)
        return written

    # -- masks ---------------------------------------------------------------------
    def mask_load(self) -> None:
        doc = self.document
        if doc is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load mask", "", "Masks (*.png *.tif *.tiff)"
        )
        if path:
            self.load_mask_from(Path(path))

    def load_mask_from(self, path: Path) -> bool:
        doc = self.document
        assert doc is not None
        try:
            mask = image_io.load_mask(path, doc.size)
            doc.set_mask(mask, "Load mask")
        except PatinaError as err:
            self._error("Cannot load mask", str(err))
            return False
        return True

    def mask_save(self) -> None:
        doc = self.document
        if doc is None:
            return
        suggested = suggest_path(doc.source, None).with_name(f"{Path(doc.title).stem}-mask.png")
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save mask", str(suggested), "PNG (*.png)"
        )
        if path:
            self.save_mask_to(Path(path))

    def save_mask_to(self, path: Path) -> bool:
        doc = self.document
        assert doc is not None
        layer = doc.mask_layer(create=True)
        try:
            image_io.save_mask(path, layer.data)
        except PatinaError as err:
            self._error("Cannot save mask", str(err))
            return False
        return True

    # -- autosave and recovery -------------------------------------------------------
    def autosave_now(self) -> Path | None:
        """Write a recovery copy if the document has unsaved changes."""
        doc = self.document
        if doc is None or not doc.modified:
            return None
        try:
            return project.autosave(doc)
        except PatinaError as err:
            self._say(f"Autosave failed: {err}", 8000)
            return None

    def discard_autosave(self) -> None:
        doc = self.document
        if doc is not None:
            with contextlib.suppress(OSError):
                project.discard_autosave(doc)

    def offer_recovery(self) -> bool:
        """At startup: if autosaves were left behind, offer to open one. True if opened."""
        found = project.find_recoverable()
        if not found:
            return False
        dialog = RecoverDialog(found, self.window)
        answer = dialog.exec()
        if answer == RecoverDialog.DISCARD:
            for path in found:
                path.unlink(missing_ok=True)
            return False
        chosen = dialog.selected()
        if answer != QDialog.DialogCode.Accepted or chosen is None:
            return False
        return self.recover(chosen)

    def recover(self, path: Path) -> bool:
        try:
            doc = project.load_project(path)
        except PatinaError as err:
            self._error("Cannot recover", str(err))
            return False
        self.window.set_document(doc)
        path.unlink(missing_ok=True)
        return True

    # -- questions -----------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when the open document may be replaced or closed (saved if asked to)."""
        doc = self.document
        if doc is None or not doc.modified or not self.window.confirm:
            return True
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            f"Save the changes to {doc.title} as a project?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        if answer == QMessageBox.StandardButton.Discard:
            self.discard_autosave()
            return True
        return False

    def _ask(self, question: str) -> bool:
        if not self.window.confirm:
            return False
        answer = QMessageBox.question(self.window, "Patina", question)
        return answer == QMessageBox.StandardButton.Yes


def _same(a: Path, b: Path | None) -> bool:
    try:
        return b is not None and a.resolve() == b.resolve()
    except OSError:
        return False
