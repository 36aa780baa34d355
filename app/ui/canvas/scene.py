"""LayerScene: a QGraphicsScene kept in step with a Document's LayerList.

One item per layer, stacked in list order (index 0 at the bottom), shown with the
layer's visibility and opacity. Image data is converted to a QImage once per change;
the mask is re-tinted only inside the dirty rectangle a stroke reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsScene

from app.ui.canvas.convert import heat_rgb, latent_rgb, rgb_image, route_rgb, wrap_rgb888
from app.ui.canvas.items import ImageItem, MaskItem, StrengthItem

CANVAS_BACKGROUND = QColor(30, 31, 34)
DIFFERENCE_GAIN = 4.0
# layers never clipped by the split divider: the "before" side and the editing aid
_UNSPLIT = ("original", "mask", "strength")


def kind_name(layer: Any) -> str:
    """The layer's kind as a plain string ('original', 'mask', ...)."""
    kind = getattr(layer, "kind", "")
    return str(getattr(kind, "value", kind))


def layer_qimage(layer: Any) -> Any:
    """The QImage showing ``layer``; single-channel maps are colour-mapped.

    Difference maps (mean |result - original| in [0, 1]) are amplified by
    ``meta["display_gain"]`` (default 4) into a heat map; latent maps use
    ``meta["range"]`` (lo, hi) when present, a robust range otherwise.
    """
    data = np.asarray(layer.data)
    kind = kind_name(layer)
    meta = getattr(layer, "meta", None) or {}
    if data.ndim == 3:
        return rgb_image(data)
    if kind == "difference":
        gain = float(meta.get("display_gain", DIFFERENCE_GAIN))
        return wrap_rgb888(heat_rgb(np.clip(data * gain, 0, 1)))
    if kind == "latent":
        return wrap_rgb888(latent_rgb(data, meta.get("range")))
    if kind == "route":  # path per region: discrete colours, drawn without smoothing
        return wrap_rgb888(route_rgb(data))
    return wrap_rgb888(heat_rgb(np.clip(data, 0, 1)))


class LayerScene(QGraphicsScene):
    """Mirrors ``document.layers``; ``only`` limits the kinds shown (side-by-side 'before')."""

    def __init__(self, only: Iterable[str] | None = None) -> None:
        super().__init__()
        self.setBackgroundBrush(CANVAS_BACKGROUND)
        self._only = set(only) if only is not None else None
        self._doc: Any = None
        self._items: dict[int, ImageItem] = {}
        self._layer_slots: dict[int, tuple[Any, Callable[..., None], Callable[..., None]]] = {}
        self._list_slots: list[tuple[Any, Callable[..., None]]] = []
        self._split_x: float | None = None
        self._solo_original = False

    # -- document ----------------------------------------------------------------
    def set_document(self, doc: Any) -> None:
        """Show ``doc`` (or nothing with None), dropping the previous document's items."""
        self._disconnect_all()
        self._doc = doc
        if doc is None:
            self.setSceneRect(QRectF())
            return
        h, w = doc.size if hasattr(doc, "size") else doc.original.shape[:2]
        self.setSceneRect(QRectF(0, 0, w, h))
        layers = doc.layers
        for signal, slot in (
            (layers.inserted, self._on_inserted),
            (layers.removed, self._on_removed),
            (layers.moved, self._on_moved),
            (layers.changed, self._restack),
        ):
            signal.connect(slot)
            self._list_slots.append((signal, slot))
        for layer in list(layers):
            self._add_item(layer)
        self._restack()

    def document(self) -> Any:
        return self._doc

    def item_for(self, layer: Any) -> ImageItem | None:
        """The item drawing ``layer`` (None when filtered out)."""
        return self._items.get(id(layer))

    def _disconnect_all(self) -> None:
        for signal, slot in self._list_slots:
            signal.disconnect(slot)
        self._list_slots.clear()
        for key in list(self._items):
            self._drop_item(key)

    def _doc_size(self) -> tuple[int, int]:
        rect = self.sceneRect()
        return int(rect.width()), int(rect.height())

    # -- items -------------------------------------------------------------------
    def _add_item(self, layer: Any) -> None:
        if self._only is not None and kind_name(layer) not in self._only:
            return
        if kind_name(layer) == "mask":
            item: ImageItem = MaskItem(np.asarray(layer.data))
        elif kind_name(layer) == "strength":
            item = StrengthItem(np.asarray(layer.data))
        else:
            item = ImageItem(layer_qimage(layer), self._doc_size())
            item.always_smooth = kind_name(layer) == "latent"
        self.addItem(item)
        self._items[id(layer)] = item

        def on_changed(_what: str = "", layer: Any = layer) -> None:
            self._apply_props(layer)

        def on_data(rect: Any = None, layer: Any = layer) -> None:
            self._refresh_data(layer, rect)

        layer.changed.connect(on_changed)
        layer.data_changed.connect(on_data)
        self._layer_slots[id(layer)] = (layer, on_changed, on_data)
        self._apply_props(layer)

    def _drop_item(self, key: int) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.removeItem(item)
        slots = self._layer_slots.pop(key, None)
        if slots is not None:
            layer, on_changed, on_data = slots
            layer.changed.disconnect(on_changed)
            layer.data_changed.disconnect(on_data)

    def _refresh_data(self, layer: Any, rect: Any) -> None:
        item = self._items.get(id(layer))
        if item is None:
            return
        if isinstance(item, MaskItem):
            data = np.asarray(layer.data)
            if rect is None:
                item.set_mask(data)
            else:
                item.update_region(data, tuple(rect))
            return
        item.set_image(layer_qimage(layer))

    def _apply_props(self, layer: Any) -> None:
        item = self._items.get(id(layer))
        if item is None:
            return
        item.setOpacity(float(layer.opacity))
        solo_hidden = self._solo_original and kind_name(layer) != "original"
        item.setVisible(bool(layer.visible) and not solo_hidden)
        split = self._split_x is not None and kind_name(layer) not in _UNSPLIT
        item.set_clip(self._split_clip() if split else None)

    def _split_clip(self) -> QRectF:
        w, h = self._doc_size()
        x = self._split_x or 0.0
        return QRectF(x, -1e6, max(0.0, w * 8 - x) + 1e6, 2e6)

    def _restack(self, *_: Any) -> None:
        if self._doc is None:
            return
        for index, layer in enumerate(list(self._doc.layers)):
            item = self._items.get(id(layer))
            if item is not None:
                item.setZValue(index)
                self._apply_props(layer)

    def _on_inserted(self, index: int, layer: Any) -> None:
        self._add_item(layer)
        self._restack()

    def _on_removed(self, index: int, layer: Any) -> None:
        self._drop_item(id(layer))
        self._restack()

    def _on_moved(self, *_: Any) -> None:
        self._restack()

    # -- comparison --------------------------------------------------------------
    def set_split(self, x: float | None) -> None:
        """Clip layers above the original to the right of ``x`` (scene px); None: no split."""
        self._split_x = x
        self._restack()

    def split_x(self) -> float | None:
        return self._split_x

    def set_solo_original(self, on: bool) -> None:
        """Show only the original layer while ``on`` (the hold-\\ flash)."""
        if on != self._solo_original:
            self._solo_original = on
            self._restack()
