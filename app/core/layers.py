"""Evented layers: the pictures a Document stacks (original, result, mask, maps).

A :class:`Layer` holds one float32 array and its display properties; a :class:`LayerList`
orders layers bottom -> top. Both announce every change through psygnal signals, which
are emitted synchronously in the thread that made the change. Mutate the model from the
GUI thread only (workers receive copies of the arrays, never the layers).

Array contracts, by kind (``H, W`` is the original image's size unless stated):

=================  ===========================================================
ORIGINAL           float32 (H, W, 3) RGB in [0, 1]
RESULT             float32 (H*s, W*s, 3) in [0, 1]; ``meta["scale"] = s`` (1 or more)
GROUND_TRUTH       float32 (H, W, 3): the clean image a synthetic document came from
MASK               float32 (H, W) in [0, 1], 1 = damaged / to be filled
PROBABILITY        float32 (H, W) in [0, 1] (e.g. a scratch detector's output)
STRENGTH           float32 (H, W) in [0, 1] (per-pixel restoration strength)
DIFFERENCE         float32 (H, W) in [0, 1]: mean over channels of |result - original|
LATENT             float32 (h, w) map at 1/``meta["scale"]`` resolution; ``meta["range"]``
                   is ``(lo, hi)``, the values to map to black and white
ROUTE              float32 (h, w) map at 1/``meta["scale"]`` resolution: the path each
                   region took (0 bypass, 1 quick, 2 full; app.core.route_plan.PATHS)
=================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import numpy as np
from psygnal import Signal

from app.core.errors import InvalidInputError

Rect = tuple[int, int, int, int]
"""A dirty rectangle ``(y0, x0, y1, x1)`` in the layer's pixels, end-exclusive."""


class LayerKind(StrEnum):
    """What a layer shows; the value is the lower-case name (``"mask"``)."""

    ORIGINAL = "original"
    RESULT = "result"
    MASK = "mask"
    DIFFERENCE = "difference"
    LATENT = "latent"
    PROBABILITY = "probability"
    GROUND_TRUTH = "ground_truth"
    STRENGTH = "strength"
    ROUTE = "route"


RGB_KINDS = frozenset({LayerKind.ORIGINAL, LayerKind.RESULT, LayerKind.GROUND_TRUTH})
"""Kinds whose data is (H, W, 3); every other kind holds a single-channel (H, W) map."""

PROPERTIES = ("name", "visible", "opacity", "locked")
"""Layer properties that :class:`SetLayerProperty` may change (each emits ``changed``)."""


def check_layer_data(kind: LayerKind, data: np.ndarray) -> np.ndarray:
    """Return ``data`` as a C-contiguous float32 array of the right rank for ``kind``.

    No copy when it already is one. Raises InvalidInputError for a wrong shape.
    """
    array = np.ascontiguousarray(data, dtype=np.float32)
    if kind in RGB_KINDS:
        ok = array.ndim == 3 and array.shape[2] == 3
        expected = "(H, W, 3)"
    else:
        ok = array.ndim == 2
        expected = "(H, W)"
    if not ok or min(array.shape[:2], default=0) < 1:
        raise InvalidInputError(f"a {kind.value} layer needs a {expected} array, got {data.shape}")
    return array


