"""File handling for the main window: open, recent files, projects, export, masks,
autosave every 3 minutes and crash recovery.

A mixin for :class:`~app.ui.main_window.MainWindow`; it uses ``self.document``,
``self.settings``, ``self.set_document`` and ``self.show_error``. Errors a user can
cause (a bad file, a full disk) are shown as messages; the open document stays as it was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCursor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

from app.core import image_io, project
from app.core.document import Document
from app.core.errors import PatinaError
from app.ui.dialogs.export import ExportDialog, suggest_path
from app.ui.dialogs.recover import RecoverDialog

AUTOSAVE_MS = 3 * 60 * 1000
MAX_RECENT = 10
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;Patina projects (*.patina)"


class FileActions:
    """Open / save / export / autosave behaviour (mixed into MainWindow)."""

    document: Document | None
    settings: Any
    confirm: bool

    def _init_files(self) -> None:
        self.autosave_timer = QTimer(self)  # type: ignore[arg-type]
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)
        self.autosave_timer.start()

    def _stop_files(self) -> None:
        self.autosave_timer.stop()

    # -- open ----------------------------------------------------------------------
    def open_dialog(self) -> None:
        folder = str(self.settings.value("files/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", folder, IMAGE_FILTER)  # type: ignore[arg-type]
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
            self.show_error("Cannot open file", str(err))  # type: ignore[attr-defined]
            return False
        except Exception as err:  # noqa: BLE001 - unexpected, still not fatal
            from app.workers.jobs import describe_error, format_details

            self.show_error("Cannot open file", describe_error(err), format_details(err))  # type: ignore[attr-defined]
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.discard_autosave()
        self.set_document(doc)  # type: ignore[attr-defined]
        self._add_recent(path)
        self.settings.setValue("files/last_dir", str(path.parent))
        return True

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if Path(p) != path.resolve()]
        recent.insert(0, str(path.resolve()))
        self.settings.setValue("files/recent", recent[:MAX_RECENT])

    def recent_files(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _fill_recent(self) -> None:
        menu = self.recent_menu  # type: ignore[attr-defined]
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

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
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
        return self._save_to(doc.project_path)

    def save_project_as(self) -> bool:
        doc = self.document
        if doc is None:
            return False
        suggested = doc.project_path or suggest_path(doc.source, None, ".patina").with_name(
            f"{Path(doc.title).stem}.patina"
        )
        parent: Any = self
        path, _ = QFileDialog.getSaveFileName(
            parent, "Save project", str(suggested), "Patina projects (*.patina)"
        )
        return bool(path) and self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        doc = self.document
        assert doc is not None
        try:
            written = project.save_project(doc, path)
        except PatinaError as err:
            self.show_error("Cannot save project", str(err))  # type: ignore[attr-defined]
            return False
        self.discard_autosave()
        self._update_title()  # type: ignore[attr-defined]
        self.statusBar().showMessage(f"Saved {written.name}", 4000)  # type: ignore[attr-defined]
        return True

    # -- export --------------------------------------------------------------------
    def export(self) -> None:
        doc = self.document
        if doc is None:
            return
        folder = self.settings.value("files/export_dir")
        suggested = suggest_path(doc.source, Path(folder) if folder else None)
        depth = getattr(doc.meta, "bit_depth", 8) if doc.meta is not None else 8
        dialog = ExportDialog(suggested, depth, self)  # type: ignore[arg-type]
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        options = dialog.options()
        self.export_to(options.path, options.bit_depth, options.quality)

    def export_to(self, path: Path, bit_depth: int = 8, quality: int = 92) -> Path | None:
        """Write the result; asks before replacing a file, never writes over the original."""
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
            self.show_error("Cannot export", str(err))  # type: ignore[attr-defined]
            return None
        self.settings.setValue("files/export_dir", str(written.parent))
        self.statusBar().showMessage(f"Exported {written}", 5000)  # type: ignore[attr-defined]
        return written

    # -- masks ---------------------------------------------------------------------
    def mask_load(self) -> None:
        doc = self.document
        if doc is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load mask", "", "Masks (*.png *.tif *.tiff)")  # type: ignore[arg-type]
        if path:
            self.load_mask_from(Path(path))

    def load_mask_from(self, path: Path) -> bool:
        doc = self.document
        assert doc is not None
        try:
            mask = image_io.load_mask(path, doc.size)
            doc.set_mask(mask, "Load mask")
        except PatinaError as err:
            self.show_error("Cannot load mask", str(err))  # type: ignore[attr-defined]
            return False
        return True

    def mask_save(self) -> None:
        doc = self.document
        if doc is None:
            return
        suggested = suggest_path(doc.source, None).with_name(f"{Path(doc.title).stem}-mask.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save mask", str(suggested), "PNG (*.png)")  # type: ignore[arg-type]
        if path:
            self.save_mask_to(Path(path))

    def save_mask_to(self, path: Path) -> bool:
        doc = self.document
        assert doc is not None
        layer = doc.mask_layer(create=True)
        try:
            image_io.save_mask(path, layer.data)
        except PatinaError as err:
            self.show_error("Cannot save mask", str(err))  # type: ignore[attr-defined]
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
            self.statusBar().showMessage(f"Autosave failed: {err}", 8000)  # type: ignore[attr-defined]
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
        dialog = RecoverDialog(found, self)  # type: ignore[arg-type]
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
            self.show_error("Cannot recover", str(err))  # type: ignore[attr-defined]
            return False
        self.set_document(doc)  # type: ignore[attr-defined]
        path.unlink(missing_ok=True)
        return True

    # -- questions -----------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when the open document may be replaced or closed (saved if asked to)."""
        doc = self.document
        if doc is None or not doc.modified or not self.confirm:
            return True
        answer = QMessageBox.question(
            self,  # type: ignore[arg-type]
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
        if not self.confirm:
            return False
        answer = QMessageBox.question(self, "Patina", question)  # type: ignore[arg-type]
        return answer == QMessageBox.StandardButton.Yes


def _same(a: Path, b: Path | None) -> bool:
    try:
        return b is not None and a.resolve() == b.resolve()
    except OSError:
        return False
