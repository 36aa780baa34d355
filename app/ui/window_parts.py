"""Parts of :class:`~app.ui.main_window.MainWindow`, mixed into it.

- :class:`ToolActions`: the canvas tools (brush, eraser, rectangle, lasso, hand), the
  brush's radius and hardness (QSettings ``brush/radius``, ``brush/hardness``, mirrored in
  the toolbar's :class:`~app.ui.brush_options.BrushOptions`) and the whole-mask operations
  (clear, invert, grow, shrink, feather; each one undo step).
- :class:`HelpActions`: the keyboard shortcut list and the About box.

They use the window's ``document``, ``area``, ``tools``, ``editor``, ``settings``,
``status``, ``actions_by_name``, ``layers_panel``, ``brush_options`` and ``show_error``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.ui.brush_options import step_hardness
from app.ui.canvas.tools import BrushTool, LassoTool, RectTool

BRUSH_MIN, BRUSH_MAX, BRUSH_STEP = 1.0, 800.0, 1.25
MASK_TOOLS = ("brush", "eraser", "rect", "lasso")
SHORTCUTS = (
    ("Ctrl+O / Ctrl+S / Ctrl+Shift+S", "Open, save project, save project as"),
    ("Ctrl+E", "Export the result"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"),
    ("B / E", "Brush / eraser (hold Alt to invert)"),
    ("K", "Latent brush: clean more here (Alt: keep more)"),
    ("M / L", "Rectangle / lasso fill (Alt clears)"),
    ("[ / ]", "Smaller / larger brush"),
    ("Shift+[ / Shift+]", "Softer / harder brush"),
    ("Space + drag, middle drag", "Pan"),
    ("Wheel", "Zoom around the cursor"),
    ("F / 1", "Fit / 100 %"),
    ("\\ (hold)", "Show the original"),
    ("Ctrl+D", "Split before | after"),
    ("D", "Difference map"),
    ("Ctrl+P / Ctrl+R", "Preview visible area / render"),
    ("Esc", "Cancel the running job"),
)


class ToolActions:
    """Tool selection, brush radius/hardness and whole-mask operations."""

    document: Any
    area: Any
    tools: dict[str, Any]
    editor: Any
    settings: Any
    status: Any
    actions_by_name: dict[str, Any]
    layers_panel: Any
    brush_options: Any

    # -- whole-mask operations -------------------------------------------------------
    def _mask_op(self, op: str, *args: Any) -> None:
        if self.document is None:
            return
        try:
            getattr(self.editor, op)(*args)
        except Exception as err:  # noqa: BLE001 - shown, nothing lost
            self.show_error("Mask", str(err))  # type: ignore[attr-defined]

    def mask_clear(self) -> None:
        self._mask_op("clear")

    def mask_invert(self) -> None:
        self._mask_op("invert")

    def mask_grow(self) -> None:
        self._mask_op("grow", 2)

    def mask_shrink(self) -> None:
        self._mask_op("grow", -2)

    def mask_feather(self) -> None:
        self._mask_op("feather", 4.0)

    # -- tools ---------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        """Select the tool ``name`` (brush, eraser, rect, lasso, hand)."""
        self.area.view.set_tool(self.tools[name])
        self.actions_by_name[f"tool_{name}"].setChecked(True)
        self.settings.setValue("tools/current", name)
        if name in MASK_TOOLS and self.document is not None:
            mask = self.document.mask_layer(create=True)
            if self.layers_panel.selected_layer() is not mask:
                self.layers_panel.select_layer(mask)

    def tool_brush(self) -> None:
        self.set_tool("brush")

    def tool_eraser(self) -> None:
        self.set_tool("eraser")

    def tool_rect(self) -> None:
        self.set_tool("rect")

    def tool_lasso(self) -> None:
        self.set_tool("lasso")

    def tool_hand(self) -> None:
        self.set_tool("hand")

    def _on_layer_selected(self, layer: Any) -> None:
        kind = str(getattr(layer.kind, "value", layer.kind))
        current = self.area.view.tool()
        if kind == "mask" and not isinstance(current, BrushTool | RectTool | LassoTool):
            self.set_tool("brush")

    # -- brush ---------------------------------------------------------------------
    def set_brush_radius(self, radius: float) -> None:
        """Brush radius in image pixels, clamped to [BRUSH_MIN, BRUSH_MAX]."""
        radius = max(BRUSH_MIN, min(BRUSH_MAX, radius))
        self.editor.brush.radius = radius
        self.area.view.set_brush_radius(radius)
        self.brush_options.show_values(radius=radius)
        self.settings.setValue("brush/radius", radius)
        self.status.showMessage(f"Brush radius {radius:.0f} px", 1500)

    def brush_smaller(self) -> None:
        self.set_brush_radius(self.editor.brush.radius / BRUSH_STEP)

    def brush_larger(self) -> None:
        self.set_brush_radius(self.editor.brush.radius * BRUSH_STEP)

    def set_brush_hardness(self, hardness: float) -> None:
        """Brush edge hardness in [0, 1] (1 = hard edge), shared by the latent brush."""
        hardness = max(0.0, min(1.0, hardness))
        self.editor.brush.hardness = hardness
        self.area.view.set_brush_hardness(hardness)
        self.brush_options.show_values(hardness=hardness)
        self.settings.setValue("brush/hardness", hardness)

    def brush_softer(self) -> None:
        self.set_brush_hardness(step_hardness(self.editor.brush.hardness, -1))
        self.status.showMessage(f"Brush hardness {self.editor.brush.hardness:.0%}", 1500)

    def brush_harder(self) -> None:
        self.set_brush_hardness(step_hardness(self.editor.brush.hardness, +1))
        self.status.showMessage(f"Brush hardness {self.editor.brush.hardness:.0%}", 1500)


class HelpActions:
    """Help menu: the shortcut list (non-modal) and the About box."""

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in SHORTCUTS
        )
        box = QMessageBox(  # type: ignore[call-overload]
            QMessageBox.Icon.NoIcon,
            "Keyboard shortcuts",
            f"<table>{rows}</table>",
            QMessageBox.StandardButton.Close,
            self,  # type: ignore[arg-type]
        )
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    def show_about(self) -> None:
        QMessageBox.about(
            self,  # type: ignore[arg-type]
            "About Patina",
            "<h3>Patina</h3><p>Offline photo restoration: denoise, deblock, upscale and "
            "inpaint with steerable latent models. Nothing leaves your computer.</p>",
        )
