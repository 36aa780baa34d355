"""LatentController: latent steering in the window (issue 5).

When the Restore panel's method is a VDIR model (its parameters include
``latent_strength``) and an image is open, the controller is *active*: the Latent dock is
shown and the Restore controller hands previews/renders to it (:meth:`preview`,
:meth:`render`). They run a :class:`~app.ml.steering.SteeredService` built from the
:class:`~app.ml.steering.model.LatentModel`'s edit (the one owner of the
strength; the dock's controls and the Restore panel's ``latent_strength`` row mirror
it) and the painted STRENGTH layer. The job's parameters carry no strength or seed: the
edit travels inside the service. Previews cover the visible region with its corner
rounded to a multiple of 4, so the crop's latent, noise and strength map line up with the
full image's. Results land through the usual ``JobRunner`` path: the recipe entry's
``params`` record ``latent_strength``, ``seed`` and ``latent`` (the edit as a dict), and
renders add the latent layers. Export writes a ``.recipe.json`` sidecar
(:mod:`app.ml.recipe`) that ``patina restore --recipe`` reproduces. Research views
(:mod:`.latent_research`) run on the window's ``Background`` thread.

``app.ml.steering`` imports no torch at import time; the model loads in the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.errors import PatinaError
from app.core.layers import Layer, LayerKind
from app.ml.steering import LatentCache, SteeredService
from app.ml.steering.edit import FACTOR, NEUTRAL, LatentEdit, LatentRef
from app.ml.steering.model import LatentModel
from app.ui.canvas.convert import ROUTE_LEGEND, route_summary
from app.ui.canvas.latent_tools import STRENGTH_LAYER, PickRectTool, StrengthEditor, strength_layer
from app.ui.canvas.tools import BrushTool, Tool
from app.ui.controllers.latent_research import LatentResearch
from app.ui.controllers.latent_sidecar import map_digest, write_recipe_sidecar
from app.ui.panels.latent import LatentPanel
from app.workers.function_job import device_of

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

Rect = tuple[int, int, int, int]
FOCUS = 512  # px: a larger preview first updates a central square of this size
FOCUS_ABOVE = 1.5 * FOCUS * FOCUS  # px: views larger than this are previewed centre first
FOCUS_ABOVE_QUICK = 1.6e6  # px: the same with the quick restorer (a 1.2-MP view in ~1 s)
EST_PREFIX = "EST "
EDIT_PARAMS = ("latent_strength", "seed")  # the edit's own; never sent as job parameters


def is_steerable_info(info: Any) -> bool:
    """Whether a ServiceInfo describes a steerable (VDIR-family) service."""
    return info is not None and any(p.name == "latent_strength" for p in info.params)


def area(rect: Rect) -> int:
    return max(0, rect[2] - rect[0]) * max(0, rect[3] - rect[1])


def focus_box(roi: Rect, size: int) -> Rect:
    """A ``size``-pixel square (at most) centred in ``roi`` (y0, x0, y1, x1)."""
    y0, x0, y1, x1 = roi
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    hy, hx = min(size, y1 - y0) // 2, min(size, x1 - x0) // 2
    return cy - hy, cx - hx, cy + hy, cx + hx


def job_params(params: dict[str, Any]) -> dict[str, Any]:
    """The service parameters a steered job gets: ``params`` without the edit's own."""
    return {k: v for k, v in params.items() if k not in EDIT_PARAMS}


def recorded_params(params: dict[str, Any], edit: LatentEdit) -> dict[str, Any]:
    """What the recipe entry of a steered run records: the parameters and the edit."""
    seed = edit.seed if edit.sample else -1
    return {**params, "latent_strength": edit.strength, "seed": seed, "latent": edit.to_dict()}


