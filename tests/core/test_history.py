"""Undo/redo commands and the history stack."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import InvalidInputError
from app.core.history import (
    AddLayer,
    Command,
    History,
    MaskPatchEdit,
    MoveLayer,
    PatchRecorder,
    RemoveLayer,
    SetLayerData,
    SetLayerProperty,
)
from app.core.layers import Layer, LayerKind, LayerList


class Counter(Command):
    def __init__(self, box: list[int], step: int = 1, nbytes: int = 0) -> None:
        self.box = box
        self.step = step
        self.text = f"+{step}"
        self._nbytes = nbytes

    def do(self) -> None:
        self.box[0] += self.step

    def undo(self) -> None:
        self.box[0] -= self.step

    @property
    def nbytes(self) -> int:
        return self._nbytes


def mask_layer(h: int = 32, w: int = 40) -> Layer:
    return Layer("Mask", LayerKind.MASK, np.zeros((h, w), np.float32))


def test_push_undo_redo_and_texts() -> None:
    box = [0]
    history = History()
    changes: list[int] = []
    history.changed.connect(lambda: changes.append(1))
    history.push(Counter(box, 1))
    history.push(Counter(box, 10))
    assert box == [11] and history.undo_text == "+10" and not history.can_redo
    history.undo()
    assert box == [1] and history.redo_text == "+10" and history.can_redo
    history.redo()
    assert box == [11]
    history.undo()
    history.push(Counter(box, 5))  # drops the redo stack
    assert box == [6] and not history.can_redo
    assert history.undo_texts == ["+1", "+5"]
    assert len(changes) == 6


def test_already_done_is_not_executed_again() -> None:
    box = [7]
    history = History()
    history.push(Counter(box, 3), already_done=True)
    assert box == [7]
    history.undo()
    assert box == [4]


def test_undo_redo_on_empty_is_noop() -> None:
    history = History()
    history.undo()
    history.redo()
    assert not history.can_undo and history.undo_text == ""


def test_clean_state() -> None:
    box = [0]
    history = History()
    assert history.is_clean
    history.push(Counter(box))
    assert not history.is_clean
    history.mark_clean()
    history.push(Counter(box))
    history.undo()
    assert history.is_clean
    history.undo()
    history.push(Counter(box))  # the saved state was on the redo stack: unreachable
    assert not history.is_clean
    history.clear()
    assert history.is_clean and not history.can_undo


def test_step_limit_drops_oldest() -> None:
    box = [0]
    history = History(limit=3)
    for _ in range(5):
        history.push(Counter(box))
    assert len(history.undo_texts) == 3
    for _ in range(5):
        history.undo()
    assert box == [2]


def test_memory_limit_drops_oldest_but_keeps_newest() -> None:
    box = [0]
    history = History(memory_limit=100)
    history.push(Counter(box, nbytes=60))
    history.push(Counter(box, nbytes=60))
    assert len(history.undo_texts) == 1
    history.push(Counter(box, nbytes=500))
    assert len(history.undo_texts) == 1 and history.nbytes == 500


def test_macro_groups_into_one_step() -> None:
    box = [0]
    history = History()
    with history.macro("Both"):
        history.push(Counter(box, 1))
        with history.macro("inner"):
            history.push(Counter(box, 2))
        assert not history.can_undo  # nothing to undo mid-macro
    assert box == [3] and history.undo_texts == ["Both"]
    history.undo()
    assert box == [0]
    history.redo()
    assert box == [3]


def test_empty_macro_records_nothing() -> None:
    history = History()
    with history.macro("Nothing"):
        pass
    assert not history.can_undo and history.is_clean


def test_macro_rolls_back_on_error() -> None:
    box = [0]
    history = History()
    with pytest.raises(RuntimeError), history.macro("Broken"):
        history.push(Counter(box, 4))
        raise RuntimeError("boom")
    assert box == [0] and not history.can_undo


def test_mask_patch_edit_restores_exact_pixels() -> None:
    layer = mask_layer()
    rng = np.random.default_rng(1)
    layer.data[...] = rng.random(layer.data.shape, dtype=np.float32)
    original = layer.data.copy()
    rect = (3, 5, 20, 30)
    before = layer.data[3:20, 5:30].copy()
    after = rng.random(before.shape, dtype=np.float32)
    history = History()
    history.push(MaskPatchEdit(layer, rect, before, after))
    edited = layer.data.copy()
    assert np.array_equal(edited[3:20, 5:30], after)
    history.undo()
    assert np.array_equal(layer.data, original)
    history.redo()
    assert np.array_equal(layer.data, edited)
    assert history.nbytes == before.nbytes * 2


def test_mask_patch_edit_checks_shapes() -> None:
    layer = mask_layer()
    with pytest.raises(InvalidInputError, match="do not match"):
        MaskPatchEdit(layer, (0, 0, 4, 4), np.zeros((3, 3)), np.zeros((4, 4)))


def test_patch_recorder_builds_one_step_from_dabs() -> None:
    layer = mask_layer(100, 150)
    history = History()
    recorder = PatchRecorder(layer, block=16)
    for y, x in [(10, 10), (40, 70), (90, 140)]:
        rect = (y - 5, x - 5, y + 6, x + 6)
        recorder.save(rect)
        layer.data[max(0, y - 5) : y + 6, max(0, x - 5) : x + 6] = 1.0
        layer.notify_data(rect)
    painted = layer.data.copy()
    cmd = recorder.command()
    assert cmd is not None
    history.push(cmd, already_done=True)
    history.undo()
    assert not layer.data.any()
    history.redo()
    assert np.array_equal(layer.data, painted)


def test_patch_recorder_no_change_and_restore() -> None:
    layer = mask_layer()
    recorder = PatchRecorder(layer)
    assert recorder.command() is None
    recorder.save((0, 0, 5, 5))
    assert recorder.command() is None  # saved but unchanged
    layer.data[0:5, 0:5] = 1
    recorder.restore()
    assert not layer.data.any()


def test_set_layer_data_undo() -> None:
    layer = Layer("r", LayerKind.RESULT, np.zeros((4, 4, 3), np.float32), meta={"a": 1})
    history = History()
    history.push(SetLayerData(layer, np.ones((8, 8, 3), np.float32), meta={"a": 2}))
    assert layer.shape == (8, 8) and layer.meta == {"a": 2}
    history.undo()
    assert layer.shape == (4, 4) and not layer.data.any() and layer.meta == {"a": 1}
    history.redo()
    assert layer.data.all()


def test_add_remove_move_layer_undo() -> None:
    a = Layer("a", LayerKind.ORIGINAL, np.zeros((2, 2, 3), np.float32))
    b = Layer("b", LayerKind.MASK, np.zeros((2, 2), np.float32))
    c = Layer("c", LayerKind.LATENT, np.zeros((1, 1), np.float32))
    layers = LayerList([a, b])
    history = History()
    history.push(AddLayer(layers, c, 1))
    assert [x.name for x in layers] == ["a", "c", "b"]
    history.push(RemoveLayer(layers, a))
    history.push(MoveLayer(layers, 1, 0))
    assert [x.name for x in layers] == ["b", "c"]
    history.undo()
    history.undo()
    assert [x.name for x in layers] == ["a", "c", "b"]
    history.undo()
    assert [x.name for x in layers] == ["a", "b"]
    for _ in range(3):
        history.redo()
    assert [x.name for x in layers] == ["b", "c"]


def test_set_layer_property_undo_and_opacity_merge() -> None:
    layer = mask_layer()
    history = History()
    history.push(SetLayerProperty(layer, "visible", False))
    history.push(SetLayerProperty(layer, "name", "Scratches"))
    assert history.undo_text == "Rename Mask"
    for value in (0.8, 0.5, 0.3):
        history.push(SetLayerProperty(layer, "opacity", value))
    assert len(history.undo_texts) == 3 and layer.opacity == pytest.approx(0.3)
    history.undo()
    assert layer.opacity == 1.0
    history.undo()
    history.undo()
    assert layer.name == "Mask" and layer.visible


def test_set_layer_property_rejects_unknown() -> None:
    with pytest.raises(InvalidInputError, match="not a layer property"):
        SetLayerProperty(mask_layer(), "data", None)
