"""The window's actions, menus and toolbar, declared as data.

Each action: name, text, qtawesome icon, shortcut, slot (a window method name, or a
dotted path through a controller such as ``"files.open_dialog"``), and whether it is
checkable. :func:`build` creates them on the window, fills the menus and
the toolbar, and returns the actions by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any, cast

import qtawesome as qta
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QWidget

ICON_COLOR = "#d4d7dc"
ICON_ACTIVE = "#ffffff"


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    slot: str
    icon: str = ""
    shortcut: str | QKeySequence.StandardKey = ""
    checkable: bool = False
    tip: str = ""
    alternates: tuple[str, ...] = ()  # more shortcuts (the same key on other layouts)


SOFTER, HARDER = ("Shift+{",), ("Shift+}",)
SPECS = (
    # File
    ActionSpec("open", "&Open…", "files.open_dialog", "mdi6.folder-open-outline", "Ctrl+O"),
    ActionSpec(
        "save", "&Save Project", "files.save_project", "mdi6.content-save-outline", "Ctrl+S"
    ),
    ActionSpec("save_as", "Save Project &As…", "files.save_project_as", "", "Ctrl+Shift+S"),
    ActionSpec("export", "&Export…", "files.export", "mdi6.export-variant", "Ctrl+E"),
    ActionSpec("quit", "&Quit", "close", "", "Ctrl+Q"),
    # Edit
    ActionSpec("undo", "&Undo", "undo", "mdi6.undo", "Ctrl+Z"),
    ActionSpec("redo", "&Redo", "redo", "mdi6.redo", "Ctrl+Shift+Z"),
    ActionSpec(
        "mask_clear", "Clear Mask", "tools.mask_clear", "mdi6.eraser-variant", "Ctrl+Shift+X"
    ),
    ActionSpec("mask_invert", "Invert Mask", "tools.mask_invert", "mdi6.invert-colors", "Ctrl+I"),
    ActionSpec("mask_grow", "Grow Mask by 2 px", "tools.mask_grow", "", "Ctrl+Shift+="),
    ActionSpec("mask_shrink", "Shrink Mask by 2 px", "tools.mask_shrink", "", "Ctrl+Shift+-"),
    ActionSpec("mask_feather", "Feather Mask", "tools.mask_feather", "", ""),
    ActionSpec("mask_load", "Load Mask…", "files.mask_load", "", ""),
    ActionSpec("mask_save", "Save Mask…", "files.mask_save", "", ""),
    # Tools
    ActionSpec(
        "tool_brush", "Brush", "tools.tool_brush", "mdi6.brush", "B", True, "Paint the mask (B)"
    ),
    ActionSpec(
        "tool_eraser", "Eraser", "tools.tool_eraser", "mdi6.eraser", "E", True, "Erase the mask (E)"
    ),
    ActionSpec(
        "tool_rect",
        "Rectangle Fill",
        "tools.tool_rect",
        "mdi6.selection",
        "M",
        True,
        "Fill a rectangle of the mask (M; Alt clears)",
    ),
    ActionSpec(
        "tool_lasso",
        "Lasso Fill",
        "tools.tool_lasso",
        "mdi6.lasso",
        "L",
        True,
        "Fill a free-hand area of the mask (L; Alt clears)",
    ),
    ActionSpec(
        "tool_latent",
        "Latent Brush",
        "latent.tool_latent",
        "mdi6.brush-variant",
        "K",
        True,
        "Paint where a VDIR model cleans more (K; Alt: keeps more)",
    ),
    ActionSpec(
        "tool_hand",
        "Hand",
        "tools.tool_hand",
        "mdi6.hand-back-right-outline",
        "H",
        True,
        "Pan (H, or hold Space)",
    ),
    ActionSpec("brush_smaller", "Smaller Brush", "tools.brush_smaller", "", "["),
    ActionSpec("brush_larger", "Larger Brush", "tools.brush_larger", "", "]"),
    # Shift+[ is matched as Shift+[ or "{" by X11 (binding both would be ambiguous there);
    # other platforms (and QTest) may deliver Shift+{, which X11 never matches
    ActionSpec(
        "brush_softer", "Softer Brush", "tools.brush_softer", "", "Shift+[", alternates=SOFTER
    ),
    ActionSpec(
        "brush_harder", "Harder Brush", "tools.brush_harder", "", "Shift+]", alternates=HARDER
    ),
    # View
    ActionSpec("fit", "&Fit to Window", "view_fit", "mdi6.fit-to-screen-outline", "F"),
    ActionSpec("actual", "&100%", "view_actual", "mdi6.magnify-scan", "1"),
    ActionSpec("zoom_in", "Zoom &In", "view_zoom_in", "mdi6.magnify-plus-outline", "Ctrl+="),
    ActionSpec("zoom_out", "Zoom &Out", "view_zoom_out", "mdi6.magnify-minus-outline", "Ctrl+-"),
    ActionSpec("compare_off", "No Comparison", "compare_off", "mdi6.image-outline", "", True),
    ActionSpec(
        "compare_split",
        "Split Before | After",
        "compare_split",
        "mdi6.compare-horizontal",
        "Ctrl+D",
        True,
        "Split view with a divider (Ctrl+D)",
    ),
    ActionSpec(
        "compare_side",
        "Side by Side",
        "compare_side",
        "mdi6.view-split-vertical",
        "",
        True,
        "Two views, zoom and pan locked",
    ),
    ActionSpec(
        "show_difference",
        "Show &Difference Map",
        "toggle_difference",
        "mdi6.select-compare",
        "D",
        True,
        "Heat map of |result − original| (D)",
    ),
    # Image
    ActionSpec("preview", "&Preview Visible Area", "restore.preview", "mdi6.eye-outline", "Ctrl+P"),
    ActionSpec(
        "render", "&Render Full Image", "restore.render_full", "mdi6.play-circle-outline", "Ctrl+R"
    ),
    ActionSpec("cancel", "&Cancel Job", "restore.cancel_jobs", "mdi6.stop-circle-outline", "Esc"),
    ActionSpec("degrade_dock", "&Degrade…", "show_degrade", "mdi6.creation", ""),
    # Help
    ActionSpec(
        "shortcuts", "&Keyboard Shortcuts", "help.show_shortcuts", "mdi6.keyboard-outline", "F1"
    ),
    ActionSpec("about", "&About Patina", "help.show_about", "", ""),
)

MENUS = {
    "&File": ["open", "recent", "-", "save", "save_as", "export", "-", "quit"],
    "&Edit": [
        "undo",
        "redo",
        "-",
        "tool_brush",
        "tool_eraser",
        "tool_rect",
        "tool_lasso",
        "tool_latent",
        "brush_smaller",
        "brush_larger",
        "brush_softer",
        "brush_harder",
        "-",
        "mask_clear",
        "mask_invert",
        "mask_grow",
        "mask_shrink",
        "mask_feather",
        "-",
        "mask_load",
        "mask_save",
    ],
    "&View": [
        "fit",
        "actual",
        "zoom_in",
        "zoom_out",
        "-",
        "compare_off",
        "compare_split",
        "compare_side",
        "show_difference",
        "-",
        "docks",
    ],
    "&Image": ["preview", "render", "cancel", "-", "degrade_dock"],
    "&Help": ["shortcuts", "about"],
}
TOOLBAR = [
    "open",
    "save",
    "export",
    "-",
    "undo",
    "redo",
    "-",
    "tool_brush",
    "tool_eraser",
    "tool_rect",
    "tool_lasso",
    "tool_latent",
    "tool_hand",
    "brush_options",
    "-",
    "fit",
    "actual",
    "-",
    "compare_off",
    "compare_split",
    "compare_side",
    "show_difference",
    "-",
    "preview",
    "render",
    "cancel",
]
TOOL_GROUP = ("tool_brush", "tool_eraser", "tool_rect", "tool_lasso", "tool_latent", "tool_hand")
COMPARE_GROUP = ("compare_off", "compare_split", "compare_side")


def _icon(name: str) -> Any:
    return qta.icon(name, color=ICON_COLOR, color_active=ICON_ACTIVE, color_on=ICON_ACTIVE)


def slot(window: QMainWindow, path: str) -> Callable[..., Any]:
    """The callable ``path`` names on ``window`` ("close", "files.open_dialog")."""
    target: Any = reduce(getattr, path.split("."), window)
    return cast(Callable[..., Any], target)


def make_actions(window: QMainWindow) -> dict[str, QAction]:
    """Create every action on ``window`` (window-wide shortcuts) connected to its slot."""
    actions: dict[str, QAction] = {}
    for spec in SPECS:
        action = QAction(spec.text, window)
        action.setObjectName(f"action_{spec.name}")
        if spec.icon:
            action.setIcon(_icon(spec.icon))
        if spec.shortcut:
            keys = [QKeySequence(k) for k in (spec.shortcut, *spec.alternates)]
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(spec.checkable)
        tip = spec.tip or spec.text.replace("&", "").rstrip("…")
        if spec.shortcut and not spec.tip:
            tip += f" ({QKeySequence(spec.shortcut).toString()})"
        action.setToolTip(tip)
        action.triggered.connect(slot(window, spec.slot))
        window.addAction(action)
        actions[spec.name] = action
    for group in (TOOL_GROUP, COMPARE_GROUP):
        exclusive = QActionGroup(window)
        for name in group:
            exclusive.addAction(actions[name])
    actions["compare_off"].setChecked(True)
    return actions


def build_menus(window: QMainWindow, actions: dict[str, QAction], extra: dict[str, QMenu]) -> None:
    """Fill the menu bar; ``extra`` supplies sub-menus by name ("recent", "docks")."""
    bar = window.menuBar()
    for title, names in MENUS.items():
        menu = bar.addMenu(title)
        for name in names:
            if name == "-":
                menu.addSeparator()
            elif name in extra:
                menu.addMenu(extra[name])
            else:
                menu.addAction(actions[name])


def build_toolbar(
    window: QMainWindow, actions: dict[str, QAction], widgets: dict[str, QWidget] | None = None
) -> QToolBar:
    """The main toolbar (icons only, 20 px); ``widgets`` supplies the non-action entries by
    name ("brush_options"); a name without a widget is left out."""
    bar = QToolBar("Tools", window)
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setIconSize(QSize(20, 20))
    widgets = widgets or {}
    for name in TOOLBAR:
        if name == "-":
            bar.addSeparator()
        elif name in actions:
            bar.addAction(actions[name])
        elif name in widgets:
            bar.addWidget(widgets[name])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar
