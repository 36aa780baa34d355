"""Land a multi-stage job's outputs (the old-photo pipeline) as layers, one undo step each.

:func:`land_stages` takes ``JobResult.stages`` (see :class:`app.workers.jobs.JobResult`)
and applies them in order, each stage one undo step with its recipe entry, so Undo walks
back final -> restored -> inpainted -> mask -> probability:

- ``probability``: the hidden PROBABILITY layer "Damage probability" (replaced if any).
- ``mask``: the MASK layer becomes ``max(current mask, stage mask)``: pixels the user
  painted are never dropped (the pipeline already merged the mask it was given; this
  also keeps strokes painted while it ran). Its entry is the detection's.
- ``image`` stages: RESULT layers named by :data:`STAGE_NAMES`, stacked in order; the
  last one is named "Result" (what export, compare and metrics use) and refreshes the
  DIFFERENCE layer. The first image step removes the RESULT layers already there (the
  pipeline starts from the original, so it supersedes them).

Recipe entries are the stage's entry plus ``task`` (the job's task) and ``time``. Layer
meta: ``{"task", "method", "params", "scale", "stage"}``. Qt-free; call it on the GUI
thread, like every document edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from app.core.document import DIFFERENCE_GAIN, AppendRecipe, Document, difference_map
from app.core.history import SetLayerData
from app.core.layers import Layer, LayerKind

PROBABILITY_NAME = "Damage probability"
RESULT_NAME = "Result"
STAGE_NAMES = {"inpainted": "Inpainted", "restored": "Restored", "upscaled": "Upscaled"}
STEP_TEXTS = {
    "probability": "Damage probability (old photo)",
    "mask": "Damage mask (old photo)",
    "inpainted": "Inpainted (old photo)",
    "restored": "Restored (old photo)",
    "upscaled": "Upscaled (old photo)",
}


def land_stages(
    doc: Document, stages: Sequence[dict[str, Any]], *, task: str, method: str,
    params: dict[str, Any],
) -> list[str]:  # fmt: skip
    """Apply ``stages`` to ``doc``, one undo step per stage; returns the stage names landed."""
    images = [s for s in stages if s["kind"] == "image"]
    landed = []
    for stage in stages:
        name = str(stage["stage"])
        with doc.history.macro(STEP_TEXTS.get(name, name.capitalize())):
            if stage["kind"] == "probability":
                _put_probability(doc, stage["data"])
            elif stage["kind"] == "mask":
                _merge_mask(doc, stage["data"])
            else:
                info = {"task": task, "method": method, "params": dict(params), "stage": name}
                _put_image(doc, stage, info, first=stage is images[0], last=stage is images[-1])
            if stage.get("entry") is not None:
                doc.history.push(AppendRecipe(doc, _recipe_entry(stage["entry"], task)))
        landed.append(name)
    return landed


def _recipe_entry(entry: dict[str, Any], task: str) -> dict[str, Any]:
    return dict(entry, task=task, time=datetime.now(UTC).isoformat(timespec="seconds"))


def _put_probability(doc: Document, prob: np.ndarray) -> None:
    layer = doc.layers.find(LayerKind.PROBABILITY)
    if layer is not None:
        doc.history.push(SetLayerData(layer, prob, STEP_TEXTS["probability"]))
        return
    doc.add_layer(Layer(PROBABILITY_NAME, LayerKind.PROBABILITY, prob, visible=False))


def _merge_mask(doc: Document, mask: np.ndarray) -> None:
    current = doc.mask_layer(create=False)
    merged = mask if current is None else np.maximum(current.data, mask)
    doc.set_mask(merged, STEP_TEXTS["mask"])


def _put_image(
    doc: Document, stage: dict[str, Any], info: dict[str, Any], *, first: bool, last: bool
) -> None:
    """Add the stage's RESULT layer (removing older results first; the last refreshes the
    difference layer)."""
    if first:
        for old in doc.layers.all(LayerKind.RESULT):
            doc.remove_layer(old)
    data = stage["data"]
    scale = round(data.shape[0] / doc.size[0])
    name = RESULT_NAME if last else STAGE_NAMES.get(info["stage"], info["stage"].capitalize())
    doc.add_layer(Layer(name, LayerKind.RESULT, data, meta=dict(info, scale=scale)))
    if last:
        _put_difference(doc, data)


def _put_difference(doc: Document, result: np.ndarray) -> None:
    diff = difference_map(result, doc.original.data)
    layer = doc.difference_layer()
    if layer is not None:
        doc.history.push(SetLayerData(layer, diff, "Difference"))
        return
    meta = {"display_gain": DIFFERENCE_GAIN}
    doc.add_layer(Layer("Difference", LayerKind.DIFFERENCE, diff, visible=False, meta=meta))
