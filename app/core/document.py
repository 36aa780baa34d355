"""Document: the layers of one photo, their undo history, and where they came from.

A Document is what the window edits and a ``.patina`` project stores: the original
image and its file metadata, the layers stacked on it (result, mask, difference, latent
maps, ground truth), an undo :class:`~app.core.history.History`, and a JSON
``recipe`` of the operations applied. It is Qt-free; mutate it from one thread (the GUI
thread) and give workers copies of arrays (``layer.data.copy()``).

Layer order (bottom -> top) is kept by kind: ground truth, original, result,
difference, latent maps, probability, strength, mask. Every change that should be
undoable goes through ``history`` (the helpers below do); creating the mask layer on
first use and recording ``params`` are not undo steps.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import cv2
import numpy as np
from psygnal import Signal

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
from app.core.layers import Layer, LayerKind, LayerList, Rect, check_layer_data

if TYPE_CHECKING:
    from app.core.image_meta import ImageMeta

_RANK = {
    LayerKind.GROUND_TRUTH: 0,
    LayerKind.ORIGINAL: 1,
    LayerKind.RESULT: 2,
    LayerKind.DIFFERENCE: 3,
    LayerKind.LATENT: 4,
    LayerKind.ROUTE: 4,
    LayerKind.PROBABILITY: 5,
    LayerKind.STRENGTH: 6,
    LayerKind.MASK: 7,
}
DEFAULT_NAMES = {
    LayerKind.ORIGINAL: "Original",
    LayerKind.RESULT: "Result",
    LayerKind.DIFFERENCE: "Difference",
    LayerKind.MASK: "Mask",
    LayerKind.GROUND_TRUTH: "Ground truth",
}
DIFFERENCE_GAIN = 4.0
ROUTE_LAYER = "Route"
"""The ``extra_layers`` name a routed restore gives its route map (a ROUTE layer)."""
"""``meta["display_gain"]`` of new difference layers: the canvas amplifies |diff| by it."""


class AppendRecipe(Command):
    """Append one entry to a document's recipe (undo removes it)."""

    def __init__(self, doc: Document, entry: dict[str, Any]) -> None:
        self.doc = doc
        self.entry = entry
        self.text = f"Record {entry.get('task', 'operation')}"

    def do(self) -> None:
        self.doc.recipe.append(self.entry)
        self.doc.changed.emit()

    def undo(self) -> None:
        if self.doc.recipe and self.doc.recipe[-1] is self.entry:
            self.doc.recipe.pop()
        self.doc.changed.emit()


