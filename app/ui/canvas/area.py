"""CanvasArea: the main view plus the comparison modes (off, split, side by side).

Side by side shows a second view on a scene holding only the original ("before") next to
the main view ("after"); zoom and scroll of the two stay locked together.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QSplitter, QStackedLayout, QVBoxLayout, QWidget

from app.ui.canvas.scene import LayerScene
from app.ui.canvas.view import CanvasView


class Compare(StrEnum):
    OFF = "off"
    SPLIT = "split"
    SIDE_BY_SIDE = "side"


class EmptyHint(QLabel):
    """Shown when no document is open."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyHint")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setText(
            "<div style='font-size:20pt; color:#8a8f98'>Drop a photo here</div>"
            "<div style='font-size:10.5pt; color:#6b7079; margin-top:10px'>"
            "or press <b>Ctrl+O</b> to open a scan &nbsp;·&nbsp; PNG, JPEG, TIFF (8/16-bit)"
            "</div>"
        )


class CanvasArea(QWidget):
    """Holds the views; ``view`` is the main (editable) one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = LayerScene()
        self.view = CanvasView(self.scene, self)
        self.before_scene = LayerScene(only=("original",))
        self.before_view = CanvasView(self.before_scene, self)
        self.before_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.before_view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.before_view)
        self.splitter.addWidget(self.view)
        self.before_view.hide()
        self.empty = EmptyHint(self)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self.splitter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._stack)
        self._mode = Compare.OFF
        self._syncing = False
        self._link(self.view, self.before_view)
        self._link(self.before_view, self.view)

    def set_document(self, doc: Any) -> None:
        self.scene.set_document(doc)
        self.before_scene.set_document(doc)
        self._stack.setCurrentIndex(0 if doc is None else 1)
        if doc is not None:
            if self._mode == Compare.SPLIT:
                self.scene.set_split(self.scene.sceneRect().width() / 2)
            QTimer.singleShot(0, self.view.fit)
            self.view.fit()

    # -- comparison --------------------------------------------------------------
    def compare_mode(self) -> Compare:
        return self._mode

    def set_compare(self, mode: Compare | str) -> None:
        """Switch between no comparison, a split divider, and two locked views."""
        self._mode = Compare(mode)
        split = self._mode == Compare.SPLIT and self.scene.document() is not None
        self.scene.set_split(self.scene.sceneRect().width() / 2 if split else None)
        side = self._mode == Compare.SIDE_BY_SIDE
        self.before_view.setVisible(side)
        if side:
            half = max(1, self.splitter.width() // 2)
            self.splitter.setSizes([half, half])
            QTimer.singleShot(0, lambda: self._copy_view(self.view, self.before_view))
        self.view.viewport().update()

    def set_solo_original(self, on: bool) -> None:
        """Flash the original (hold \\)."""
        self.scene.set_solo_original(on)

    # -- locking the two views -----------------------------------------------------
    def _link(self, source: CanvasView, target: CanvasView) -> None:
        source.viewport_changed.connect(lambda: self._copy_view(source, target))

    def _copy_view(self, source: CanvasView, target: CanvasView) -> None:
        if self._syncing or not target.isVisible() or not source.isVisible():
            return
        self._syncing = True
        try:
            target.setTransform(source.transform())
            centre = source.image_pos(source.viewport().rect().toRectF().center())
            target.centerOn(centre)
            target.viewport().update()
        finally:
            self._syncing = False
