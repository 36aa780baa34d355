"""The explicit list of restoration services, and the one place that builds them.

This module is the only reader of ``models/manifest.json`` (``{"models": [{id, task,
method, arch, file, title, config, card, metrics}, ...]}``; the training exporter,
:mod:`app.training.export`, writes it). Classical services come from
:mod:`app.ml.classical_services`; each learned model names an architecture whose factory
is in :data:`ARCH_FACTORIES` as ``"module:Class"``, imported only when a model is created, so
listing services (CLI ``info``, the GUI's method menus) never imports torch. A factory is
called as ``Factory(entry, device)`` with the model's :class:`ModelEntry` (absolute
weights path, config, metadata) and returns a :class:`Service` (a detector, for the
damage detector). Adding a model is one arch file with its service, one line in
:data:`ARCH_FACTORIES` (and :data:`~app.ml.services.specs.ARCH_SPECS`) and one manifest
entry.

Besides :func:`create_service` (task/method) and :func:`create_steered_service` (a VDIR
service with an edited latent), the registry builds what is chosen by model id: the
damage detector (:func:`create_detector`, :func:`create_detect_service`),
the old-photo inpainter (:func:`create_inpainter`) and the one-click old-photo pipeline
(:func:`create_old_photo_pipeline`, :func:`create_old_photo_service`).

The models folder is :func:`app.ml.loading.current_models_dir` (``PATINA_MODELS_DIR``
overrides it: tests, packaged installs).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import InvalidInputError
from app.ml.classical_services import CLASSICAL_SERVICES, DEFAULT_METHODS, TeleaInpainter
from app.ml.loading import current_models_dir, model_file
from app.ml.services.base import TASKS, ParamSpec, Service, ServiceInfo
from app.ml.services.old_photo import OldPhotoPipeline, OldPhotoService
from app.ml.services.specs import ARCH_SPECS

if TYPE_CHECKING:
    from app.ml.services.detect import Detector
    from app.ml.steering.edit import LatentEdit
    from app.ml.steering.service import SteeredService

_log = logging.getLogger(__name__)

ARCH_FACTORIES: dict[str, str] = {
    "vdir": "app.ml.services.vdir:VDIRService",
    "dlnet-inpaint": "app.ml.services.inpaint:InpaintService",
    "dlnet-sr": "app.ml.services.upscale:UpscaleService",
    "vdir-sr": "app.ml.services.upscale_blind:BlindUpscaleService",
    "damage-detector": "app.ml.services.detect:LearnedDetector",
}
DETECTOR_ID = "damage-detector"  # the learned damage detector of the old-photo pipeline
INPAINT_ID = "dlnet-inpaint"  # the learned inpainter of the old-photo pipeline
OLD_PHOTO_RESTORERS = (("vdir-old-photo", "old-photo"), ("vdir-denoise", "denoise"))
"""(model id, task) of the pipeline's restore stage, in order of preference."""
GRAIN_RESTORER = ("denoise", "vdir-real")  # (task, method) of its restore=grain stage


@dataclass(frozen=True)
class ModelEntry:
    """One learned model listed in ``models/manifest.json``.

    ``file`` is absolute (resolved against the manifest's folder); ``config`` is the
    architecture config, with an optional ``"scale"`` (upscaling factor). The user-facing
    parameters and description of a known architecture come from
    :data:`app.ml.services.specs.ARCH_SPECS` (what its service uses); other
    architectures may list them in ``config`` (``"params"`` as ParamSpec fields,
    ``"description"``).
    """

    id: str
    task: str
    method: str
    arch: str
    file: str
    title: str
    config: dict[str, Any]
    card: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    default: bool = True  # False: listed, but not chosen when no method is given
    est_note: str = ""  # a caveat shown with the EST readout (e.g. "does not track quality")
    preview: str = ""  # weights of a quicker restorer for window previews (absolute; "": none)
    steer_noise: str = "gaussian"  # noise of the latent strength axis (latent_edit.noisier)
    route: str = ""  # weights of a pathfinder routing regions full/quick (absolute; "": none)

    @property
    def info(self) -> ServiceInfo:
        """The service description, built without importing the model code."""
        params, description = ARCH_SPECS.get(self.arch) or self._listed_specs()
        return ServiceInfo(
            task=self.task,
            method=self.method,
            title=self.title or self.id,
            description=description or f"Learned model {self.id}.",
            scale=int(self.config.get("scale", 1) or 1),
            uses_mask=self.task == "inpaint",
            learned=True,
            params=params,
        )

    def _listed_specs(self) -> tuple[tuple[ParamSpec, ...], str]:
        """(params, description) as listed in the manifest's ``config``."""
        specs = self.config.get("params", [])
        params = (
            tuple(_param_spec(s) for s in specs if isinstance(s, Mapping))
            if isinstance(specs, list)
            else ()
        )
        return params, str(self.config.get("description", ""))


