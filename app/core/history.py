"""Undo/redo: commands over the layer model and the stack that runs them.

A :class:`Command` knows how to ``do`` and ``undo`` one change. :class:`History` keeps
the done commands (undo stack) and the undone ones (redo stack), bounded by a step count
and a memory budget; the oldest steps are forgotten first. Everything here is
synchronous and Qt-free; a QUndoStack in the window can mirror it through ``changed``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from psygnal import Signal

from app.core.errors import InvalidInputError
from app.core.layers import PROPERTIES, Layer, LayerList, Rect


class Command(ABC):
    """One undoable change. ``text`` is what Edit > Undo shows ("Brush stroke")."""

    text: str = ""

    @abstractmethod
    def do(self) -> None:
        """Apply the change (also used for redo)."""

    @abstractmethod
    def undo(self) -> None:
        """Revert exactly what :meth:`do` applied."""

    @property
    def nbytes(self) -> int:
        """Bytes of arrays only this command keeps alive (not those live in the document)."""
        return 0

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (already done, pushed right after self) into self; True if done.

        The default never merges. Used so an opacity slider drag is one undo step.
        """
        return False


class MacroCommand(Command):
    """Several commands undone and redone as one step (see :meth:`History.macro`)."""

    def __init__(self, text: str, commands: list[Command] | None = None) -> None:
        self.text = text
        self.commands: list[Command] = list(commands or [])

    def do(self) -> None:
        for command in self.commands:
            command.do()

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()

    @property
    def nbytes(self) -> int:
        return sum(command.nbytes for command in self.commands)


