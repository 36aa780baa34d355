"""The Route layer: a routed render (route=auto) shows which path each region took."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.core.layers import LayerKind
from app.training.route_train import save_pathfinder
from tests.ml.test_routing import fixed_pathfinder
from tests.ml.tiny_vdir import TinyVDIRService
from tests.ui.test_latent import render, steer, tiny, vdir_registry

__all__ = ["steer", "tiny", "vdir_registry"]  # fixtures shared with the latent tests


@pytest.fixture
def routed(steer, tiny: TinyVDIRService, tmp_path: Path):  # noqa: ANN001, ANN201
    """The steering window whose tiny VDIR has a random pathfinder, route=auto chosen."""
    save_pathfinder(fixed_pathfinder(seed=3), tmp_path / "route.safetensors", {})
    tiny.route_file = str(tmp_path / "route.safetensors")
    combo = steer.restore_panel.form.widgets["route"]
    combo.setCurrentText("auto")
    return steer


def test_a_routed_render_adds_a_colour_coded_route_layer(routed, qtbot, tiny) -> None:  # noqa: ANN001
    render(routed, qtbot)
    doc = routed.document
    layer = doc.layers.find(LayerKind.ROUTE)
    assert layer is not None and layer.name == "Route" and not layer.visible
    assert layer.shape == (24, 32)  # latent resolution of the 96x128 photo
    assert tiny.last_route is not None
    np.testing.assert_array_equal(np.unique(layer.data), np.unique(tiny.last_route))
    assert doc.recipe[-1]["params"]["route"] == "auto"
    model = routed.layers_panel.model
    row = next(r for r in range(model.rowCount()) if model.layer_at(r) is layer)
    tip = model.data(model.index(row), Qt.ItemDataRole.ToolTipRole)
    assert "orange = full" in tip and "quick" in tip
    assert routed.statusBar().currentMessage().startswith("Route layer: bypass")
    layer.visible = True
    item = routed.area.scene.item_for(layer)
    assert item is not None and item.isVisible()
