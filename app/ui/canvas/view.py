"""CanvasView: zoom around the cursor, pan, fit/100%, the brush cursor, the split divider.

Zoom runs from the smaller of "fit" and 100 % up to 3200 %. Space-drag or the middle
button pans whatever the tool. Pixels are drawn nearest-neighbour from 100 % up, smoothed
below (the items decide, per paint). Mouse input is forwarded to the current tool in image
coordinates.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from app.ui.canvas.scene import LayerScene
from app.ui.canvas.tools import HandTool, Tool

MAX_ZOOM = 32.0
WHEEL_STEP = 1.2
DIVIDER_GRAB_PX = 8


class CanvasView(QGraphicsView):
    """A view on a LayerScene; emits zoom, cursor and viewport changes."""

    zoom_changed = Signal(float)
    cursor_moved = Signal(int, int)  # image pixel, (-1, -1) when outside
    viewport_changed = Signal()
    split_moved = Signal(float)

    def __init__(self, scene: LayerScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # the main window takes file drops
        self._tool: Tool | None = None
        self._brush_radius = 0.0
        self._brush_hardness = 1.0
        self._mouse: QPointF | None = None  # viewport position
        self._pan_from: QPoint | None = None
        self._space = False
        self._dragging_split = False
        self._tool_active = False
        self._fitted = True
        self.horizontalScrollBar().valueChanged.connect(self.viewport_changed)
        self.verticalScrollBar().valueChanged.connect(self.viewport_changed)

    # -- zoom --------------------------------------------------------------------
    def layer_scene(self) -> LayerScene:
        return self.scene()  # type: ignore[return-value]

    def zoom(self) -> float:
        return self.transform().m11()

    def fit_zoom(self) -> float:
        rect = self.sceneRect()
        if rect.isEmpty():
            return 1.0
        vp = self.viewport().rect()
        return max(1e-4, min((vp.width() - 8) / rect.width(), (vp.height() - 8) / rect.height()))

    def min_zoom(self) -> float:
        return min(self.fit_zoom(), 1.0)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` (1.0 = 100 %), keeping the scene point under ``anchor`` fixed."""
        zoom = max(self.min_zoom(), min(MAX_ZOOM, zoom))
        anchor = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        before = self.image_pos(anchor)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        after = self.image_pos(anchor)
        delta = (after - before) * zoom
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
        self._fitted = False
        self.zoom_changed.emit(zoom)
        self.viewport_changed.emit()
        self.viewport().update()

    def fit(self) -> None:
        """Show the whole image, centred."""
        self.setTransform(QTransform.fromScale(self.fit_zoom(), self.fit_zoom()))
        self.centerOn(self.sceneRect().center())
        self._fitted = True
        self.zoom_changed.emit(self.zoom())
        self.viewport_changed.emit()

    def actual_pixels(self) -> None:
        """100 % around the viewport centre."""
        self.set_zoom(1.0)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * WHEEL_STEP * WHEEL_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / (WHEEL_STEP * WHEEL_STEP))

    def visible_rect(self) -> tuple[int, int, int, int] | None:
        """The visible image region (y0, x0, y1, x1) in image pixels, or None if empty."""
        scene_rect = self.mapToScene(self.viewport().rect()).boundingRect()
        r = scene_rect.intersected(self.sceneRect())
        if r.isEmpty():
            return None
        return (
            max(0, math.floor(r.top())),
            max(0, math.floor(r.left())),
            math.ceil(r.bottom()),
            math.ceil(r.right()),
        )

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        self.set_zoom(self.zoom() * WHEEL_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # -- tools and the brush cursor -------------------------------------------------
    def set_tool(self, tool: Tool | None) -> None:
        if self._tool is not None and self._tool_active:
            self._tool.cancel()
        self._tool, self._tool_active = tool, False
        self._update_cursor()
        self.viewport().update()

    def tool(self) -> Tool | None:
        return self._tool

    def set_brush_radius(self, radius: float) -> None:
        """Radius of the circular cursor in image pixels."""
        old = self._brush_rect()
        self._brush_radius = radius
        self._refresh_brush(old)

    def set_brush_hardness(self, hardness: float) -> None:
        """Hardness in [0, 1]: below 1 the cursor also rings the fully painted core."""
        self._brush_hardness = hardness
        self._refresh_brush(self._brush_rect())

    def _brush_rect(self) -> QRect:
        if self._mouse is None:
            return QRect()
        r = self._brush_radius * self.zoom() + 3
        c = self._mouse
        return QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r).toAlignedRect().adjusted(-2, -2, 2, 2)

    def _refresh_brush(self, old: QRect) -> None:
        self.viewport().update(old.united(self._brush_rect()))

    def _update_cursor(self) -> None:
        if self._space or self._pan_from is not None:
            shape = (
                Qt.CursorShape.ClosedHandCursor if self._pan_from else Qt.CursorShape.OpenHandCursor
            )
        elif self._near_divider():
            shape = Qt.CursorShape.SplitHCursor
        elif self._tool is not None and self._tool.shows_brush:
            shape = (
                Qt.CursorShape.BlankCursor
                if self._brush_radius * self.zoom() > 4
                else (Qt.CursorShape.CrossCursor)
            )
        else:
            shape = self._tool.cursor if self._tool is not None else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._paint_divider(painter)
        if self._tool is not None:
            self._tool.paint(painter, self.transform() * self._scroll_transform())
            if self._tool.shows_brush and self._mouse is not None and not self._space:
                self._paint_brush(painter)
        painter.restore()

    def _scroll_transform(self) -> QTransform:
        return QTransform.fromTranslate(
            -self.horizontalScrollBar().value(), -self.verticalScrollBar().value()
        )

    def _paint_brush(self, painter: QPainter) -> None:
        r = max(1.5, self._brush_radius * self.zoom())
        c = self._mouse
        assert c is not None
        for color, width in ((QColor(0, 0, 0, 150), 3.0), (QColor(255, 255, 255, 230), 1.2)):
            painter.setPen(QPen(color, width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(c, r, r)
        painter.drawPoint(c)
        inner = self._brush_radius * self._brush_hardness * self.zoom()
        if self._brush_hardness < 1.0 and 3.0 < inner < r - 2.0:
            for color, width in ((QColor(0, 0, 0, 110), 2.2), (QColor(255, 255, 255, 190), 1.0)):
                pen = QPen(color, width)
                pen.setDashPattern([3.0, 3.0])
                painter.setPen(pen)
                painter.drawEllipse(c, inner, inner)

    # -- split divider -------------------------------------------------------------
    def _divider_x(self) -> float | None:
        x = self.layer_scene().split_x()
        return None if x is None else float(self.mapFromScene(QPointF(x, 0)).x())

    def _near_divider(self) -> bool:
        x = self._divider_x()
        return (
            x is not None
            and self._mouse is not None
            and abs(self._mouse.x() - x) <= (DIVIDER_GRAB_PX)
        )

    def _paint_divider(self, painter: QPainter) -> None:
        x = self._divider_x()
        if x is None:
            return
        h = self.viewport().height()
        painter.setPen(QPen(QColor(0, 0, 0, 120), 3))
        painter.drawLine(QPointF(x, 0), QPointF(x, h))
        painter.setPen(QPen(QColor(240, 240, 240), 1.5))
        painter.drawLine(QPointF(x, 0), QPointF(x, h))
        painter.setBrush(QColor(240, 240, 240))
        painter.drawEllipse(QPointF(x, h / 2), 9, 9)
        painter.setPen(QPen(QColor(40, 40, 40), 1.5))
        for dx in (-3.0, 3.0):
            painter.drawLine(QPointF(x + dx, h / 2 - 4), QPointF(x + dx, h / 2 + 4))
        self._paint_label(painter, "Before", QPointF(x - 12, 22), Qt.AlignmentFlag.AlignRight)
        self._paint_label(painter, "After", QPointF(x + 12, 22), Qt.AlignmentFlag.AlignLeft)

    def _paint_label(
        self, painter: QPainter, text: str, at: QPointF, align: Qt.AlignmentFlag
    ) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(9.0)
        font.setBold(True)
        painter.setFont(font)
        w = painter.fontMetrics().horizontalAdvance(text) + 16
        left = at.x() - w if align == Qt.AlignmentFlag.AlignRight else at.x()
        box = QRectF(left, at.y() - 11, w, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 20, 22, 190))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def set_split_from_view(self, view_x: float) -> None:
        w = self.sceneRect().width()
        x = max(0.0, min(w, self.mapToScene(QPoint(round(view_x), 0)).x()))
        self.layer_scene().set_split(x)
        self.split_moved.emit(x)
        self.viewport().update()

    # -- mouse ---------------------------------------------------------------------
    def image_pos(self, view_pos: QPointF) -> QPointF:
        """Viewport position (sub-pixel) -> image coordinates."""
        inverted, _ok = self.viewportTransform().inverted()
        return inverted.map(view_pos)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton
            and (self._space or isinstance(self._tool, HandTool))
        )
        if pan:
            self._pan_from = event.position().toPoint()
        elif event.button() == Qt.MouseButton.LeftButton and self._near_divider():
            self._dragging_split = True
        elif (
            event.button() == Qt.MouseButton.LeftButton
            and self._can_use_tool()
            and self._tool is not None
        ):
            self._tool_active = True
            self._tool.press(self.image_pos(event.position()), event.modifiers())
            self.viewport().update()
        self._update_cursor()
        event.accept()

    def _can_use_tool(self) -> bool:
        return self._tool is not None and self.layer_scene().document() is not None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        old = self._brush_rect()
        self._mouse = event.position()
        if self._pan_from is not None:
            delta = event.position().toPoint() - self._pan_from
            self._pan_from = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        elif self._dragging_split:
            self.set_split_from_view(event.position().x())
        elif self._tool_active and self._tool is not None:
            self._tool.move(self.image_pos(event.position()))
            if not self._tool.shows_brush:
                self.viewport().update()
        self._emit_cursor(event.position())
        self._refresh_brush(old)
        self._update_cursor()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
        elif self._dragging_split:
            self._dragging_split = False
        elif self._tool_active and self._tool is not None:
            self._tool_active = False
            self._tool.release(self.image_pos(event.position()))
            self.viewport().update()
        self._update_cursor()

    def leaveEvent(self, event) -> None:  # noqa: N802, ANN001
        old = self._brush_rect()
        self._mouse = None
        self._refresh_brush(old)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)

    def _emit_cursor(self, view_pos: QPointF) -> None:
        p = self.image_pos(view_pos)
        rect = self.sceneRect()
        if rect.contains(p):
            self.cursor_moved.emit(int(p.x()), int(p.y()))
        else:
            self.cursor_moved.emit(-1, -1)

    # -- keys ----------------------------------------------------------------------
    def set_space_held(self, held: bool) -> None:
        """Space held: the left button pans (the window forwards the key)."""
        self._space = held
        if not held:
            self._pan_from = None
        self._update_cursor()
        self.viewport().update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.set_space_held(True)
            return
        if event.key() == Qt.Key.Key_Escape and self._tool_active and self._tool is not None:
            self._tool.cancel()
            self._tool_active = False
            self.viewport().update()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.set_space_held(False)
            return
        super().keyReleaseEvent(event)
