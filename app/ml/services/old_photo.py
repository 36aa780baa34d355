"""One-click old-photo repair: detect damage -> (user mask) -> inpaint -> restore -> upscale.

:class:`OldPhotoPipeline` holds one object per stage (injected, so tests use tiny
models) and :meth:`OldPhotoPipeline.run` is a generator yielding Progress per tile of
every stage (``stage`` = "detect", "inpaint", "restore", "upscale") and returning an
:class:`OldPhotoResult` with every intermediate image, so the window can put each
stage on its own layer (:meth:`OldPhotoResult.stages`, carried to the window by the
worker pool from :attr:`OldPhotoService.extra_stages`) and the recipe can record every
stage's parameters.

Stage choice (:func:`app.ml.registry.create_old_photo_pipeline`, the one place the
pipeline is assembled): the learned damage detector if shipped, else the top-hat
baseline; learned inpainting if shipped, else OpenCV Telea; the ``old-photo`` VDIR model
if the registry lists it, else the denoise one, else no restore stage (with
``restore=grain``, the real-noise model ``vdir-real`` when listed: it removes coarse film
grain and camera noise that the old-photo model, trained on fine grain, leaves or
worsens; docs/models.md has the numbers); the registry's upscaler when ``upscale > 1``.
Memory: every stage is tiled, so besides the intermediate images (kept as layers) only
one row of tiles is held at a time.

Importing this module does not import torch (the window lists :data:`PIPELINE_INFO`);
the stages are built, and their modules imported, by the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from app.core import masks
from app.core.errors import InvalidInputError
from app.core.masks import DAMAGE_GROW as DEFAULT_GROW
from app.core.masks import DAMAGE_THRESHOLD as DEFAULT_THRESHOLD
from app.core.progress import Work, relabel
from app.ml.services.base import ParamSpec, Service, ServiceInfo, check_mask

if TYPE_CHECKING:
    from app.ml.services.detect import Detector


RESTORERS = ("print", "grain")
PARAMS = (
    ParamSpec("detect", True, help="find scratches and dust automatically (else use the mask)"),
    ParamSpec("threshold", DEFAULT_THRESHOLD, 0.0, 1.0, help="damage probability threshold"),
    ParamSpec("grow", DEFAULT_GROW, 0, 16, help="grow the detected mask by this many pixels"),
    ParamSpec("upscale", 1, 1, 4, help="final upscaling factor (1 = none)"),
    ParamSpec("restore", "print", choices=RESTORERS,
              help="print: the old-photo model (fading, blur, fine grain, noise, JPEG); "
                   "grain: the real-noise model (coarse film grain, camera noise)"),
)  # fmt: skip
PIPELINE_INFO = ServiceInfo(
    task="old-photo", method="pipeline", title="Old-photo repair (one click)",
    description="Detect scratches and dust (merged with your mask), inpaint them, restore, "
    "optionally upscale; every stage lands as a layer.",
    scale=0, learned=True, params=PARAMS,
)  # fmt: skip
"""What :class:`OldPhotoService` is, without building its stages (no torch import)."""

IMAGE_STAGES = ("inpainted", "restored", "upscaled")
"""The RGB stages of :meth:`OldPhotoResult.stages`, in the order they run."""


@dataclass
class OldPhotoResult:
    """Every stage's output; ``recipe`` lists one dict per stage that ran."""

    final: np.ndarray
    mask: np.ndarray
    probability: np.ndarray | None = None
    inpainted: np.ndarray | None = None
    restored: np.ndarray | None = None
    upscaled: np.ndarray | None = None
    recipe: list[dict[str, Any]] = field(default_factory=list)

    def stages(self) -> list[dict[str, Any]]:
        """The stage outputs in the order they were made, one dict per stage that ran:
        ``{"stage", "kind", "data", "entry"}``.

        ``stage`` is "probability" (``kind`` "probability", float32 (H, W) in [0, 1]),
        "mask" (``kind`` "mask", float32 (H, W), 1 = damaged: the given mask merged with
        the detection; only when detection ran), or one of :data:`IMAGE_STAGES`
        (``kind`` "image", float32 (H*s, W*s, 3) in [0, 1]). ``entry`` is the stage's
        recipe entry (the mask carries the detection's), None for the probability.
        """
        out: list[dict[str, Any]] = []
        entries = [e for e in self.recipe if e["stage"] != "detect"]
        detect = [e for e in self.recipe if e["stage"] == "detect"]
        if self.probability is not None:
            out.append(_output("probability", "probability", self.probability, None))
        if detect:
            out.append(_output("mask", "mask", self.mask, detect[0]))
        images = [(n, getattr(self, n)) for n in IMAGE_STAGES if getattr(self, n) is not None]
        for (name, data), entry in zip(images, entries, strict=True):
            out.append(_output(name, "image", data, entry))
        return out


def _output(
    stage: str, kind: str, data: np.ndarray, entry: dict[str, Any] | None
) -> dict[str, Any]:
    return {"stage": stage, "kind": kind, "data": data, "entry": entry}