def _param_spec(spec: Mapping[str, Any]) -> ParamSpec:
    """A ParamSpec from its manifest dict (``choices`` as a list)."""
    fields = dict(spec)
    fields["choices"] = tuple(fields.get("choices", ()))
    return ParamSpec(**fields)


# ---------------------------------------------------------------------- the manifest


def _entry(raw: Mapping[str, Any], folder: Path) -> ModelEntry:
    """The ModelEntry of one manifest dict (KeyError/TypeError/ValueError when malformed)."""
    config = raw.get("config") or {}
    return ModelEntry(
        id=str(raw["id"]),
        task=str(raw["task"]),
        method=str(raw.get("method") or raw["arch"]),
        arch=str(raw["arch"]),
        file=model_file(folder, raw["file"]),
        title=str(raw.get("title", "")),
        config=dict(config) if isinstance(config, Mapping) else {"value": config},
        card=str(raw.get("card", "")),
        metrics=dict(raw.get("metrics") or {}),
        default=bool(raw.get("default", True)),
        est_note=str(raw.get("est_note", "")),
        steer_noise=str(raw.get("steer_noise", "gaussian")),
        preview=model_file(folder, raw["preview"]) if raw.get("preview") else "",
        route=model_file(folder, raw["route"]) if raw.get("route") else "",
    )


def load_manifest(models_dir: Path | None = None) -> list[ModelEntry]:
    """The models listed in ``manifest.json`` whose weights file exists, in manifest order.

    ``models_dir`` defaults to :func:`~app.ml.loading.current_models_dir`. A missing
    manifest gives []; an unreadable one, a malformed entry or a missing weights file is
    logged as a warning and skipped.
    """
    folder = Path(models_dir) if models_dir is not None else current_models_dir()
    path = folder / "manifest.json"
    if not path.is_file():
        return []
    try:
        raw_models = json.loads(path.read_text(encoding="utf-8")).get("models", [])
    except (OSError, ValueError, AttributeError) as err:
        _log.warning("cannot read %s: %s", path, err)
        return []
    entries = []
    for raw in raw_models:
        try:
            entry = _entry(raw, folder)
        except (KeyError, TypeError, ValueError) as err:
            _log.warning("skipping a malformed entry of %s: %r", path, err)
            continue
        if not Path(entry.file).is_file():
            _log.warning("skipping model %s: weights file %s is missing", entry.id, entry.file)
            continue
        entries.append(entry)
    return entries


def find_model(model_id: str, models_dir: Path | None = None) -> ModelEntry | None:
    """The listed model ``model_id`` (any task or architecture) whose weights exist, or None."""
    return next((e for e in load_manifest(models_dir) if e.id == model_id), None)


def list_models(task: str | None = None) -> list[ModelEntry]:
    """Learned models with a known architecture (optionally of one ``task``)."""
    return [
        e
        for e in load_manifest()
        if e.arch in ARCH_FACTORIES and e.task in TASKS and task in (None, e.task)
    ]


def list_services(task: str | None = None) -> list[ServiceInfo]:
    """Every service (of ``task`` if given): learned models first, then classical ones."""
    learned = [e.info for e in list_models(task)]
    classical = [c.info for c in CLASSICAL_SERVICES if task in (None, c.info.task)]
    return learned + classical


# ---------------------------------------------------------------------- services


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def default_method(task: str) -> str:
    """The method used when none is given: the first learned model of ``task`` listed
    without ``"default": false``, else the classical default (denoise bilateral, deblock
    jpeg-filter, upscale bicubic, inpaint telea)."""
    _check_task(task)
    learned = [entry for entry in list_models(task) if entry.default]
    if learned:
        return learned[0].method
    if task not in DEFAULT_METHODS:
        raise InvalidInputError(f"no method is available for {task} (no model is installed)")
    return DEFAULT_METHODS[task]


