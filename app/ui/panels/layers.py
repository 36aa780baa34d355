"""Layers panel: a Qt list model over the document's LayerList, plus opacity and order controls.

Rows are shown top layer first (as in every photo editor); row ``r`` is layer
``len - 1 - r``. Every edit (visibility, rename, opacity, order, delete) goes through the
document's History, so it can be undone.
"""

from __future__ import annotations

from typing import Any

import qtawesome as qta
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledSlider

from app.core.history import MoveLayer, RemoveLayer, SetLayerProperty
from app.ui.canvas.convert import ROUTE_LEGEND, route_summary
from app.ui.canvas.scene import kind_name

ICONS = {
    "original": "mdi6.image-outline",
    "result": "mdi6.auto-fix",
    "mask": "mdi6.brush",
    "difference": "mdi6.select-compare",
    "latent": "mdi6.grid",
    "probability": "mdi6.chart-bell-curve",
    "ground_truth": "mdi6.check-decagram-outline",
    "strength": "mdi6.tune-variant",
    "route": "mdi6.routes",
}
FIXED_KINDS = ("original",)  # never deleted
Index = QModelIndex | QPersistentModelIndex


class LayerListModel(QAbstractListModel):
    """The LayerList as rows (top first): name, visibility checkbox, kind icon."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc: Any = None
        self._icons: dict[str, QIcon] = {}

    @property
    def document(self) -> Any:
        """The document whose layers are listed (None when none is open)."""
        return self._doc

    def set_document(self, doc: Any) -> None:
        if self._doc is not None:
            self._doc.layers.changed.disconnect(self._reset)
            self._doc.layers.layer_changed.disconnect(self._layer_changed)
        self.beginResetModel()
        self._doc = doc
        self.endResetModel()
        if doc is not None:
            doc.layers.changed.connect(self._reset)
            doc.layers.layer_changed.connect(self._layer_changed)

    def _reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def _layer_changed(self, layer: Any, prop: str) -> None:
        row = self.row_of(layer)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def layer_at(self, row: int) -> Any:
        """The layer shown in ``row``."""
        layers = self._doc.layers
        return layers[len(layers) - 1 - row]

    def row_of(self, layer: Any) -> int:
        if self._doc is None or layer not in self._doc.layers:
            return -1
        return len(self._doc.layers) - 1 - self._doc.layers.index(layer)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if self._doc is None or parent.isValid() else len(self._doc.layers)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        layer = self.layer_at(index.row())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return layer.name
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(kind_name(layer))
        if role == Qt.ItemDataRole.ToolTipRole:
            h, w = layer.shape
            text = f"{layer.name}\n{kind_name(layer)}, {w}×{h}, opacity {layer.opacity:.0%}"
            if kind_name(layer) == "route":  # the legend of the colour-coded paths
                text += f"\n{ROUTE_LEGEND}\n{route_summary(layer.data)}"
            return text
        return None

    def _icon(self, kind: str) -> QIcon:
        if kind not in self._icons:
            self._icons[kind] = qta.icon(ICONS.get(kind, "mdi6.layers"), color="#c8c8c8")
        return self._icons[kind]

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid():
            base |= Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid():
            return False
        layer = self.layer_at(index.row())
        if role == Qt.ItemDataRole.CheckStateRole:
            visible = Qt.CheckState(value) == Qt.CheckState.Checked
            self._doc.history.push(SetLayerProperty(layer, "visible", visible))
            return True
        if role == Qt.ItemDataRole.EditRole and str(value).strip():
            self._doc.history.push(SetLayerProperty(layer, "name", str(value).strip()))
            return True
        return False


class LayersPanel(QWidget):
    """List + opacity slider + up/down/delete buttons; emits ``layer_selected(layer)``."""

    layer_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LayerListModel(self)
        self.view = QListView(self)
        self.view.setModel(self.model)
        self.view.setObjectName("layerList")
        self.view.setEditTriggers(
            QListView.EditTrigger.DoubleClicked | QListView.EditTrigger.EditKeyPressed
        )
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.model.modelReset.connect(self._restore_selection)
        self.opacity = QLabeledSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(self._on_opacity)
        self._selected: Any = None
        self._syncing = False
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.view, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity, 1)
        layout.addLayout(row)
        buttons = QHBoxLayout()
        self.up = self._button("mdi6.arrow-up", "Move layer up", lambda: self._move(+1))
        self.down = self._button("mdi6.arrow-down", "Move layer down", lambda: self._move(-1))
        self.delete = self._button("mdi6.delete-outline", "Delete layer", self._delete)
        for b in (self.up, self.down):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.delete)
        layout.addLayout(buttons)
        self._update_buttons()

    def _button(self, icon: str, tip: str, slot: Any) -> QToolButton:
        button = QToolButton(self)
        button.setIcon(qta.icon(icon, color="#d0d0d0"))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    def set_document(self, doc: Any) -> None:
        self._selected = None
        self.model.set_document(doc)
        self._update_buttons()

    def selected_layer(self) -> Any:
        return self._selected

    def select_layer(self, layer: Any) -> None:
        """Make ``layer`` the current row."""
        row = self.model.row_of(layer)
        if row >= 0:
            self.view.setCurrentIndex(self.model.index(row))

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._selected = self.model.layer_at(current.row()) if current.isValid() else None
        self._update_buttons()
        if self._selected is not None:
            self.layer_selected.emit(self._selected)

    def _restore_selection(self) -> None:
        if self._selected is not None and self.model.row_of(self._selected) >= 0:
            self.select_layer(self._selected)
        else:
            self._selected = None
        self._update_buttons()

    def _update_buttons(self) -> None:
        layer = self._selected
        self._syncing = True
        self.opacity.setEnabled(layer is not None)
        self.opacity.setValue(round(layer.opacity * 100) if layer is not None else 100)
        self._syncing = False
        deletable = layer is not None and kind_name(layer) not in FIXED_KINDS
        self.delete.setEnabled(deletable)
        row = self.model.row_of(layer) if layer is not None else -1
        self.up.setEnabled(row > 0)
        self.down.setEnabled(0 <= row < self.model.rowCount() - 1)

    def _on_opacity(self, value: int) -> None:
        if self._syncing or self._selected is None:
            return
        doc = self.model.document
        doc.history.push(SetLayerProperty(self._selected, "opacity", value / 100.0))

    def _move(self, step: int) -> None:
        doc, layer = self.model.document, self._selected
        if doc is None or layer is None:
            return
        src = doc.layers.index(layer)
        dst = src + step
        if 0 <= dst < len(doc.layers):
            doc.history.push(MoveLayer(doc.layers, src, dst))

    def _delete(self) -> None:
        doc, layer = self.model.document, self._selected
        if doc is None or layer is None or kind_name(layer) in FIXED_KINDS:
            return
        doc.history.push(RemoveLayer(doc.layers, layer))