class LatentController(QObject):
    """Latent dock, latent brush, steered previews/renders, research views, sidecars."""

    active_changed = Signal(bool)  # the Latent dock should be shown (True) or hidden

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.restore_panel = window.restore.panel
        self.model = LatentModel()
        self.panel = LatentPanel(window)
        self.strength_editor = StrengthEditor(lambda: self.window.document)
        self.strength_editor.brush = window.editor.brush
        self.latent_tool = BrushTool(self.strength_editor)
        window.tools.add_tool("latent", self.latent_tool)
        self.pick_tool = PickRectTool(window.editor, self._on_pick)
        self.latent_cache = LatentCache()
        self.base_factory: Callable[[str, str], Any] | None = None  # tests inject tiny models
        self._bases: dict[tuple[str, str], Any] = {}
        self._picking: str | None = None
        self._tool_before_pick: Tool | None = None
        self._released_at: float | None = None
        self._pending_full: tuple[Any, ...] | None = None
        self._loading = False  # a document's saved edit is being shown
        self._mirroring = False  # the Restore panel's strength row is being updated
        self.last_preview_latency: float | None = None  # s from release to the whole view
        self.last_focus_latency: float | None = None  # s from release to its centre
        self._step_for: tuple[Any, ...] | None = None
        self.research = LatentResearch(self)
        self._wire()

    @property
    def document(self) -> Any:
        return self.window.document

    def _wire(self) -> None:
        panel = self.panel
        panel.edit_changed.connect(self._on_panel_edit)
        panel.strength_released.connect(self._on_strength_released)
        panel.render_requested.connect(self.window.restore.render_full)
        panel.pick_requested.connect(self.start_pick)
        panel.brush_requested.connect(self.use_latent_brush)
        panel.clear_map_requested.connect(self.clear_strength_map)
        panel.layer_requested.connect(self.show_latent_layer)
        panel.uncertainty_requested.connect(self.research.run_uncertainty)
        panel.sweep_requested.connect(self.research.open_sweep)
        panel.embedding_requested.connect(self.research.open_embedding)
        self.model.changed.connect(self._on_model_changed)
        self.restore_panel.method_changed.connect(self.update_latent_state)
        self.restore_panel.form.changed.connect(self._on_strength_row)
        self.window.area.view.cursor_moved.connect(self.show_cursor_estimate)
        self.window.jobs.result_applied.connect(self._on_latent_result)
        self.window.files.exported.connect(self.write_recipe_sidecar)

    # -- state ---------------------------------------------------------------------
    def active(self) -> bool:
        """A document is open and the chosen method has a latent to steer."""
        info = self.restore_panel.service()
        return self.document is not None and is_steerable_info(info)

    def update_latent_state(self, *_: Any) -> None:
        """Show/hide the Latent dock and the Restore panel's duplicate controls."""
        active = self.active()
        was = self.panel.is_active()
        self.panel.set_active(active)
        self.panel.set_quick_available(active and self._has_quick_preview())
        if active != was:
            self.active_changed.emit(active)
        self.restore_panel.set_rows_visible(EDIT_PARAMS, not active)
        self._mirror_strength_row(self.model.edit)
        self.refresh_readouts()
        if active:
            self._analyse_step()

    def _analyse_step(self) -> None:
        """Fix the automatic strength step for this document (EST of its centre), once, in
        the background, so previews and renders of it use the same direction."""
        if self.window.closing:
            return  # the window is closing: start no new work
        choice = self.restore_panel.selection()
        key = (id(self.document), *choice[:2]) if choice else None
        if choice is None or key == self._step_for or self.model.edit.steer_sigma:
            return
        self._step_for = key
        from app.ml.steering import estimate_step

        base, doc = self.base_service(*choice[:2]), self.document
        image = doc.original.data

        def done(step: float) -> None:
            if doc is self.document and not self.model.edit.steer_sigma:
                self.model.set_step(step)

        self.window.background.run(
            lambda: estimate_step(base, image), done, lambda *_: None, device=device_of(base)
        )

    def set_document(self, doc: Any) -> None:
        """Called by the window's ``set_document``: forget caches, show the saved edit."""
        self.latent_cache.clear()
        self.research.clear_highlight()
        saved = (doc.params.get("latent_edit") if doc is not None else None) or None
        try:
            edit = LatentEdit.from_dict(saved) if saved else LatentEdit()
        except PatinaError:  # a project from a newer Patina: start neutral
            edit = LatentEdit()
        self._loading = True
        try:
            self.model.set_edit(edit)
        finally:
            self._loading = False
        self.update_latent_state()

    # -- the edit: one model, mirrored -----------------------------------------------
    def _on_panel_edit(self) -> None:
        """The dock's controls changed: they write the model."""
        edit = self.panel.edit()
        if edit == self.model.edit:
            self._edited()  # e.g. "Quick previews" toggled: not in the edit, still previews
        else:
            self.model.set_edit(edit)

    def _on_strength_row(self) -> None:
        """The Restore panel's ``latent_strength`` row changed: it writes the model."""
        value = self.restore_panel.form.values().get("latent_strength")
        if not self._mirroring and value is not None and value != self.model.strength:
            self.model.set_strength(value)

    def _on_model_changed(self, edit: LatentEdit) -> None:
        if self.panel.edit() != edit:
            self.panel.set_edit(edit, emit=False)
        self._mirror_strength_row(edit)
        if not self._loading:
            self._edited()

    def _mirror_strength_row(self, edit: LatentEdit) -> None:
        form = self.restore_panel.form
        if form.values().get("latent_strength", edit.strength) == edit.strength:
            return
        self._mirroring = True
        try:
            form.set_values({"latent_strength": edit.strength})
        finally:
            self._mirroring = False

    def _edited(self) -> None:
        """A user change of the edit: save it in the document and preview (debounced)."""
        if not self.active():
            return
        self.document.params["latent_edit"] = self.model.edit.to_dict()
        self.restore_panel.schedule_preview()

    def current_edit(self) -> LatentEdit:
        """The model's edit, naming the painted map when there is one."""
        edit = self.model.edit
        layer = strength_layer(self.document, create=False)
        if layer is not None and edit.map_gain != 0.0:
            return LatentEdit.from_dict({**edit.to_dict(), "strength_map": f"layer:{layer.name}"})
        return edit

    def _strength_data(self, edit: LatentEdit) -> np.ndarray | None:
        layer = strength_layer(self.document, create=False)
        return None if layer is None or edit.strength_map is None else layer.data

    def _on_strength_released(self) -> None:
        """Preview at once when the slider is let go (and time it)."""
        if not self.active():
            return
        self.restore_panel.cancel_scheduled_preview()
        self._released_at = time.perf_counter()
        self.window.restore.preview()

    # -- services ------------------------------------------------------------------
    def base_service(self, task: str, method: str) -> Any:
        """The plain VDIR service of ``task``/``method`` (one per window, cached)."""
        key = (task, method)
        if key not in self._bases:
            if self.base_factory is not None:
                self._bases[key] = self.base_factory(task, method)
            else:
                from app.ml import registry

                self._bases[key] = registry.create_service(task, method, device="auto")
        return self._bases[key]

    def _has_quick_preview(self) -> bool:
        """Whether the chosen VDIR model ships a quick preview restorer."""
        info = self.restore_panel.service()
        if info is None:
            return False
        base = self.base_service(info.task, info.method)
        return bool(getattr(base, "preview_file", ""))

    def steered_service(
        self,
        task: str,
        method: str,
        edit: LatentEdit,
        box: Rect | None = None,
        quick: bool = False,
    ) -> SteeredService:
        """A SteeredService for the whole image (``box`` None) or the crop ``box``; with
        ``quick``, on the model's quick preview restorer when it has one."""
        doc = self.document
        smap = self._strength_data(edit)
        h, w = doc.size
        y0, x0, y1, x1 = box if box is not None else (0, 0, h, w)
        if smap is not None:
            smap = smap[y0:y1, x0:x1].copy()
        base = self.base_service(task, method)
        if quick and hasattr(base, "quick"):
            base = base.quick()
        from app.ml import registry

        return registry.create_steered_service(
            base, edit, smap, origin=(y0, x0), full_size=doc.size,
            source_image=doc.original.data, cache=self.latent_cache,
        )  # fmt: skip

    # -- runs (a Runner for the Restore controller) ----------------------------------
    def preview(self, task: str, method: str, params: dict[str, Any], roi: Rect | None) -> None:
        """Run a steered preview of ``roi`` (the whole image when None).

        A view larger than FOCUS_ABOVE pixels (FOCUS_ABOVE_QUICK with quick previews,
        which restore it in about the time the full model takes for the centre) is
        previewed in two steps: its central FOCUS-pixel square first (quick feedback),
        then the whole view, each pasted over what is shown. A newer request replaces
        both. Previews restore one view of the image (``ensemble`` 1) so they stay
        quick; Render applies the chosen ensemble.
        """
        edit = self.current_edit()
        params = {**params, "ensemble": "1"}
        h, w = self.document.size
        roi = roi or (0, 0, h, w)
        limit = FOCUS_ABOVE_QUICK if self.panel.quick_previews() else FOCUS_ABOVE
        focus = focus_box(roi, FOCUS) if area(roi) > limit else None
        self._pending_full = (task, method, params, roi, edit) if focus else None
        self._submit_preview(task, method, params, focus or roi, edit)

    def _submit_preview(
        self, task: str, method: str, params: dict[str, Any], roi: Rect, edit: LatentEdit
    ) -> None:
        quick = self.panel.quick_previews()
        self.window.jobs.preview(
            task, method, job_params(params), roi, overlay=True,
            service_for=lambda box: self.steered_service(task, method, edit, box, quick),
            record=recorded_params(params, edit),
        )  # fmt: skip

    def render(self, task: str, method: str, params: dict[str, Any]) -> None:
        """Run a steered render of the whole image."""
        self._pending_full = None
        edit = self.current_edit()
        smap = self._strength_data(edit)
        if smap is not None:
            named = f"{edit.strength_map}@{map_digest(smap)}"
            edit = LatentEdit.from_dict({**edit.to_dict(), "strength_map": named})
        service = self.steered_service(task, method, edit)
        self.window.jobs.render(task, method, job_params(params), service=service,
                                record=recorded_params(params, edit))  # fmt: skip

    # -- results and readouts ------------------------------------------------------
    def _on_latent_result(self, kind: str) -> None:
        pending, self._pending_full = self._pending_full, None
        if kind == "preview" and self._released_at is not None:
            self._time_preview(pending is not None)
        if kind == "preview" and pending is not None:
            self._submit_preview(*pending)
        if kind == "render":
            self._show_route_summary()
        self.refresh_readouts()

    def _time_preview(self, partial: bool) -> None:
        """Record the time from letting the slider go to this (partial) preview."""
        elapsed = time.perf_counter() - (self._released_at or 0.0)
        if partial:
            self.last_focus_latency = elapsed
            return
        self.last_preview_latency, self._released_at = elapsed, None
        self.window.status.showMessage(
            f"Preview {elapsed * 1000:.0f} ms after release{self._preview_kind()}", 4000
        )

    def _show_route_summary(self) -> None:
        """After a routed render, the status bar gives the Route layer's legend and shares."""
        doc = self.document
        layer = None if doc is None else doc.layers.find(LayerKind.ROUTE)
        recipe = doc.recipe[-1] if doc is not None and doc.recipe else {}
        if layer is not None and recipe.get("params", {}).get("route") == "auto":
            self.window.status.showMessage(
                f"Route layer: {route_summary(layer.data)} ({ROUTE_LEGEND})", 15000
            )

    def _preview_kind(self) -> str:
        return " (quick restorer)" if self.panel.quick_previews() else ""

    def latent_layers(self) -> list[Layer]:
        doc = self.document
        return [] if doc is None else doc.layers.all(LayerKind.LATENT)

    def _est_layer(self) -> Layer | None:
        return next((x for x in self.latent_layers() if x.name.startswith(EST_PREFIX)), None)

    def refresh_readouts(self) -> None:
        layers = self.latent_layers()
        self.panel.set_layers([x.name for x in layers])
        est = self._est_layer()
        if est is None:
            self.panel.set_estimate(None)
            return
        what = est.name.removeprefix(EST_PREFIX)
        label = "noise σ" if what == "sigma" else "JPEG quality"
        text = f"Estimated {label}: <b>{float(est.data.mean()):.1f}</b>"
        note = self._est_note()
        self.panel.set_estimate(f"{text}<br><i>{note}</i>" if note else text)

    def _est_note(self) -> str:
        """The current model's caveat about its EST head ("" when it has none)."""
        chosen = self.restore_panel.selection()
        if chosen is None or (chosen[0], chosen[1]) not in self._bases:
            return ""
        return str(getattr(self._bases[(chosen[0], chosen[1])], "est_note", ""))

    def show_cursor_estimate(self, x: int, y: int) -> None:
        """The EST value under image pixel (x, y) in the dock (empty when there is none)."""
        est = self._est_layer()
        if est is None or x < 0 or not self.panel.isVisible():
            self.panel.set_cursor_estimate("")
            return
        scale = float(est.meta.get("scale", FACTOR))
        h, w = est.shape
        value = est.data[min(h - 1, int(y / scale)), min(w - 1, int(x / scale))]
        name = est.name.removeprefix(EST_PREFIX)
        self.panel.set_cursor_estimate(f"under the cursor ({x}, {y}): {name} {value:.1f}")

    def show_latent_layer(self, name: str) -> None:
        """Show one latent layer (hide the others) and its legend; "" hides them all."""
        doc = self.document
        shown = None
        for layer in self.latent_layers():
            visible = layer.name == name
            if layer.visible != visible:
                doc.set_layer_property(layer, "visible", visible)
            shown = layer if visible else shown
        rng = shown.meta.get("range") if shown is not None else None
        self.panel.set_legend(tuple(rng) if rng else None, name)

    # -- canvas tools --------------------------------------------------------------
    def tool_latent(self) -> None:
        self.use_latent_brush(bool(getattr(self.latent_tool, "erase", False)))

    def use_latent_brush(self, erase: bool = False) -> None:
        """The latent brush: paint "clean more" (or "keep more" with ``erase``; Alt inverts)."""
        if self.document is None:
            return
        self.latent_tool.erase = erase
        self.window.tools.set_tool("latent")
        layer = strength_layer(self.document, create=True)
        panel = self.window.layers_panel
        if panel.selected_layer() is not layer:
            panel.select_layer(layer)

    def clear_strength_map(self) -> None:
        if strength_layer(self.document, create=False) is not None:
            self.strength_editor.clear()

    def start_pick(self, what: str) -> None:
        """Let the next dragged rectangle choose a region ("transplant", "target", ...)."""
        if self.document is None:
            return
        view = self.window.area.view
        if self._picking is None:
            self._tool_before_pick = view.tool()
        self._picking = what
        view.set_tool(self.pick_tool)
        self.window.status.showMessage("Drag a rectangle on the image", 5000)

    def _on_pick(self, rect: Rect) -> None:
        what, self._picking = self._picking, None
        self.window.area.view.set_tool(self._tool_before_pick)
        h, w = self.document.size
        rect = (max(0, rect[0]), max(0, rect[1]), min(h, rect[2]), min(w, rect[3]))
        if what == "target":
            self.panel.set_target(rect)
        elif what is not None:
            self.panel.set_source(what, LatentRef("region", rect))

    # -- export sidecar ------------------------------------------------------------
    def write_recipe_sidecar(self, output: Path) -> Path | None:
        """After an export: the recipe sidecar of a steered result (see :mod:`.latent_sidecar`)."""
        return write_recipe_sidecar(self.window, output)


__all__ = ["NEUTRAL", "STRENGTH_LAYER", "LatentController", "is_steerable_info", "map_digest"]
