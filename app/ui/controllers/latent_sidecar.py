"""The recipe sidecar of an exported steered result (``<output>.recipe.json`` + map).

Written after an export when the result came from a full steered render, so that
``patina restore --recipe`` reproduces it (:mod:`app.ml.recipe`). A preview, or a result
whose painted strength map changed since the render, gets no sidecar (and a message).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.ml.recipe import RestoreRecipe, write_sidecar
from app.ml.steering.edit import LatentEdit
from app.ui.canvas.latent_tools import strength_layer

if TYPE_CHECKING:
    from app.core.document import Document
    from app.ui.main_window import MainWindow


def map_digest(strength_map: np.ndarray) -> str:
    """Short content hash of a strength map (records which map a render used)."""
    return hashlib.sha1(np.ascontiguousarray(strength_map).tobytes()).hexdigest()[:12]


def write_recipe_sidecar(window: MainWindow, output: Path) -> Path | None:
    """``<output>.recipe.json`` (+ strength map) for ``window``'s VDIR result; None when
    the result is not a full steered render (or its map changed)."""
    doc = window.document
    result = doc.result_layer() if doc is not None else None
    params = dict(result.meta.get("params", {})) if result is not None else {}
    if doc is None or result is None or "latent" not in params:
        return None
    if params.pop("preview", False):
        window.status.showMessage("Render the full image to export a reproducible recipe", 8000)
        return None
    edit = LatentEdit.from_dict(params.pop("latent"))
    smap = _map_for(window, doc, edit)
    if edit.strength_map is not None and smap is None:
        return None
    recipe = RestoreRecipe(result.meta["task"], result.meta["method"], params, edit, smap,
                           input=str(doc.source) if doc.source else None, output=str(output),
                           history=list(doc.recipe))  # fmt: skip
    return write_sidecar(recipe, output)


def _map_for(window: MainWindow, doc: Document, edit: LatentEdit) -> np.ndarray | None:
    """The strength map a result used (checked against the digest in its recipe)."""
    if edit.strength_map is None:
        return None
    layer = strength_layer(doc, create=False)
    digest = edit.strength_map.rpartition("@")[2]
    if layer is None or map_digest(layer.data) != digest:
        window.show_error(
            "No recipe written",
            "The latent strength map was changed after the render; render again to "
            "export a reproducible recipe.",
        )
        return None
    return layer.data
