"""Latent steering in the window (issue 5): the Latent dock's glue, mixed into MainWindow.

When the Restore panel's method is a VDIR model (its parameters include
``latent_strength``) and an image is open, the Latent dock is shown and previews/renders
run a :class:`~app.ml.steering.SteeredService` built from the panel's
:class:`~app.ml.steering.edit.LatentEdit` and the painted STRENGTH layer. Previews cover the
visible region with its corner rounded to a multiple of 4, so the crop's latent, noise
and strength map line up with the full image's. Results land through the usual
``JobRunner`` path: the recipe entry's ``params`` hold ``latent_strength``, ``seed`` and
``latent`` (the edit as a dict), and renders add the latent layers. Export writes a
``.recipe.json`` sidecar (:mod:`app.ml.recipe`) that ``patina restore --recipe``
reproduces. Research views run on the window's ``Background`` thread.

``app.ml.steering`` imports no torch at import time; the model loads in the worker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from app.core.errors import PatinaError
from app.core.layers import Layer, LayerKind
from app.ml.recipe import Recipe, write_sidecar
from app.ml.steering import LatentCache, SteeredService
from app.ml.steering.edit import FACTOR, NEUTRAL, LatentEdit, LatentRef
from app.ui.canvas.convert import ROUTE_LEGEND, route_summary
from app.ui.canvas.latent_tools import STRENGTH_LAYER, PickRectTool, StrengthEditor, strength_layer
from app.ui.canvas.tools import BrushTool
from app.ui.latent_research import LatentResearch
from app.ui.panels.latent import LatentPanel

Rect = tuple[int, int, int, int]
FOCUS = 512  # px: a larger preview first updates a central square of this size
FOCUS_ABOVE = 1.5 * FOCUS * FOCUS  # px: views larger than this are previewed centre first
FOCUS_ABOVE_QUICK = 1.6e6  # px: the same with the quick restorer (a 1.2-MP view in ~1 s)
EST_PREFIX = "EST "


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


def map_digest(strength_map: np.ndarray) -> str:
    """Short content hash of a strength map (records which map a render used)."""
    return hashlib.sha1(np.ascontiguousarray(strength_map).tobytes()).hexdigest()[:12]


class LatentActions(LatentResearch):
    """Latent dock, latent brush, steered previews/renders, research views, sidecars."""

    document: Any
    base_factory: Callable[[str, str], Any] | None

    def _init_latent(self) -> None:
        self.latent_panel = LatentPanel(self)  # type: ignore[arg-type]
        dock = QDockWidget("Latent", self)  # type: ignore[call-overload]
        dock.setObjectName("latentDock")
        dock.setWidget(self.latent_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)  # type: ignore[attr-defined]
        dock.hide()
        self.latent_dock = dock
        self.strength_editor = StrengthEditor(lambda: self.document)
        self.strength_editor.brush = self.editor.brush  # type: ignore[attr-defined]
        self.tools["latent"] = BrushTool(self.strength_editor)  # type: ignore[attr-defined]
        self.pick_tool = PickRectTool(self.editor, self._on_pick)  # type: ignore[attr-defined]
        self.latent_cache = LatentCache()
        self.base_factory = None  # tests inject tiny models: (task, method) -> service
        self._bases: dict[tuple[str, str], Any] = {}
        self._picking: str | None = None
        self._tool_before_pick: Any = None
        self._released_at: float | None = None
        self._pending_full: tuple[Any, ...] | None = None
        self.last_preview_latency: float | None = None  # s from release to the whole view
        self.last_focus_latency: float | None = None  # s from release to its centre
        self._step_for: tuple[Any, ...] | None = None
        self.highlight: Any = None
        self._wire_latent()

    def _wire_latent(self) -> None:
        panel = self.latent_panel
        panel.edit_changed.connect(self._on_edit_changed)
        panel.strength_released.connect(self._on_strength_released)
        panel.render_requested.connect(self.render_full)  # type: ignore[attr-defined]
        panel.pick_requested.connect(self.start_pick)
        panel.brush_requested.connect(self.use_latent_brush)
        panel.clear_map_requested.connect(self.clear_strength_map)
        panel.layer_requested.connect(self.show_latent_layer)
        panel.uncertainty_requested.connect(self.run_uncertainty)
        panel.sweep_requested.connect(self.open_sweep)
        panel.embedding_requested.connect(self.open_embedding)
        self.restore_panel.method.currentIndexChanged.connect(self.update_latent_state)  # type: ignore[attr-defined]
        self.area.view.cursor_moved.connect(self._on_cursor)  # type: ignore[attr-defined]
        self.jobs.result_applied.connect(self._on_latent_result)  # type: ignore[attr-defined]

    # -- state ---------------------------------------------------------------------
    def latent_active(self) -> bool:
        """A document is open and the chosen method has a latent to steer."""
        info = self.restore_panel.service()  # type: ignore[attr-defined]
        return self.document is not None and is_steerable_info(info)

    def update_latent_state(self, *_: Any) -> None:
        """Show/hide the Latent dock and the Restore panel's duplicate controls."""
        active = self.latent_active()
        was = self.latent_panel.inactive_hint.isHidden()
        self.latent_panel.set_active(active)
        self.latent_panel.set_quick_available(active and self._has_quick_preview())
        if active and not was:
            self.latent_dock.show()
        elif not active and was:
            self.latent_dock.hide()
        form = self.restore_panel.form  # type: ignore[attr-defined]
        for name in ("latent_strength", "seed"):
            widget = form.widgets.get(name)
            if widget is not None:
                self.restore_panel._params_layout.setRowVisible(widget, not active)  # type: ignore[attr-defined]
        box = self.restore_panel._params_layout.parentWidget()  # type: ignore[attr-defined]
        if box is not None:
            box.setVisible(
                any(w.isVisibleTo(box) for w in form.widgets.values()) or not form.widgets
            )
        self._refresh_latent_readouts()
        if active:
            self._analyse_step()

    def _analyse_step(self) -> None:
        """Fix the automatic strength step for this document (EST of its centre), once, in
        the background, so previews and renders of it use the same direction."""
        if getattr(self, "_closed", False):
            return  # the window is closing: start no new work
        choice = self.restore_panel.selection()  # type: ignore[attr-defined]
        key = (id(self.document), *choice[:2]) if choice else None
        if key is None or key == self._step_for or self.latent_panel.step.value() > 0:
            return
        self._step_for = key
        from app.ml.steering import estimate_step

        base, image, doc = (
            self.base_service(*choice[:2]),
            self.document.original.data,
            self.document,
        )

        def done(step: float) -> None:
            if doc is self.document and self.latent_panel.step.value() == 0:
                self.latent_panel.step.setValue(step)

        self.background.run(lambda: estimate_step(base, image), done, lambda *_: None)  # type: ignore[attr-defined]

    def latent_set_document(self, doc: Any) -> None:
        """Called by ``set_document``: forget caches, restore the saved edit, re-read."""
        self.latent_cache.clear()
        self._clear_highlight()
        saved = (doc.params.get("latent_edit") if doc is not None else None) or None
        try:
            edit = LatentEdit.from_dict(saved) if saved else LatentEdit()
        except PatinaError:  # a project from a newer Patina: start neutral
            edit = LatentEdit()
        self.latent_panel.set_edit(edit, emit=False)
        self.update_latent_state()

    def current_edit(self) -> LatentEdit:
        """The panel's edit, naming the painted map when there is one."""
        edit = self.latent_panel.edit()
        layer = strength_layer(self.document, create=False)
        if layer is not None and edit.map_gain != 0.0:
            return LatentEdit.from_dict({**edit.to_dict(), "strength_map": f"layer:{layer.name}"})
        return edit

    def _strength_data(self, edit: LatentEdit) -> np.ndarray | None:
        layer = strength_layer(self.document, create=False)
        return None if layer is None or edit.strength_map is None else layer.data

    def _on_edit_changed(self) -> None:
        if not self.latent_active():
            return
        self.document.params["latent_edit"] = self.latent_panel.edit().to_dict()
        self.restore_panel.schedule_preview()  # type: ignore[attr-defined]

    def _on_strength_released(self) -> None:
        """Preview at once when the slider is let go (and time it)."""
        if not self.latent_active():
            return
        self.restore_panel._debounce.stop()  # type: ignore[attr-defined]
        self._released_at = time.perf_counter()
        self.preview()  # type: ignore[attr-defined]

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
        info = self.restore_panel.service()  # type: ignore[attr-defined]
        base = self.base_service(info.task, info.method)
        return bool(getattr(base, "preview_file", ""))

    def steered_params(self, params: dict[str, Any], edit: LatentEdit) -> dict[str, Any]:
        """Service params plus the edit, as recorded in the recipe."""
        seed = edit.seed if edit.sample else -1
        return {**params, "latent_strength": edit.strength, "seed": seed, "latent": edit.to_dict()}

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
        return SteeredService(base, edit, smap, origin=(y0, x0),
                              full_size=doc.size, source_image=doc.original.data,
                              cache=self.latent_cache)  # fmt: skip

    def latent_preview(self, task: str, method: str, params: dict[str, Any], roi: Any) -> bool:
        """Run a steered preview when the method is steerable; False when it is not.

        A view larger than FOCUS_ABOVE pixels (FOCUS_ABOVE_QUICK with quick previews,
        which restore it in about the time the full model takes for the centre) is
        previewed in two steps: its central FOCUS-pixel square first (quick feedback),
        then the whole view, each pasted over what is shown. A newer request replaces
        both. Previews restore one view of the image (``ensemble`` 1) so they stay
        quick; Render applies the chosen ensemble.
        """
        if not self.latent_active():
            return False
        edit = self.current_edit()
        steered = self.steered_params({**params, "ensemble": "1"}, edit)
        h, w = self.document.size
        roi = roi or (0, 0, h, w)
        limit = FOCUS_ABOVE_QUICK if self._quick_previews() else FOCUS_ABOVE
        focus = focus_box(roi, FOCUS) if area(roi) > limit else None
        self._pending_full = (task, method, steered, roi, edit) if focus else None
        self._submit_preview(task, method, steered, focus or roi, edit)
        return True

    def _submit_preview(
        self, task: str, method: str, params: dict[str, Any], roi: Rect, edit: LatentEdit
    ) -> None:
        quick = self._quick_previews()
        self.jobs.preview(  # type: ignore[attr-defined]
            task, method, params, roi, overlay=True,
            service_for=lambda box: self.steered_service(task, method, edit, box, quick),
        )  # fmt: skip

    def latent_render(self, task: str, method: str, params: dict[str, Any]) -> bool:
        """Run a steered render when the method is steerable; False when it is not."""
        if not self.latent_active():
            return False
        self._pending_full = None
        edit = self.current_edit()
        smap = self._strength_data(edit)
        if smap is not None:
            named = f"{edit.strength_map}@{map_digest(smap)}"
            edit = LatentEdit.from_dict({**edit.to_dict(), "strength_map": named})
        service = self.steered_service(task, method, edit)
        self.jobs.render(task, method, self.steered_params(params, edit), service=service)  # type: ignore[attr-defined]
        return True

    # -- results and readouts ------------------------------------------------------
    def _on_latent_result(self, kind: str) -> None:
        pending, self._pending_full = self._pending_full, None
        if kind == "preview" and self._released_at is not None:
            elapsed = time.perf_counter() - self._released_at
            if pending is not None:
                self.last_focus_latency = elapsed
            else:
                self.last_preview_latency, self._released_at = elapsed, None
                self.statusBar().showMessage(  # type: ignore[attr-defined]
                    f"Preview {elapsed * 1000:.0f} ms after release{self._preview_kind()}", 4000
                )
        if kind == "preview" and pending is not None:
            self._submit_preview(*pending)
        if kind == "render":
            self._show_route_summary()
        self._refresh_latent_readouts()

    def _show_route_summary(self) -> None:
        """After a routed render, the status bar gives the Route layer's legend and shares."""
        doc = self.document
        layer = None if doc is None else doc.layers.find(LayerKind.ROUTE)
        recipe = doc.recipe[-1] if doc is not None and doc.recipe else {}
        if layer is not None and recipe.get("params", {}).get("route") == "auto":
            self.statusBar().showMessage(  # type: ignore[attr-defined]
                f"Route layer: {route_summary(layer.data)} ({ROUTE_LEGEND})", 15000
            )

    def _quick_previews(self) -> bool:
        """Whether previews run on the model's quick preview restorer."""
        box = self.latent_panel.quick_preview
        return box.isEnabled() and box.isChecked()

    def _preview_kind(self) -> str:
        return " (quick restorer)" if self._quick_previews() else ""

    def latent_layers(self) -> list[Layer]:
        doc = self.document
        return [] if doc is None else doc.layers.all(LayerKind.LATENT)

    def _est_layer(self) -> Layer | None:
        return next((x for x in self.latent_layers() if x.name.startswith(EST_PREFIX)), None)

    def _refresh_latent_readouts(self) -> None:
        layers = self.latent_layers()
        self.latent_panel.set_layers([x.name for x in layers])
        est = self._est_layer()
        if est is None:
            self.latent_panel.set_estimate(None)
            return
        what = est.name.removeprefix(EST_PREFIX)
        label = "noise σ" if what == "sigma" else "JPEG quality"
        text = f"Estimated {label}: <b>{float(est.data.mean()):.1f}</b>"
        note = self._est_note()
        self.latent_panel.set_estimate(f"{text}<br><i>{note}</i>" if note else text)

    def _est_note(self) -> str:
        """The current model's caveat about its EST head ("" when it has none)."""
        chosen = self.restore_panel.selection()
        if chosen is None or (chosen[0], chosen[1]) not in self._bases:
            return ""
        return str(getattr(self._bases[(chosen[0], chosen[1])], "est_note", ""))

    def _on_cursor(self, x: int, y: int) -> None:
        est = self._est_layer()
        if est is None or x < 0 or not self.latent_dock.isVisible():
            self.latent_panel.set_cursor_estimate("")
            return
        scale = float(est.meta.get("scale", FACTOR))
        h, w = est.shape
        value = est.data[min(h - 1, int(y / scale)), min(w - 1, int(x / scale))]
        name = est.name.removeprefix(EST_PREFIX)
        self.latent_panel.set_cursor_estimate(f"under the cursor ({x}, {y}): {name} {value:.1f}")

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
        self.latent_panel.set_legend(tuple(rng) if rng else None, name)

    # -- canvas tools --------------------------------------------------------------
    def tool_latent(self) -> None:
        self.use_latent_brush(bool(getattr(self.tools["latent"], "erase", False)))  # type: ignore[attr-defined]

    def use_latent_brush(self, erase: bool = False) -> None:
        """The latent brush: paint "clean more" (or "keep more" with ``erase``; Alt inverts)."""
        if self.document is None:
            return
        tool = self.tools["latent"]  # type: ignore[attr-defined]
        tool.erase = erase
        self.set_tool("latent")  # type: ignore[attr-defined]
        layer = strength_layer(self.document, create=True)
        if self.layers_panel.selected_layer() is not layer:  # type: ignore[attr-defined]
            self.layers_panel.select_layer(layer)  # type: ignore[attr-defined]

    def clear_strength_map(self) -> None:
        if strength_layer(self.document, create=False) is not None:
            self.strength_editor.clear()

    def start_pick(self, what: str) -> None:
        """Let the next dragged rectangle choose a region ("transplant", "target", ...)."""
        if self.document is None:
            return
        view = self.area.view  # type: ignore[attr-defined]
        if self._picking is None:
            self._tool_before_pick = view.tool()
        self._picking = what
        view.set_tool(self.pick_tool)
        self.statusBar().showMessage("Drag a rectangle on the image", 5000)  # type: ignore[attr-defined]

    def _on_pick(self, rect: Rect) -> None:
        what, self._picking = self._picking, None
        self.area.view.set_tool(self._tool_before_pick)  # type: ignore[attr-defined]
        h, w = self.document.size
        rect = (max(0, rect[0]), max(0, rect[1]), min(h, rect[2]), min(w, rect[3]))
        if what == "target":
            self.latent_panel.set_target(rect)
        elif what is not None:
            self.latent_panel.set_source(what, LatentRef("region", rect))

    # -- export sidecar ------------------------------------------------------------
    def export_to(self, path: Path, bit_depth: int = 8, quality: int = 92) -> Path | None:
        """Export (FileActions), then write the recipe sidecar of a steered result."""
        written = super().export_to(path, bit_depth, quality)  # type: ignore[misc]
        if written is not None:
            self.write_recipe_sidecar(written)
        return written

    def write_recipe_sidecar(self, output: Path) -> Path | None:
        """``<output>.recipe.json`` (+ strength map) for a VDIR result; None otherwise."""
        doc = self.document
        result = doc.result_layer() if doc is not None else None
        params = dict(result.meta.get("params", {})) if result is not None else {}
        if result is None or "latent" not in params:
            return None
        if params.pop("preview", False):
            self.statusBar().showMessage(
                "Render the full image to export a reproducible recipe", 8000
            )  # type: ignore[attr-defined]
            return None
        edit = LatentEdit.from_dict(params.pop("latent"))
        smap = self._map_for(edit)
        if edit.strength_map is not None and smap is None:
            return None
        recipe = Recipe(result.meta["task"], result.meta["method"], params, edit, smap,
                        input=str(doc.source) if doc.source else None, output=str(output),
                        history=list(doc.recipe))  # fmt: skip
        return write_sidecar(recipe, output)

    def _map_for(self, edit: LatentEdit) -> np.ndarray | None:
        """The strength map a result used (checked against the digest in its recipe)."""
        if edit.strength_map is None:
            return None
        layer = strength_layer(self.document, create=False)
        digest = edit.strength_map.rpartition("@")[2]
        if layer is None or map_digest(layer.data) != digest:
            self.show_error(  # type: ignore[attr-defined]
                "No recipe written",
                "The latent strength map was changed after the render; render again to "
                "export a reproducible recipe.",
            )
            return None
        return layer.data


__all__ = ["NEUTRAL", "STRENGTH_LAYER", "LatentActions", "is_steerable_info", "map_digest"]
