"""Scene items that draw one layer each: images (with a mip cache), the mask overlay.

Items live in *document pixel* coordinates (the original image's size); a layer of a
different size (an upscaled result, a 1/4-resolution latent) is scaled to cover the
same rectangle. Only the exposed part of an item is drawn, so repainting the few
pixels under the brush is cheap even on a 100 MP scan.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from app.ui.canvas.convert import to_uint8, wrap_argb32

MASK_TINT = QColor(255, 64, 96)
MASK_ALPHA = 0.55


class ImageItem(QGraphicsItem):
    """Draws a QImage; picks a pre-shrunk level when zoomed out; optional clip rectangle."""

    def __init__(self, image: QImage, scene_size: tuple[int, int]) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._clip: QRectF | None = None
        self.always_smooth = False  # low-resolution maps (latents) look better smoothed
        self._scene_size = scene_size
        self._levels: list[QImage] = []
        self.set_image(image)

    # -- content -----------------------------------------------------------------
    def set_image(self, image: QImage) -> None:
        """Replace the picture (same or different size) and drop the mip cache."""
        self.prepareGeometryChange()
        self._image = image
        self._levels = [image]
        w, h = self._scene_size
        self.setScale(w / max(image.width(), 1) if image.width() else 1.0)
        if abs(self.scale() * image.height() - h) > 1:
            self.setScale(h / max(image.height(), 1))
        self.update()

    def image(self) -> QImage:
        """The full-resolution picture."""
        return self._image

    def set_clip(self, rect: QRectF | None) -> None:
        """Draw only inside ``rect`` (scene coordinates), or everywhere with None."""
        self._clip = rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return QRectF(0, 0, self._image.width(), self._image.height())

    # -- drawing -----------------------------------------------------------------
    def _level(self, zoom: float) -> tuple[QImage, float]:
        """Smallest cached level still at least as large as the screen needs."""
        level, factor = self._levels[0], 1.0
        index = 0
        while zoom * factor < 0.5 and min(level.width(), level.height()) > 64:
            index += 1
            if index >= len(self._levels):
                prev = self._levels[-1]
                self._levels.append(
                    prev.scaled(
                        max(1, prev.width() // 2),
                        max(1, prev.height() // 2),
                        Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                )
            level = self._levels[index]
            factor = self._image.width() / max(level.width(), 1)
        return level, factor

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        if self._image.isNull():
            return
        zoom = painter.worldTransform().m11()
        smooth = zoom < 1.0 or self.always_smooth
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        exposed = option.exposedRect.intersected(self.boundingRect())
        if self._clip is not None:
            clip_local = self.mapRectFromScene(self._clip)
            exposed = exposed.intersected(clip_local)
        if exposed.isEmpty():
            return
        level, factor = self._level(zoom)
        src = QRectF(
            exposed.x() / factor,
            exposed.y() / factor,
            exposed.width() / factor,
            exposed.height() / factor,
        )
        if not smooth:
            exposed, src = _snap(exposed), _snap(src)
        painter.drawImage(exposed, level, src)


def _snap(rect: QRectF) -> QRectF:
    """Grow ``rect`` to whole pixels so nearest-neighbour pixels keep their size."""
    x0, y0 = np.floor(rect.left()), np.floor(rect.top())
    x1, y1 = np.ceil(rect.right()), np.ceil(rect.bottom())
    return QRectF(QPointF(x0, y0), QPointF(x1, y1))


class MaskItem(ImageItem):
    """A tinted translucent overlay of a (H, W) float mask, updated per dirty rectangle."""

    def __init__(self, mask: np.ndarray, tint: QColor = MASK_TINT) -> None:
        h, w = mask.shape[:2]
        self._tint = tint
        self._buffer = np.zeros((h, w, 4), dtype=np.uint8)
        super().__init__(wrap_argb32(self._buffer), (w, h))
        self.update_region(mask, None)

    def _level(self, zoom: float) -> tuple[QImage, float]:
        return self._image, 1.0  # changes too often for a mip cache

    def set_mask(self, mask: np.ndarray) -> None:
        """Take a whole new mask (possibly another size)."""
        h, w = mask.shape[:2]
        if (h, w) != self._buffer.shape[:2]:
            self._buffer = np.zeros((h, w, 4), dtype=np.uint8)
            self._scene_size = (w, h)
            self.set_image(wrap_argb32(self._buffer))
        self.update_region(mask, None)

    def update_region(self, mask: np.ndarray, rect: tuple[int, int, int, int] | None) -> None:
        """Re-tint ``mask[y0:y1, x0:x1]`` (the whole mask when ``rect`` is None) and repaint it."""
        h, w = self._buffer.shape[:2]
        y0, x0, y1, x1 = rect if rect is not None else (0, 0, h, w)
        y0, x0, y1, x1 = max(0, y0), max(0, x0), min(h, y1), min(w, x1)
        if y1 <= y0 or x1 <= x0:
            return
        alpha = to_uint8(mask[y0:y1, x0:x1] * MASK_ALPHA).astype(np.uint16)
        tint = self._tint
        out = self._buffer[y0:y1, x0:x1]
        # premultiplied BGRA in memory order
        out[..., 0] = (alpha * tint.blue() + 127) // 255
        out[..., 1] = (alpha * tint.green() + 127) // 255
        out[..., 2] = (alpha * tint.red() + 127) // 255
        out[..., 3] = alpha
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))


STRENGTH_MORE = QColor(255, 170, 40)  # painted "clean more"
STRENGTH_LESS = QColor(70, 160, 255)  # painted "keep more"
STRENGTH_ALPHA = 0.45


class StrengthItem(MaskItem):
    """A latent strength map (0.5 neutral) as an overlay: orange where it cleans more,
    blue where it keeps more, transparent where neutral; re-tinted per dirty rectangle."""

    def update_region(self, mask: np.ndarray, rect: tuple[int, int, int, int] | None) -> None:
        h, w = self._buffer.shape[:2]
        y0, x0, y1, x1 = rect if rect is not None else (0, 0, h, w)
        y0, x0, y1, x1 = max(0, y0), max(0, x0), min(h, y1), min(w, x1)
        if y1 <= y0 or x1 <= x0:
            return
        signed = mask[y0:y1, x0:x1] * 2.0 - 1.0
        alpha = to_uint8(np.abs(signed) * STRENGTH_ALPHA).astype(np.uint16)
        more = signed > 0
        out = self._buffer[y0:y1, x0:x1]
        for channel, attr in ((0, "blue"), (1, "green"), (2, "red")):
            tint = np.where(more, getattr(STRENGTH_MORE, attr)(), getattr(STRENGTH_LESS, attr)())
            out[..., channel] = (alpha * tint.astype(np.uint16) + 127) // 255
        out[..., 3] = alpha
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))