class History:
    """The undo and redo stacks of one document.

    ``limit`` caps the number of undo steps and ``memory_limit`` the bytes their arrays
    hold (:attr:`Command.nbytes`); past either, the oldest steps are dropped (the newest
    step is always kept). ``changed()`` is emitted after every push, undo, redo, clear,
    mark_clean and trim.
    """

    changed = Signal()

    def __init__(self, limit: int = 200, memory_limit: int = 1 << 30) -> None:
        self.limit = limit
        self.memory_limit = memory_limit
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._macros: list[MacroCommand] = []
        self._clean: int | None = 0  # undo-stack depth at the clean state; None: unreachable

    # -- state ---------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo (False while a macro is open)."""
        return bool(self._undo) and not self._macros

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone step to redo (False while a macro is open)."""
        return bool(self._redo) and not self._macros

    @property
    def undo_text(self) -> str:
        """Text of the step :meth:`undo` would revert ("" if none)."""
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        """Text of the step :meth:`redo` would re-apply ("" if none)."""
        return self._redo[-1].text if self._redo else ""

    @property
    def undo_texts(self) -> list[str]:
        """Texts of the undo stack, oldest first (for a history list)."""
        return [command.text for command in self._undo]

    @property
    def redo_texts(self) -> list[str]:
        """Texts of the redo stack, next-to-redo first."""
        return [command.text for command in reversed(self._redo)]

    @property
    def is_clean(self) -> bool:
        """True at the state last marked with :meth:`mark_clean` (initially: empty history)."""
        return self._clean == len(self._undo)

    @property
    def nbytes(self) -> int:
        """Bytes held by all undo and redo steps."""
        return sum(c.nbytes for c in self._undo) + sum(c.nbytes for c in self._redo)

    # -- operations ----------------------------------------------------------------
    def push(self, cmd: Command, *, already_done: bool = False) -> None:
        """Run ``cmd.do()`` (unless ``already_done``) and record it as the newest step.

        ``already_done=True`` is for edits applied live, e.g. a brush stroke painted dab
        by dab and pushed when the mouse is released. Clears the redo stack. Inside
        :meth:`macro` the command joins the macro instead of becoming its own step. If
        ``do()`` raises, nothing is recorded and the exception propagates.
        """
        if not already_done:
            cmd.do()
        if self._macros:
            self._macros[-1].commands.append(cmd)
            return
        self._drop_redo()
        if not (self._undo and not self.is_clean and self._undo[-1].merge(cmd)):
            self._undo.append(cmd)
        self._trim()
        self.changed.emit()

    def undo(self) -> None:
        """Revert the newest step (no-op when there is none)."""
        if not self.can_undo:
            return
        cmd = self._undo.pop()
        try:
            cmd.undo()
        except BaseException:
            self._undo.append(cmd)
            raise
        self._redo.append(cmd)
        self.changed.emit()

    def redo(self) -> None:
        """Re-apply the most recently undone step (no-op when there is none)."""
        if not self.can_redo:
            return
        cmd = self._redo.pop()
        try:
            cmd.do()
        except BaseException:
            self._redo.append(cmd)
            raise
        self._undo.append(cmd)
        self.changed.emit()

    def clear(self) -> None:
        """Forget every step; the current state becomes the clean one."""
        self._undo.clear()
        self._redo.clear()
        self._clean = 0
        self.changed.emit()

    def mark_clean(self) -> None:
        """Remember the current state as saved (``is_clean`` is True until the next change)."""
        self._clean = len(self._undo)
        self.changed.emit()

    @contextmanager
    def macro(self, text: str) -> Iterator[MacroCommand]:
        """Group the commands pushed inside the ``with`` block into one undo step.

        Macros nest (inner ones join the outer step). An empty macro records nothing. If
        the block raises, the commands already applied in it are undone (in reverse
        order) and the exception propagates, so the document is left as it was.
        """
        macro = MacroCommand(text)
        self._macros.append(macro)
        try:
            yield macro
        except BaseException:
            self._macros.pop()
            macro.undo()
            raise
        self._macros.pop()
        if macro.commands:
            self.push(macro, already_done=True)

    # -- internals -----------------------------------------------------------------
    def _drop_redo(self) -> None:
        if self._clean is not None and self._clean > len(self._undo):
            self._clean = None  # the saved state was on the redo stack, now unreachable
        self._redo.clear()

    def _trim(self) -> None:
        total = sum(c.nbytes for c in self._undo)
        while len(self._undo) > 1 and (len(self._undo) > self.limit or total > self.memory_limit):
            total -= self._undo.pop(0).nbytes
            if self._clean is not None:
                self._clean = self._clean - 1 if self._clean > 0 else None


# -- commands over layers -------------------------------------------------------------


class MaskPatchEdit(Command):
    """Pixels of one rectangle of a layer, before and after (a brush stroke, a fill).

    Keeps copies of only the ``rect = (y0, x0, y1, x1)`` patches, so a stroke costs
    memory in proportion to the area it touched. Works for any layer kind whose patch
    shapes match (``(h, w)`` for masks, ``(h, w, 3)`` for RGB layers).
    """

    def __init__(
        self,
        layer: Layer,
        rect: Rect,
        before: np.ndarray,
        after: np.ndarray,
        text: str = "Brush stroke",
    ) -> None:
        y0, x0, y1, x1 = (int(v) for v in rect)
        expected = layer.data[y0:y1, x0:x1].shape
        if before.shape != expected or after.shape != expected:
            raise InvalidInputError(
                f"patches of shape {before.shape} / {after.shape} do not match the "
                f"rectangle {rect} (expected {expected})"
            )
        self.layer = layer
        self.rect: Rect = (y0, x0, y1, x1)
        self.before = np.array(before, dtype=np.float32)
        self.after = np.array(after, dtype=np.float32)
        self.text = text

    def do(self) -> None:
        self.layer.set_data(self.after, self.rect)

    def undo(self) -> None:
        self.layer.set_data(self.before, self.rect)

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes)


class SetLayerData(Command):
    """Replace a layer's whole array (and optionally its ``meta``)."""

    def __init__(
        self,
        layer: Layer,
        data: np.ndarray,
        text: str = "Replace layer",
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.layer = layer
        self.new = data
        self.old = layer.data
        self.new_meta = None if meta is None else dict(meta)
        self.old_meta = dict(layer.meta)
        self.text = text

    def do(self) -> None:
        self.layer.set_data(self.new)
        self.new = self.layer.data  # keep the validated float32 array
        if self.new_meta is not None:
            self.layer.set_meta(self.new_meta)

    def undo(self) -> None:
        self.layer.set_data(self.old)
        if self.new_meta is not None:
            self.layer.set_meta(self.old_meta)

    @property
    def nbytes(self) -> int:
        return int(self.old.nbytes)  # the new array is the layer's own while this is done


class AddLayer(Command):
    """Insert a layer at ``index`` (None: on top)."""

    def __init__(
        self, layers: LayerList, layer: Layer, index: int | None = None, text: str = ""
    ) -> None:
        self.layers = layers
        self.layer = layer
        self.position = len(layers) if index is None else index
        self.text = text or f"Add {layer.name}"

    def do(self) -> None:
        self.layers.insert(self.position, self.layer)

    def undo(self) -> None:
        self.layers.remove(self.layer)


class RemoveLayer(Command):
    """Take a layer out of the list (undo puts it back at the same index)."""

    def __init__(self, layers: LayerList, layer: Layer, text: str = "") -> None:
        self.layers = layers
        self.layer = layer
        self.position = layers.index(layer)
        self.text = text or f"Delete {layer.name}"

    def do(self) -> None:
        self.position = self.layers.remove(self.layer)

    def undo(self) -> None:
        self.layers.insert(self.position, self.layer)

    @property
    def nbytes(self) -> int:
        return int(self.layer.data.nbytes)


class MoveLayer(Command):
    """Move the layer at ``src`` to index ``dst`` (see :meth:`LayerList.move`)."""

    def __init__(self, layers: LayerList, src: int, dst: int, text: str = "Move layer") -> None:
        self.layers = layers
        self.src = src if src >= 0 else src + len(layers)
        self.dst = max(0, min(dst, len(layers) - 1))
        self.text = text

    def do(self) -> None:
        self.layers.move(self.src, self.dst)

    def undo(self) -> None:
        self.layers.move(self.dst, self.src)


class SetLayerProperty(Command):
    """Change ``name``, ``visible``, ``opacity`` or ``locked`` of a layer.

    Consecutive opacity changes of the same layer merge into one step (a slider drag).
    """

    def __init__(self, layer: Layer, prop: str, value: Any, text: str = "") -> None:
        if prop not in PROPERTIES:
            raise InvalidInputError(f"{prop!r} is not a layer property ({', '.join(PROPERTIES)})")
        self.layer = layer
        self.prop = prop
        self.old = getattr(layer, prop)
        self.new = value
        self.text = text or _property_text(layer, prop, value)

    def do(self) -> None:
        setattr(self.layer, self.prop, self.new)

    def undo(self) -> None:
        setattr(self.layer, self.prop, self.old)

    def merge(self, other: Command) -> bool:
        if (
            isinstance(other, SetLayerProperty)
            and other.layer is self.layer
            and other.prop == self.prop == "opacity"
        ):
            self.new = other.new
            return True
        return False


def _property_text(layer: Layer, prop: str, value: Any) -> str:
    if prop == "visible":
        return f"{'Show' if value else 'Hide'} {layer.name}"
    if prop == "name":
        return f"Rename {layer.name}"
    if prop == "locked":
        return f"{'Lock' if value else 'Unlock'} {layer.name}"
    return f"{layer.name} opacity"


class PatchRecorder:
    """Collects the "before" pixels of a live edit, then builds its :class:`MaskPatchEdit`.

    For painting without copying the whole mask at mouse-press: before each dab call
    :meth:`save` with the rectangle the dab may touch (a conservative box is fine), then
    paint into ``layer.data`` in place and call ``layer.notify_data(rect)``. On release,
    :meth:`command` returns one MaskPatchEdit covering everything touched (None if no
    pixel changed), ready for ``history.push(cmd, already_done=True)``.
    Memory: the saved pixels are kept in blocks of ``block`` x ``block`` pixels.
    """

    def __init__(self, layer: Layer, block: int = 64) -> None:
        self.layer = layer
        self.block = block
        self._saved: dict[tuple[int, int], np.ndarray] = {}

    def save(self, rect: Rect) -> None:
        """Remember the current pixels of ``rect`` (clipped to the layer) not yet saved."""
        h, w = self.layer.shape
        b = self.block
        y0, x0 = max(0, int(rect[0])), max(0, int(rect[1]))
        y1, x1 = min(h, int(rect[2])), min(w, int(rect[3]))
        for by in range(y0 // b, (y1 + b - 1) // b):
            for bx in range(x0 // b, (x1 + b - 1) // b):
                if (by, bx) not in self._saved:
                    block = self.layer.data[by * b : (by + 1) * b, bx * b : (bx + 1) * b]
                    self._saved[(by, bx)] = block.copy()

    @property
    def rect(self) -> Rect | None:
        """Bounding rectangle of the saved blocks (clipped to the layer), or None."""
        if not self._saved:
            return None
        h, w = self.layer.shape
        b = self.block
        rows = [k[0] for k in self._saved]
        cols = [k[1] for k in self._saved]
        return (
            min(rows) * b,
            min(cols) * b,
            min(h, (max(rows) + 1) * b),
            min(w, (max(cols) + 1) * b),
        )

    def command(self, text: str = "Brush stroke") -> MaskPatchEdit | None:
        """The edit from the saved pixels to the current ones, or None if nothing changed."""
        rect = self.rect
        if rect is None:
            return None
        y0, x0, y1, x1 = rect
        after = self.layer.data[y0:y1, x0:x1].copy()
        before = after.copy()
        b = self.block
        for (by, bx), block in self._saved.items():
            top, left = by * b - y0, bx * b - x0
            before[top : top + block.shape[0], left : left + block.shape[1]] = block
        if np.array_equal(before, after):
            return None
        return MaskPatchEdit(self.layer, rect, before, after, text)

    def restore(self) -> None:
        """Put the saved pixels back (abandon the edit, e.g. Esc during a stroke)."""
        b = self.block
        for (by, bx), block in self._saved.items():
            y, x = by * b, bx * b
            self.layer.data[y : y + block.shape[0], x : x + block.shape[1]] = block
        rect = self.rect
        if rect is not None:
            self.layer.notify_data(rect)
        self._saved.clear()