@dataclass
class OldPhotoPipeline:
    """The stages; ``restorer`` and ``upscaler`` may be None (stage skipped).

    ``grain_restorer`` restores when ``restore`` is "grain" (the real-noise model); without
    one, ``restorer`` is used for both choices."""

    detector: Detector | None
    inpainter: Service
    restorer: Service | None = None
    upscaler: Service | None = None
    grain_restorer: Service | None = None

    def restorer_for(self, choice: str) -> Service | None:
        """The restore stage's service for the ``restore`` parameter's ``choice``."""
        if choice == "grain" and self.grain_restorer is not None:
            return self.grain_restorer
        return self.restorer

    def run(
        self,
        image: np.ndarray,
        *,
        mask: np.ndarray | None = None,
        params: Mapping[str, Any] | None = None,
        tile: int = 512,
    ) -> Work[OldPhotoResult]:
        """Run the stages on float32 (H, W, 3) ``image``; a given ``mask`` (1 = damaged)
        is used as is (``detect`` false) or merged with the detection (``detect`` true):
        its pixels are never dropped."""
        p = resolve(params)
        size = image.shape[:2]
        res = OldPhotoResult(final=image, mask=np.zeros(size, np.float32))
        if mask is not None:
            res.mask = check_mask(mask, size)
        if p["detect"] and self.detector is not None:
            prob = yield from relabel(self.detector.probability(image, tile), "detect")
            res.probability = prob
            entry = _entry("detect", self.detector.method, p, ("threshold", "grow"))
            entry["params"]["merged"] = bool(res.mask.any())
            res.mask = np.maximum(res.mask, masks.from_probability(prob, p["threshold"], p["grow"]))
            res.recipe.append(entry)
        current = image
        if res.mask.any():
            current = yield from _stage(self.inpainter, current, res.mask, {}, tile, res)
            res.inpainted = current
        restorer = self.restorer_for(p["restore"])
        if restorer is not None:
            current = yield from _stage(restorer, current, None, {}, tile, res)
            res.restored = current
        if p["upscale"] > 1 and self.upscaler is not None:
            extra = {"scale": p["upscale"]}
            current = yield from _stage(self.upscaler, current, None, extra, tile, res)
            res.upscaled = current
        res.final = current
        return res


def resolve(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pipeline parameters (defaults overlaid, validated)."""
    given = dict(params or {})
    return {spec.name: spec.validate(given.get(spec.name, spec.default)) for spec in PARAMS}


def _entry(stage: str, method: str, p: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {"stage": stage, "method": method, "params": {k: p[k] for k in keys}}


def _stage(
    service: Service,
    image: np.ndarray,
    mask: np.ndarray | None,
    params: dict[str, Any],
    tile: int,
    res: OldPhotoResult,
) -> Work[np.ndarray]:
    """Run one service stage and record it in ``res.recipe``."""
    resolved = service.resolve_params(params)
    work = service.run(image, mask=mask, params=resolved, tile=tile)
    out = yield from relabel(work, service.info.task)
    res.recipe.append({"stage": service.info.task, "method": service.info.key, "params": resolved})
    return out


class OldPhotoService(Service):
    """The pipeline as a Service (``old-photo/pipeline``): returns the final image.

    After a run, :attr:`last` is the whole :class:`OldPhotoResult` and
    :attr:`extra_stages` its :meth:`~OldPhotoResult.stages` (the worker pool hands them
    to the window in ``JobResult.stages``). ``device`` (None: the first stage's that is
    not the CPU, else "cpu") is where the pool queues the job.
    """

    def __init__(self, pipeline: OldPhotoPipeline, device: str | None = None) -> None:
        self.pipeline = pipeline
        self.device = device if device is not None else pipeline_device(pipeline)
        self.last: OldPhotoResult | None = None
        self.extra_stages: list[dict[str, Any]] = []
        scale = 0 if pipeline.upscaler is not None else 1
        self.info = ServiceInfo(
            task=PIPELINE_INFO.task, method=PIPELINE_INFO.method, title=PIPELINE_INFO.title,
            description=PIPELINE_INFO.description, scale=scale, learned=True, params=PARAMS,
        )  # fmt: skip

    def output_scale(self, params: Mapping[str, Any] | None = None) -> int:
        """The upscaling factor these parameters produce."""
        return int(resolve(params)["upscale"]) if self.pipeline.upscaler is not None else 1

    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        if not params["detect"] and mask is None:
            raise InvalidInputError("without detection the old-photo repair needs a mask")
        self.last = yield from self.pipeline.run(image, mask=mask, params=params, tile=tile)
        self.extra_stages = self.last.stages()
        return self.last.final


def pipeline_device(pipeline: OldPhotoPipeline) -> str:
    """The device of the first stage not on the CPU, else "cpu"."""
    stages = (pipeline.detector, pipeline.inpainter, pipeline.restorer, pipeline.upscaler,
              pipeline.grain_restorer)  # fmt: skip
    devices = [str(getattr(s, "device", "cpu")) for s in stages if s is not None]
    return next((d for d in devices if d != "cpu"), "cpu")