def create_service(task: str, method: str | None = None, *, device: str = "auto") -> Service:
    """A ready service for ``task``/``method`` (``method`` may also be a model id).

    Classical services always run on the CPU; learned ones on ``device`` (auto, cpu,
    cuda, mps). Raises InvalidInputError naming the valid choices for an unknown task or
    method.
    """
    _check_task(task)
    method = method or default_method(task)
    for entry in list_models(task):
        if method in (entry.method, entry.id):
            return _build(entry, device)
    for cls in CLASSICAL_SERVICES:
        if cls.info.task == task and cls.info.method == method:
            return cls()
    valid = ", ".join(info.method for info in list_services(task)) or "none"
    raise InvalidInputError(f"unknown method {method!r} for {task}; valid methods: {valid}")


def _build(entry: ModelEntry, device: str) -> Any:
    """``Factory(entry, device)`` of the entry's architecture (its module imported now)."""
    module, _, name = ARCH_FACTORIES[entry.arch].partition(":")
    return getattr(importlib.import_module(module), name)(entry, device)


def _learned(model_id: str, device: str) -> Any:
    """The model ``model_id`` built by its factory, or None when it is not shipped."""
    entry = find_model(model_id)
    if entry is None or entry.arch not in ARCH_FACTORIES:
        return None
    return _build(entry, device)


# ---------------------------------------------------------------------- old-photo repair


def create_detector(device: str = "auto") -> Detector:
    """The learned damage detector when ``damage-detector`` is shipped, else the top-hat
    baseline (imports torch)."""
    from app.ml.services.detect import TopHatDetector

    detector: Detector | None = _learned(DETECTOR_ID, device)
    return detector if detector is not None else TopHatDetector()


def create_detect_service(device: str = "auto") -> Service:
    """:func:`create_detector` as a Service for the worker pool (a DetectService)."""
    from app.ml.services.detect import DetectService

    return DetectService(create_detector(device))


def create_inpainter(device: str = "auto") -> Service:
    """The learned inpainting model if shipped, else OpenCV Telea (8-bit fast marching)."""
    inpainter: Service | None = _learned(INPAINT_ID, device)
    return inpainter if inpainter is not None else TeleaInpainter()


def create_old_photo_pipeline(device: str = "auto") -> OldPhotoPipeline:
    """The old-photo stages, each the shipped model or its fallback: the learned detector
    (else top-hat), the learned inpainter (else Telea), the ``old-photo`` VDIR model (else
    the ``denoise`` one, else no restore stage), the default upscaler, and the real-noise
    model ``vdir-real`` for ``restore=grain`` (None when not listed)."""
    return OldPhotoPipeline(
        detector=create_detector(device),
        inpainter=create_inpainter(device),
        restorer=_old_photo_restorer(device),
        upscaler=_optional_service("upscale", None, device),
        grain_restorer=_optional_service(*GRAIN_RESTORER, device),
    )


def create_old_photo_service(device: str = "auto") -> OldPhotoService:
    """The one-click old-photo repair (``old-photo/pipeline``) as a Service."""
    return OldPhotoService(create_old_photo_pipeline(device))


def create_steered_service(
    base: Service, edit: LatentEdit | None = None, strength_map: Any = None, **crop: Any
) -> SteeredService:
    """``base`` (a VDIR-family service, e.g. from :func:`create_service`) with its latent
    edited by ``edit`` (and the painted ``strength_map``) before its restorer runs;
    ``crop``: SteeredService's ``origin``/``full_size``/``source_image``/``cache`` for a
    preview of a region. InvalidInputError when ``base`` has no latent code."""
    from app.ml.steering.service import SteeredService

    return SteeredService(base, edit, strength_map, **crop)  # type: ignore[arg-type]


def _optional_service(task: str, method: str | None, device: str) -> Service | None:
    """:func:`create_service`, or None when no such service is available."""
    try:
        return create_service(task, method, device=device)
    except InvalidInputError:
        return None


def _old_photo_restorer(device: str) -> Service | None:
    """The VDIR model of the first of :data:`OLD_PHOTO_RESTORERS` listed, else None."""
    ids = {e.id for e in list_models()}
    for model_id, task in OLD_PHOTO_RESTORERS:
        if model_id in ids:
            return _optional_service(task, "vdir", device)
    return None
