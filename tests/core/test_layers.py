"""Layers and the evented layer list."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.core.layers import Layer, LayerKind, LayerList


def rgb(h: int = 8, w: int = 10) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, 3), dtype=np.float32)


def test_kind_values_are_lower_case() -> None:
    assert LayerKind.GROUND_TRUTH == "ground_truth"
    assert LayerKind("mask") is LayerKind.MASK


def test_layer_checks_shape_by_kind() -> None:
    assert Layer("o", LayerKind.ORIGINAL, rgb()).shape == (8, 10)
    with pytest.raises(InvalidInputError, match=r"\(H, W\) array"):
        Layer("m", LayerKind.MASK, rgb())
    with pytest.raises(InvalidInputError, match=r"\(H, W, 3\)"):
        Layer("r", LayerKind.RESULT, np.zeros((4, 4), np.float32))


def test_layer_converts_to_float32() -> None:
    layer = Layer("m", "mask", np.ones((3, 4), dtype=np.float64))
    assert layer.data.dtype == np.float32
    assert layer.kind is LayerKind.MASK


def test_property_setters_emit_changed_once() -> None:
    layer = Layer("a", LayerKind.RESULT, rgb())
    seen: list[str] = []
    layer.changed.connect(seen.append)
    layer.name = "b"
    layer.visible = False
    layer.visible = False  # unchanged: no signal
    layer.opacity = 2.0  # clamped to 1.0, the current value: no signal
    layer.opacity = -1.0
    layer.locked = True
    assert seen == ["name", "visible", "opacity", "locked"]
    assert layer.opacity == 0.0


def test_set_data_whole_and_patch() -> None:
    layer = Layer("m", LayerKind.MASK, np.zeros((6, 6), np.float32))
    props: list[str] = []
    rects: list[object] = []
    layer.changed.connect(props.append)
    layer.data_changed.connect(rects.append)
    layer.set_data(np.ones((2, 3), np.float32), (1, 2, 3, 5))
    assert layer.data[1:3, 2:5].all() and layer.data.sum() == 6
    layer.set_data(np.zeros((4, 4), np.float32))
    assert layer.shape == (4, 4)
    assert rects == [(1, 2, 3, 5), None]
    assert props == ["data"]


def test_set_data_patch_shape_mismatch() -> None:
    layer = Layer("m", LayerKind.MASK, np.zeros((6, 6), np.float32))
    with pytest.raises(InvalidInputError, match="does not fit"):
        layer.set_data(np.ones((2, 2), np.float32), (0, 0, 3, 3))


def test_notify_data_after_in_place_edit() -> None:
    layer = Layer("m", LayerKind.MASK, np.zeros((6, 6), np.float32))
    rects: list[object] = []
    layer.data_changed.connect(rects.append)
    layer.data[0:2, 0:2] = 1
    layer.notify_data((0, 0, 2, 2))
    assert rects == [(0, 0, 2, 2)]


def _list() -> tuple[LayerList, list[Layer]]:
    layers = [
        Layer("o", LayerKind.ORIGINAL, rgb()),
        Layer("r", LayerKind.RESULT, rgb()),
        Layer("m", LayerKind.MASK, np.zeros((8, 10), np.float32)),
    ]
    return LayerList(layers), layers


def test_list_insert_remove_move_signals() -> None:
    lst, (o, r, m) = _list()
    events: list[tuple] = []
    lst.inserted.connect(lambda i, layer: events.append(("ins", i, layer.name)))
    lst.removed.connect(lambda i, layer: events.append(("rem", i, layer.name)))
    lst.moved.connect(lambda a, b: events.append(("mov", a, b)))
    lst.changed.connect(lambda: events.append(("chg",)))
    extra = Layer("d", LayerKind.DIFFERENCE, np.zeros((8, 10), np.float32))
    lst.insert(1, extra)
    assert [layer.name for layer in lst] == ["o", "d", "r", "m"]
    assert lst.remove(extra) == 1
    lst.move(2, 0)
    assert [layer.name for layer in lst] == ["m", "o", "r"]
    assert events == [("ins", 1, "d"), ("chg",), ("rem", 1, "d"), ("chg",), ("mov", 2, 0), ("chg",)]


def test_list_rejects_duplicates_and_unknown() -> None:
    lst, (o, _, _) = _list()
    with pytest.raises(ValueError, match="already"):
        lst.append(o)
    with pytest.raises(ValueError, match="not in"):
        lst.index(Layer("x", LayerKind.MASK, np.zeros((2, 2), np.float32)))


def test_find_and_all() -> None:
    lst, (o, r, m) = _list()
    second = Layer("r2", LayerKind.RESULT, rgb())
    lst.append(second)
    assert lst.find(LayerKind.RESULT) is second  # top-most
    assert lst.find("result", name="r") is r
    assert lst.find(LayerKind.LATENT) is None
    assert lst.all(LayerKind.RESULT) == [r, second]
    assert len(lst) == 4 and lst[0] is o and r in lst


def test_layer_changed_is_forwarded_until_removed() -> None:
    lst, (o, r, m) = _list()
    seen: list[tuple[str, str]] = []
    lst.layer_changed.connect(lambda layer, prop: seen.append((layer.name, prop)))
    r.visible = False
    lst.remove(r)
    r.visible = True
    assert seen == [("r", "visible")]