class Document:
    """An open photo: ``layers``, ``history``, file ``meta`` and provenance.

    Attributes:
        layers: the :class:`LayerList` (bottom -> top); always holds one ORIGINAL layer.
        history: undo/redo of every edit made through this class's helpers.
        meta: the original file's metadata (ICC, EXIF, bit depth...) or None.
        source: the image file the document was opened from, or None.
        project_path: the ``.patina`` file it was last saved to / opened from, or None.
        recipe: operations applied, oldest first; each a JSON-serialisable dict with
            ``task``, ``method``, ``params``, ``time`` (ISO 8601 UTC) and optionally
            ``spec`` (a degradation spec) and ``scale``.
        params: free-form JSON-serialisable UI settings (panel values) saved with the
            project; not undoable, no signal.
        uid: a random id, stable for the document's life (names its autosave file).

    Signal ``changed()``: the layer list changed (insert/remove/move), the recipe changed,
    or the ground truth was set. Property and pixel changes are on the layers' signals.
    """

    changed = Signal()

    def __init__(
        self,
        layers: LayerList,
        *,
        meta: ImageMeta | None = None,
        source: Path | str | None = None,
        recipe: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        if len(layers.all(LayerKind.ORIGINAL)) != 1:
            raise InvalidInputError("a document needs exactly one original layer")
        self.layers = layers
        self.history = History()
        self.meta = meta
        self.source = None if source is None else Path(source)
        self.project_path: Path | None = None
        self.recipe: list[dict[str, Any]] = list(recipe or [])
        self.params: dict[str, Any] = dict(params or {})
        self.uid = uuid.uuid4().hex[:12]
        self.layers.changed.connect(self.changed.emit)

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_image(
        cls,
        pixels: np.ndarray,
        meta: ImageMeta | None = None,
        source: Path | str | None = None,
        ground_truth: np.ndarray | None = None,
        *,
        recipe: list[dict[str, Any]] | None = None,
    ) -> Document:
        """A document over ``pixels`` (float32 (H, W, 3) in [0, 1]; not copied).

        The ORIGINAL layer is locked. ``ground_truth`` (same size) is the clean image a
        synthetic document was degraded from; it becomes a hidden GROUND_TRUTH layer and
        enables :meth:`metrics`. ``recipe`` seeds the provenance (e.g. the degradation).
        Raises InvalidInputError for a wrong shape.
        """
        original = Layer(DEFAULT_NAMES[LayerKind.ORIGINAL], LayerKind.ORIGINAL, pixels, locked=True)
        doc = cls(LayerList([original]), meta=meta, source=source, recipe=recipe)
        if ground_truth is not None:
            doc.ground_truth = ground_truth
        return doc

    @classmethod
    def open(cls, path: Path | str) -> Document:
        """Open an image file (via ``image_io.load``) or a ``.patina`` project.

        Raises ImageIOError with a readable message when the file cannot be read.
        """
        path = Path(path)
        if path.suffix.lower() == ".patina":
            from app.core.project import load_project

            return load_project(path)
        from app.core import image_io

        loaded = image_io.load(path)
        return cls.from_image(loaded.pixels, loaded.meta, source=path)

    # -- queries -------------------------------------------------------------------
    @property
    def original(self) -> Layer:
        """The ORIGINAL layer (the opened image; locked)."""
        layer = self.layers.find(LayerKind.ORIGINAL)
        assert layer is not None, "a document always has an original layer"
        return layer

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the original in pixels; masks and maps share it."""
        return self.original.shape

    @property
    def title(self) -> str:
        """A short name for the window title: the project's or source's file name."""
        path = self.project_path or self.source
        return path.name if path is not None else "Untitled"

    @property
    def modified(self) -> bool:
        """True when there are changes since the last save (``history.mark_clean``)."""
        return not self.history.is_clean

    @property
    def ground_truth(self) -> np.ndarray | None:
        """The clean (H, W, 3) image of a synthetic document, or None."""
        layer = self.layers.find(LayerKind.GROUND_TRUTH)
        return None if layer is None else layer.data

    @ground_truth.setter
    def ground_truth(self, pixels: np.ndarray | None) -> None:
        """Set or drop the ground truth (not an undo step); must match the original's size."""
        layer = self.layers.find(LayerKind.GROUND_TRUTH)
        if pixels is None:
            if layer is not None:
                self.layers.remove(layer)
            return
        self._check_size(pixels, "the ground truth")
        if layer is not None:
            layer.set_data(pixels)
        else:
            name = DEFAULT_NAMES[LayerKind.GROUND_TRUTH]
            new = Layer(name, LayerKind.GROUND_TRUTH, pixels, visible=False, locked=True)
            self.layers.insert(self._slot(LayerKind.GROUND_TRUTH), new)

    def result_layer(self) -> Layer | None:
        """The RESULT layer, or None before the first restoration."""
        return self.layers.find(LayerKind.RESULT)

    def difference_layer(self) -> Layer | None:
        """The DIFFERENCE layer, or None."""
        return self.layers.find(LayerKind.DIFFERENCE)

    @overload
    def mask_layer(self, create: Literal[True] = True) -> Layer: ...
    @overload
    def mask_layer(self, create: bool) -> Layer | None: ...
    def mask_layer(self, create: bool = True) -> Layer | None:
        """The MASK layer; with ``create`` a zero (H, W) mask is added on first use.

        Creating it is not an undo step (an empty mask changes nothing visible).
        Returns None only when ``create`` is False and there is no mask yet.
        """
        layer = self.layers.find(LayerKind.MASK)
        if layer is None and create:
            layer = Layer(
                DEFAULT_NAMES[LayerKind.MASK], LayerKind.MASK, np.zeros(self.size, np.float32)
            )
            self.layers.insert(self._slot(LayerKind.MASK), layer)
        return layer

    def metrics(self, include_input: bool = False) -> dict[str, float] | None:
        """PSNR (dB) and SSIM of the result against the ground truth, or None.

        None when there is no ground truth or no result, or their sizes differ (an
        upscaled result). Returns ``{"psnr": .., "ssim": ..}``; with ``include_input``
        also ``"psnr_input"`` and ``"ssim_input"`` of the original (the degraded input).
        SSIM is NaN for images under 11x11 px. Cost: a few seconds on a 24 MP image.
        """
        truth = self.ground_truth
        result = self.result_layer()
        if truth is None or result is None or result.data.shape != truth.shape:
            return None
        values = _quality(result.data, truth)
        if include_input:
            before = _quality(self.original.data, truth)
            values.update({"psnr_input": before["psnr"], "ssim_input": before["ssim"]})
        return values

    def input_metrics(self) -> dict[str, float] | None:
        """PSNR (dB) and SSIM of the original (the degraded input) against the ground
        truth, or None without a ground truth of the same size."""
        truth = self.ground_truth
        if truth is None or truth.shape != self.original.data.shape:
            return None
        return _quality(self.original.data, truth)

    # -- edits (each one undo step) ------------------------------------------------------
    def set_result(
        self,
        pixels: np.ndarray,
        *,
        task: str,
        method: str,
        params: dict[str, Any],
        extra_layers: dict[str, np.ndarray] | None = None,
        spec: dict[str, Any] | None = None,
    ) -> None:
        """Show a restoration's output; one undo step ("Denoise (bilateral)").

        ``pixels``: float32 (H*s, W*s, 3) in [0, 1] (s = 1, or the upscale factor); the
        layer takes the array without copying. Replaces the RESULT layer's data (or adds
        one, visible, above the original), recomputes the DIFFERENCE layer (added hidden
        the first time; see :func:`difference_map`), adds or replaces one LATENT layer
        (a ROUTE layer for :data:`ROUTE_LAYER`) per ``extra_layers`` entry (name ->
        float32 (h, w) map; ``meta["scale"]`` = H / h, ``meta["range"]`` = (min, max);
        added hidden, so several maps do not cover the result), and appends
        ``{task, method, params, time, scale[, spec]}`` to the recipe. The RESULT layer's meta is
        ``{"task", "method", "params", "scale"}``.
        """
        pixels = check_layer_data(LayerKind.RESULT, pixels)
        scale = pixels.shape[0] / self.size[0]
        scale_value: float | int = int(round(scale)) if abs(scale - round(scale)) < 1e-6 else scale
        info = {"task": task, "method": method, "params": dict(params), "scale": scale_value}
        entry = dict(info, time=datetime.now(UTC).isoformat(timespec="seconds"))
        if spec is not None:
            entry["spec"] = dict(spec)
        with self.history.macro(f"{task.capitalize()} ({method})"):
            self._put_layer(LayerKind.RESULT, DEFAULT_NAMES[LayerKind.RESULT], pixels, info)
            self._put_difference(pixels)
            for name, latent in (extra_layers or {}).items():
                meta = _latent_meta(latent, self.size)
                kind = LayerKind.ROUTE if name == ROUTE_LAYER else LayerKind.LATENT
                self._put_layer(kind, name, latent, meta, visible=False)
            self.history.push(AppendRecipe(self, entry))

    def set_mask(self, mask: np.ndarray, text: str = "Set mask") -> None:
        """Replace the whole mask (float (H, W) or (H, W, C), clipped to [0, 1]); one step.

        Raises InvalidInputError when its size differs from the image's. The array is
        copied.
        """
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask.max(axis=2)
        self._check_size(mask, "the mask")
        clean = np.clip(mask.astype(np.float32), 0.0, 1.0)
        layer = self.mask_layer()
        self.history.push(SetLayerData(layer, clean, text))

    def apply_mask_edit(
        self,
        rect: Rect,
        before: np.ndarray,
        after: np.ndarray,
        text: str = "Brush stroke",
        *,
        already_done: bool = True,
    ) -> None:
        """Record an edit of ``rect = (y0, x0, y1, x1)`` of the mask as one undo step.

        ``before``/``after`` are the mask's pixels in ``rect`` before and after the edit,
        float32 ``(y1-y0, x1-x0)``. By default the edit is already in the layer (painted
        live, then recorded on release); with ``already_done=False`` ``after`` is written
        now. For painting without a full-mask copy see :meth:`begin_mask_edit`.
        """
        layer = self.mask_layer()
        self.history.push(
            MaskPatchEdit(layer, rect, before, after, text), already_done=already_done
        )

    def begin_mask_edit(self) -> PatchRecorder:
        """Start a live mask edit (a stroke); see :class:`~app.core.history.PatchRecorder`.

        Per dab: ``rec.save(rect)`` with the rectangle about to change, paint into
        ``doc.mask_layer().data`` in place, ``layer.notify_data(rect)``. On release:
        :meth:`end_mask_edit`.
        """
        layer = self.mask_layer()
        return PatchRecorder(layer)

    def end_mask_edit(self, recorder: PatchRecorder, text: str = "Brush stroke") -> bool:
        """Push the recorder's edit as one undo step; False (nothing pushed) if no change."""
        cmd = recorder.command(text)
        if cmd is None:
            return False
        self.history.push(cmd, already_done=True)
        return True

    def add_layer(self, layer: Layer, index: int | None = None) -> None:
        """Insert ``layer`` (None: at its kind's usual place); one undo step."""
        position = self._slot(layer.kind) if index is None else index
        self.history.push(AddLayer(self.layers, layer, position))

    def remove_layer(self, layer: Layer) -> None:
        """Delete ``layer``; one undo step. The original cannot be deleted."""
        if layer.kind == LayerKind.ORIGINAL:
            raise InvalidInputError("the original image layer cannot be deleted")
        self.history.push(RemoveLayer(self.layers, layer))

    def move_layer(self, src: int, dst: int) -> None:
        """Move the layer at index ``src`` to ``dst``; one undo step."""
        self.history.push(MoveLayer(self.layers, src, dst))

    def set_layer_property(self, layer: Layer, prop: str, value: Any) -> None:
        """Set ``name``/``visible``/``opacity``/``locked`` undoably (opacity drags merge)."""
        if getattr(layer, prop, None) != value:
            self.history.push(SetLayerProperty(layer, prop, value))

    # -- output ----------------------------------------------------------------------
    def export(
        self,
        path: Path | str,
        *,
        bit_depth: int | None = None,
        quality: int = 95,
        overwrite: bool = False,
    ) -> Path:
        """Write the result (or the original when there is none) to ``path``.

        Format from the suffix (PNG/TIFF 8/16-bit, JPEG at ``quality``); ``bit_depth``
        None keeps the original's. The original's ICC profile and EXIF are written back
        (``image_io.save`` with ``meta``). Never writes over :attr:`source`, and over any
        other existing file only with ``overwrite``; raises ImageIOError otherwise.
        Returns the path written.
        """
        from app.core import image_io

        layer = self.result_layer() or self.original
        protect = [self.source] if self.source is not None else []
        written = image_io.save(
            Path(path),
            layer.data,
            self.meta,
            bit_depth=bit_depth,
            quality=quality,
            overwrite=overwrite,
            protect=protect,
        )
        return Path(written) if written is not None else Path(path)

    # -- internals -------------------------------------------------------------------
    def _slot(self, kind: LayerKind) -> int:
        """Index where a new layer of ``kind`` goes: above all layers of lower or equal rank."""
        rank = _RANK.get(kind, 4)
        index = 0
        for i, layer in enumerate(self.layers):
            if _RANK.get(layer.kind, 4) <= rank:
                index = i + 1
        return index

    def _check_size(self, array: np.ndarray, what: str) -> None:
        if tuple(array.shape[:2]) != self.size:
            h, w = self.size
            raise InvalidInputError(
                f"{what} is {array.shape[1]}x{array.shape[0]} pixels but the image is "
                f"{w}x{h}; they must be the same size"
            )

    def _put_layer(
        self,
        kind: LayerKind,
        name: str,
        data: np.ndarray,
        meta: dict[str, Any],
        visible: bool = True,
    ) -> None:
        """Replace the data of the layer of ``kind`` (LATENT: and ``name``) or add it."""
        existing = self.layers.find(kind, name if kind == LayerKind.LATENT else None)
        if existing is not None:
            self.history.push(SetLayerData(existing, data, f"Replace {name}", meta=meta))
            return
        layer = Layer(name, kind, data, visible=visible, meta=meta)
        self.history.push(AddLayer(self.layers, layer, self._slot(kind)))

    def _put_difference(self, result: np.ndarray) -> None:
        diff = difference_map(result, self.original.data)
        meta = {"display_gain": DIFFERENCE_GAIN}
        name = DEFAULT_NAMES[LayerKind.DIFFERENCE]
        self._put_layer(LayerKind.DIFFERENCE, name, diff, meta, visible=False)


def difference_map(result: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``|result - original|`` averaged over channels: float32 (H, W) in [0, 1].

    ``original`` is (H, W, 3); a ``result`` of another size (an upscale) is first brought
    to (H, W): by block averaging for a whole-number factor, else by nearest sampling.
    """
    h, w = original.shape[:2]
    small = np.ascontiguousarray(_resample(result, h, w), np.float32)
    diff = cv2.absdiff(small, np.ascontiguousarray(original, np.float32))
    # the channel mean as a 1x3 colour transform: 8x quicker than numpy's strided mean,
    # and a preview recomputes this for the whole image
    return cv2.transform(diff, np.full((1, 3), 1 / 3, np.float32)).reshape(h, w)


def _resample(image: np.ndarray, h: int, w: int) -> np.ndarray:
    rh, rw = image.shape[:2]
    if (rh, rw) == (h, w):
        return image
    if rh % h == 0 and rw % w == 0 and rh // h == rw // w:
        s = rh // h
        return image.reshape(h, s, w, s, -1).mean(axis=(1, 3), dtype=np.float32)
    ys = ((np.arange(h) + 0.5) * rh / h).astype(int)
    xs = ((np.arange(w) + 0.5) * rw / w).astype(int)
    return image[ys][:, xs]


def _latent_meta(latent: np.ndarray, size: tuple[int, int]) -> dict[str, Any]:
    data = np.asarray(latent)
    ratio = size[0] / max(1, data.shape[0])
    scale: float | int = int(round(ratio)) if abs(ratio - round(ratio)) < 1e-6 else ratio
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    return {"scale": scale, "range": [lo, hi]}


def _quality(image: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from app.core import metrics

    value = metrics.psnr(image, truth)
    try:
        structure = metrics.ssim(image, truth)
    except InvalidInputError:
        structure = float("nan")
    return {"psnr": float(value), "ssim": float(structure)}