class Layer:
    """One picture in the document, with its display properties.

    Signals (synchronous, emitted after the change):

    - ``changed(str)``: a property changed; the argument is ``"name"``, ``"visible"``,
      ``"opacity"``, ``"locked"``, ``"meta"`` or ``"data"``. ``"data"`` is sent only when
      the whole array is replaced (its size may differ): rebuild anything cached.
    - ``data_changed(rect)``: pixels changed, inside ``rect = (y0, x0, y1, x1)``
      (end-exclusive, layer pixels) or anywhere when ``rect`` is None. Sent for every
      data change, including whole replacements (then with None).

    ``locked`` is advisory: tools must not paint on a locked layer, but the model itself
    (undo, redo, set_data) does not refuse.
    """

    changed = Signal(str)
    data_changed = Signal(object)

    def __init__(
        self,
        name: str,
        kind: LayerKind | str,
        data: np.ndarray,
        *,
        visible: bool = True,
        opacity: float = 1.0,
        locked: bool = False,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._kind = LayerKind(kind)
        self._data = check_layer_data(self._kind, data)
        self._name = str(name)
        self._visible = bool(visible)
        self._opacity = _clamp_opacity(opacity)
        self._locked = bool(locked)
        self.meta: dict[str, Any] = dict(meta or {})

    def __repr__(self) -> str:
        return f"Layer({self._name!r}, {self._kind.value}, shape={self._data.shape})"

    @property
    def kind(self) -> LayerKind:
        """The layer's kind (fixed at creation)."""
        return self._kind

    @property
    def data(self) -> np.ndarray:
        """The pixels (see the module table). Edit in place only with :meth:`notify_data`."""
        return self._data

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the data in pixels."""
        return int(self._data.shape[0]), int(self._data.shape[1])

    @property
    def name(self) -> str:
        """Display name."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._set("_name", str(value), "name")

    @property
    def visible(self) -> bool:
        """Whether the canvas draws the layer."""
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        self._set("_visible", bool(value), "visible")

    @property
    def opacity(self) -> float:
        """Drawing opacity in [0, 1] (set values are clamped)."""
        return self._opacity

    @opacity.setter
    def opacity(self, value: float) -> None:
        self._set("_opacity", _clamp_opacity(value), "opacity")

    @property
    def locked(self) -> bool:
        """Advisory lock: painting tools leave a locked layer alone."""
        return self._locked

    @locked.setter
    def locked(self, value: bool) -> None:
        self._set("_locked", bool(value), "locked")

    def _set(self, attr: str, value: Any, prop: str) -> None:
        if getattr(self, attr) != value:
            setattr(self, attr, value)
            self.changed.emit(prop)

    def set_data(self, data: np.ndarray, rect: Rect | None = None) -> None:
        """Replace pixels and announce it.

        With ``rect`` None, ``data`` becomes the whole array (validated and converted to
        float32 as for the constructor; its size may differ from before); emits
        ``changed("data")`` then ``data_changed(None)``. With ``rect = (y0, x0, y1, x1)``,
        ``data`` is a patch of shape ``(y1-y0, x1-x0[, 3])`` copied into that rectangle;
        emits ``data_changed(rect)`` only.
        """
        if rect is None:
            self._data = check_layer_data(self._kind, data)
            self.changed.emit("data")
            self.data_changed.emit(None)
            return
        y0, x0, y1, x1 = rect
        target = self._data[y0:y1, x0:x1]
        if target.shape != data.shape:
            raise InvalidInputError(
                f"a patch of shape {data.shape} does not fit the rectangle {rect} "
                f"of a {self._data.shape} layer"
            )
        target[...] = data
        self.data_changed.emit(tuple(int(v) for v in rect))

    def notify_data(self, rect: Rect | None = None) -> None:
        """Announce that ``data`` was edited in place (a brush dab) inside ``rect``."""
        self.data_changed.emit(None if rect is None else tuple(int(v) for v in rect))

    def set_meta(self, meta: dict[str, Any]) -> None:
        """Replace ``meta`` (a JSON-serialisable dict) and emit ``changed("meta")``."""
        self.meta = dict(meta)
        self.changed.emit("meta")


def _clamp_opacity(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


class LayerList:
    """Layers in drawing order: index 0 is the bottom, ``[-1]`` the top.

    Signals (synchronous, emitted after the change):

    - ``inserted(index, layer)`` and ``removed(index, layer)``;
    - ``moved(old_index, new_index)``: the layer that was at ``old_index`` is now at
      ``new_index``;
    - ``changed()``: after any of the three above (re-read the whole list);
    - ``layer_changed(layer, prop)``: forwards every member's ``Layer.changed``, so a list
      model can watch properties without connecting to each layer.
    """

    inserted = Signal(int, object)
    removed = Signal(int, object)
    moved = Signal(int, int)
    changed = Signal()
    layer_changed = Signal(object, str)

    def __init__(self, layers: list[Layer] | None = None) -> None:
        self._layers: list[Layer] = []
        self._forwarders: dict[int, Callable[[str], None]] = {}
        for layer in layers or []:
            self.append(layer)

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(list(self._layers))

    def __getitem__(self, index: int) -> Layer:
        return self._layers[index]

    def __contains__(self, layer: object) -> bool:
        return any(item is layer for item in self._layers)

    def index(self, layer: Layer) -> int:
        """Position of ``layer`` (by identity); ValueError if it is not in the list."""
        for i, item in enumerate(self._layers):
            if item is layer:
                return i
        raise ValueError(f"{layer!r} is not in the layer list")

    def append(self, layer: Layer) -> None:
        """Put ``layer`` on top."""
        self.insert(len(self._layers), layer)

    def insert(self, index: int, layer: Layer) -> None:
        """Put ``layer`` at ``index`` (clamped to ``[0, len]``); a layer may appear only once."""
        if layer in self:
            raise ValueError(f"{layer!r} is already in the layer list")
        index = max(0, min(index, len(self._layers)))
        self._layers.insert(index, layer)
        self._connect(layer)
        self.inserted.emit(index, layer)
        self.changed.emit()

    def remove(self, layer: Layer) -> int:
        """Take ``layer`` out; returns the index it had."""
        index = self.index(layer)
        self.pop(index)
        return index

    def pop(self, index: int = -1) -> Layer:
        """Take out and return the layer at ``index``."""
        if index < 0:
            index += len(self._layers)
        layer = self._layers.pop(index)
        self._disconnect(layer)
        self.removed.emit(index, layer)
        self.changed.emit()
        return layer

    def move(self, src: int, dst: int) -> None:
        """Move the layer at ``src`` so it ends up at index ``dst`` (clamped)."""
        if src < 0:
            src += len(self._layers)
        dst = max(0, min(dst, len(self._layers) - 1))
        if src == dst:
            return
        self._layers.insert(dst, self._layers.pop(src))
        self.moved.emit(src, dst)
        self.changed.emit()

    def find(self, kind: LayerKind | str, name: str | None = None) -> Layer | None:
        """The top-most layer of ``kind`` (and ``name`` when given), or None."""
        for layer in reversed(self._layers):
            if layer.kind == kind and (name is None or layer.name == name):
                return layer
        return None

    def all(self, kind: LayerKind | str) -> list[Layer]:
        """Every layer of ``kind``, bottom to top."""
        return [layer for layer in self._layers if layer.kind == kind]

    def _connect(self, layer: Layer) -> None:
        def forward(prop: str, layer: Layer = layer) -> None:
            self.layer_changed.emit(layer, prop)

        self._forwarders[id(layer)] = forward
        layer.changed.connect(forward)

    def _disconnect(self, layer: Layer) -> None:
        forward = self._forwarders.pop(id(layer), None)
        if forward is not None:
            layer.changed.disconnect(forward)
