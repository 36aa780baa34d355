"""Canvas tools: brush, eraser, rectangle and lasso fill, hand (pan).

A tool receives mouse positions in image (scene) coordinates from the view and paints
its own feedback (rubber band, lasso path) in viewport coordinates. Tools never touch
pixels directly: they call the MaskEditor, which records undo steps.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF, QTransform

from app.ui.canvas.mask_edit import MaskEditor

OUTLINE = QColor(255, 255, 255, 220)
SHADOW = QColor(0, 0, 0, 160)


class Tool:
    """Base: a named tool with an optional brush cursor."""

    name = "tool"
    shows_brush = False
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, editor: MaskEditor) -> None:
        self.editor = editor

    def press(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        """Mouse button down at image position ``pos``."""

    def move(self, pos: QPointF) -> None:
        """Mouse moved with the button held."""

    def release(self, pos: QPointF) -> None:
        """Button released."""

    def cancel(self) -> None:
        """Abandon an unfinished gesture (Esc, focus loss)."""

    def paint(self, painter: QPainter, to_view: QTransform) -> None:
        """Draw feedback; ``to_view`` maps image to viewport coordinates."""


class BrushTool(Tool):
    """Paints (or erases) the mask along the mouse path; one undo step per stroke."""

    name = "brush"
    shows_brush = True
    erase = False

    def press(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        # Alt inverts the tool, as in most photo editors
        erase = self.erase != bool(modifiers & Qt.KeyboardModifier.AltModifier)
        self.editor.begin_stroke(pos.x(), pos.y(), erase=erase)

    def move(self, pos: QPointF) -> None:
        self.editor.stroke_to(pos.x(), pos.y())

    def release(self, pos: QPointF) -> None:
        self.editor.end_stroke()

    def cancel(self) -> None:
        self.editor.abort_stroke()


class EraserTool(BrushTool):
    name = "eraser"
    erase = True


def _outline(painter: QPainter, shape: QPainterPath | QPolygonF | QRectF) -> None:
    for color, width in ((SHADOW, 3.0), (OUTLINE, 1.0)):
        pen = QPen(color, width)
        pen.setCosmetic(True)
        if color is OUTLINE:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if isinstance(shape, QRectF):
            painter.drawRect(shape)
        elif isinstance(shape, QPolygonF):
            painter.drawPolyline(shape)
        else:
            painter.drawPath(shape)


class RectDragTool(Tool):
    """Base of tools that drag out a rectangle; subclasses act on it in :meth:`finish`."""

    min_size = 1.0  # px: smaller drags are ignored

    def __init__(self, editor: MaskEditor) -> None:
        super().__init__(editor)
        self._start: QPointF | None = None
        self._end: QPointF | None = None

    def press(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        self._start = self._end = pos

    def move(self, pos: QPointF) -> None:
        self._end = pos

    def rect(self) -> QRectF | None:
        """The rectangle dragged so far (scene coordinates), or None when not dragging."""
        if self._start is None or self._end is None:
            return None
        return QRectF(self._start, self._end).normalized()

    def release(self, pos: QPointF) -> None:
        self._end = pos
        r = self.rect()
        self._start = self._end = None
        if r is not None and r.width() >= self.min_size and r.height() >= self.min_size:
            self.finish((round(r.top()), round(r.left()), round(r.bottom()), round(r.right())))

    def finish(self, box: tuple[int, int, int, int]) -> None:
        """Act on the released rectangle ``(y0, x0, y1, x1)``."""

    def cancel(self) -> None:
        self._start = self._end = None


class RectTool(RectDragTool):
    """Drag a rectangle; on release it is filled (Alt: cleared)."""

    name = "rect"

    def __init__(self, editor: MaskEditor) -> None:
        super().__init__(editor)
        self._erase = False

    def press(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        super().press(pos, modifiers)
        self._erase = bool(modifiers & Qt.KeyboardModifier.AltModifier)

    def finish(self, box: tuple[int, int, int, int]) -> None:
        self.editor.fill_rect(box, erase=self._erase)

    def paint(self, painter: QPainter, to_view: QTransform) -> None:
        r = self.rect()
        if r is not None:
            _outline(painter, to_view.mapRect(r))


class LassoTool(Tool):
    """Draw a free-hand outline; on release the enclosed area is filled (Alt: cleared)."""

    name = "lasso"

    def __init__(self, editor: MaskEditor) -> None:
        super().__init__(editor)
        self._points: list[QPointF] = []
        self._erase = False

    def press(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        self._points = [pos]
        self._erase = bool(modifiers & Qt.KeyboardModifier.AltModifier)

    def move(self, pos: QPointF) -> None:
        if self._points and (pos - self._points[-1]).manhattanLength() >= 1.0:
            self._points.append(pos)

    def release(self, pos: QPointF) -> None:
        self.move(pos)
        points, self._points = self._points, []
        self.editor.fill_polygon([(p.x(), p.y()) for p in points], erase=self._erase)

    def cancel(self) -> None:
        self._points = []

    def paint(self, painter: QPainter, to_view: QTransform) -> None:
        if len(self._points) > 1:
            poly = to_view.map(QPolygonF([*self._points, self._points[0]]))
            _outline(painter, poly)


class HandTool(Tool):
    """Pans the view (the view handles the drag itself)."""

    name = "hand"
    cursor = Qt.CursorShape.OpenHandCursor
