"""The explicit list of restoration services: classical ones and the learned models shipped.

Classical services come from :mod:`app.ml.classical`. Learned models are listed in
``models/manifest.json`` (``{"models": [{id, task, method, arch, file, title, config, card,
metrics}, ...]}``); each names an architecture whose service factory is in
:data:`ARCH_FACTORIES` as ``"module:Class"``, imported only when a model is created, so
listing services (CLI ``info``, the GUI's method menus) never imports torch. A factory is
called as ``Factory(entry, device)`` and returns a :class:`Service`.

``PATINA_MODELS_DIR`` overrides the models folder (tests, packaged installs).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError
from app.ml.classical import CLASSICAL_SERVICES, DEFAULT_METHODS
from app.ml.services.base import TASKS, ParamSpec, Service, ServiceInfo
from app.ml.services.specs import ARCH_SPECS

_log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODELS_ENV = "PATINA_MODELS_DIR"
ARCH_FACTORIES: dict[str, str] = {
    "vdir": "app.ml.services.vdir:VDIRService",
    "dlnet-inpaint": "app.ml.services.inpaint:InpaintService",
    "dlnet-sr": "app.ml.services.upscale:UpscaleService",
}


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


def current_models_dir() -> Path:
    """The models folder: ``$PATINA_MODELS_DIR`` if set, else ``<repo>/models``."""
    override = os.environ.get(MODELS_ENV)
    return Path(override) if override else MODELS_DIR


def _entry(raw: Mapping[str, Any], folder: Path) -> ModelEntry:
    config = raw.get("config") or {}
    return ModelEntry(
        id=str(raw["id"]),
        task=str(raw["task"]),
        method=str(raw.get("method") or raw["arch"]),
        arch=str(raw["arch"]),
        file=_model_file(folder, raw["file"]),
        title=str(raw.get("title", "")),
        config=dict(config) if isinstance(config, Mapping) else {"value": config},
        card=str(raw.get("card", "")),
        metrics=dict(raw.get("metrics") or {}),
        default=bool(raw.get("default", True)),
        est_note=str(raw.get("est_note", "")),
        steer_noise=str(raw.get("steer_noise", "gaussian")),
        preview=_model_file(folder, raw["preview"]) if raw.get("preview") else "",
        route=_model_file(folder, raw["route"]) if raw.get("route") else "",
    )


def _model_file(folder: Path, name: object) -> str:
    """``folder / name``; ValueError when ``name`` is absolute or climbs out with ``..``:
    a manifest names only files inside its own models folder."""
    text, base = str(name), os.path.normpath(folder)
    path = os.path.normpath(folder / text)
    if os.path.isabs(text) or os.path.commonpath([path, base]) != base:
        raise ValueError(f"the file {text!r} is outside the models folder")
    return path


def load_manifest(models_dir: Path | None = None) -> list[ModelEntry]:
    """The models listed in ``manifest.json`` whose weights file exists, in manifest order.

    A missing manifest gives []; an unreadable one, a malformed entry or a missing weights
    file is logged as a warning and skipped.
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
            return _factory(entry.arch)(entry, device)
    for cls in CLASSICAL_SERVICES:
        if cls.info.task == task and cls.info.method == method:
            return cls()
    valid = ", ".join(info.method for info in list_services(task)) or "none"
    raise InvalidInputError(f"unknown method {method!r} for {task}; valid methods: {valid}")


def _factory(arch: str) -> Any:
    """The class named by ARCH_FACTORIES[arch], imported now."""
    module, _, name = ARCH_FACTORIES[arch].partition(":")
    return getattr(importlib.import_module(module), name)
