"""ToolController: the canvas tools (brush, eraser, rectangle, lasso, hand, and tools
other controllers add, such as the latent brush), the brush's radius and hardness
(QSettings ``brush/radius``, ``brush/hardness``, mirrored in the toolbar's
:class:`~app.ui.brush_options.BrushOptions`, which it owns) and the whole-mask operations
(clear, invert, grow, shrink, feather; each one undo step).

It uses the window's ``document``, ``area``, ``editor``, ``settings``, ``status``,
``layers_panel``, ``action()`` and ``show_error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from app.ui.brush_options import BrushOptions, step_hardness
from app.ui.canvas.tools import BrushTool, EraserTool, HandTool, LassoTool, RectTool, Tool

if TYPE_CHECKING:
    from app.core.layers import Layer
    from app.ui.main_window import MainWindow

BRUSH_MIN, BRUSH_MAX, BRUSH_STEP = 1.0, 800.0, 1.25
MASK_TOOLS = ("brush", "eraser", "rect", "lasso")


class ToolController(QObject):
    """Tool selection, brush radius/hardness and whole-mask operations of ``window``."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        editor = window.editor
        self.by_name: dict[str, Tool] = {
            "brush": BrushTool(editor),
            "eraser": EraserTool(editor),
            "rect": RectTool(editor),
            "lasso": LassoTool(editor),
            "hand": HandTool(editor),
        }
        self.brush_options = BrushOptions(window)
        self.brush_options.radius_changed.connect(self.set_brush_radius)
        self.brush_options.hardness_changed.connect(self.set_brush_hardness)
        window.layers_panel.layer_selected.connect(self._on_layer_selected)

    def add_tool(self, name: str, tool: Tool) -> None:
        """Offer ``tool`` as ``name`` (its action is ``tool_<name>``)."""
        self.by_name[name] = tool

    # -- whole-mask operations -------------------------------------------------------
    def _mask_op(self, op: str, *args: Any) -> None:
        if self.window.document is None:
            return
        try:
            getattr(self.window.editor, op)(*args)
        except Exception as err:  # noqa: BLE001 - shown, nothing lost
            self.window.show_error("Mask", str(err))

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
        """Select the tool ``name`` (brush, eraser, rect, lasso, hand, latent)."""
        window = self.window
        window.area.view.set_tool(self.by_name[name])
        window.action(f"tool_{name}").setChecked(True)
        window.settings.setValue("tools/current", name)
        if name in MASK_TOOLS and window.document is not None:
            mask = window.document.mask_layer(create=True)
            if window.layers_panel.selected_layer() is not mask:
                window.layers_panel.select_layer(mask)

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

    def _on_layer_selected(self, layer: Layer) -> None:
        kind = str(getattr(layer.kind, "value", layer.kind))
        current = self.window.area.view.tool()
        if kind == "mask" and not isinstance(current, BrushTool | RectTool | LassoTool):
            self.set_tool("brush")

    # -- brush ---------------------------------------------------------------------
    def set_brush_radius(self, radius: float) -> None:
        """Brush radius in image pixels, clamped to [BRUSH_MIN, BRUSH_MAX]."""
        radius = max(BRUSH_MIN, min(BRUSH_MAX, radius))
        self.window.editor.brush.radius = radius
        self.window.area.view.set_brush_radius(radius)
        self.brush_options.show_values(radius=radius)
        self.window.settings.setValue("brush/radius", radius)
        self.window.status.showMessage(f"Brush radius {radius:.0f} px", 1500)

    def brush_smaller(self) -> None:
        self.set_brush_radius(self.window.editor.brush.radius / BRUSH_STEP)

    def brush_larger(self) -> None:
        self.set_brush_radius(self.window.editor.brush.radius * BRUSH_STEP)

    def set_brush_hardness(self, hardness: float) -> None:
        """Brush edge hardness in [0, 1] (1 = hard edge), shared by the latent brush."""
        hardness = max(0.0, min(1.0, hardness))
        self.window.editor.brush.hardness = hardness
        self.window.area.view.set_brush_hardness(hardness)
        self.brush_options.show_values(hardness=hardness)
        self.window.settings.setValue("brush/hardness", hardness)

    def brush_softer(self) -> None:
        self._step_hardness(-1)

    def brush_harder(self) -> None:
        self._step_hardness(+1)

    def _step_hardness(self, direction: int) -> None:
        brush = self.window.editor.brush
        self.set_brush_hardness(step_hardness(brush.hardness, direction))
        self.window.status.showMessage(f"Brush hardness {brush.hardness:.0%}", 1500)
