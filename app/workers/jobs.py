"""Jobs for the worker pool: what to run, and what comes back.

A :class:`Job` names a service (``task``/``method``, or a ready ``service`` object) and
its inputs. :meth:`WorkerPool.submit <app.workers.pool.WorkerPool.submit>` copies the
inputs (cropped to ``roi``), stamps ``generation`` and runs it on a worker thread; a
:class:`JobResult` reaches the ``finished`` signal.
"""

from __future__ import annotations

import itertools
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.errors import InvalidInputError, PatinaError
from app.ml.services.base import Service

_ids = itertools.count(1)

KINDS = ("preview", "render")


@dataclass(eq=False)
class Job:
    """One piece of work for the pool.

    Fields:
        task, method: the registry key of the service (``"denoise"``, ``"bilateral"``).
        image: float32 (H, W, 3) in [0, 1]. Copied (cropped to ``roi``) by ``submit``, so
            the caller may keep editing its array.
        mask: float32 (H, W) in [0, 1] (1 = fill), or None. Copied/cropped likewise.
        params: service parameters (validated by the service, in the worker).
        roi: ``(y0, x0, y1, x1)`` in image pixels, end-exclusive: run on this crop only
            (previews of the visible region). The result covers the roi (times the
            service's scale); place it at ``roi`` in the document. None: whole image.
        kind: ``"preview"`` or ``"render"`` (informational; channels decide staleness).
        channel: jobs on one channel supersede each other: submitting a job cancels the
            older jobs of its channel, whose results are then dropped (``stale``). Use
            separate channels for things that may run side by side (e.g. "preview" and
            "render").
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``; resolved at submit.
        tile: tile size in pixels passed to ``Service.run``.
        service: a ready Service instance to use (tests inject fakes here); when None the
            worker thread calls ``registry.create_service(task, method, device=...)``.
        id: unique, assigned on creation. generation: set by ``submit`` (per channel,
            increasing).
    """

    task: str
    method: str
    image: np.ndarray
    mask: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    roi: tuple[int, int, int, int] | None = None
    kind: str = "render"
    channel: str = "restore"
    device: str = "auto"
    tile: int = 512
    service: Service | None = None
    id: int = field(default_factory=lambda: next(_ids))
    generation: int = 0

    def prepare(self) -> None:
        """Validate ``roi`` and replace ``image``/``mask`` by private copies of the crop.

        Called by ``submit`` on the GUI thread; raises InvalidInputError for a bad roi.
        """
        if self.kind not in KINDS:
            raise InvalidInputError(
                f"job kind must be one of {', '.join(KINDS)}, not {self.kind!r}"
            )
        image = np.asarray(self.image)
        if image.ndim < 2:
            raise InvalidInputError(f"expected an image array (H, W, 3), got shape {image.shape}")
        y0, x0, y1, x1 = self.roi if self.roi is not None else (0, 0, *image.shape[:2])
        h, w = image.shape[:2]
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            raise InvalidInputError(f"the region {self.roi} is not inside the {w}x{h} image")
        self.image = np.array(image[y0:y1, x0:x1], copy=True)
        if self.mask is not None:
            self.mask = np.array(np.asarray(self.mask)[y0:y1, x0:x1], copy=True)
        self.params = dict(self.params)


@dataclass(eq=False)
class JobResult:
    """What a finished job produced.

    ``pixels``: float32 (h*s, w*s, 3) in [0, 1], covering ``job.roi`` (or the whole
    image). ``elapsed_s``: wall time on the worker, seconds. ``extra``: ``"device"`` (the
    resolved device), ``"tiles"`` (tiles processed), ``"layers"`` (name -> float32 map,
    e.g. latents, taken from the service's ``extra_layers`` attribute after the run when
    it has one; ready for ``Document.set_result(extra_layers=...)``), ``"note"`` (the
    service's ``run_note`` after the run, e.g. the blur an upscaler estimated; "" if none).

    ``stages``: the intermediate outputs of a multi-stage service (the old-photo
    pipeline), taken from its ``extra_stages`` attribute after the run, in the order
    they were made; empty for single-stage services. Each is a dict ``{"stage": name,
    "kind": "probability" | "mask" | "image", "data": float32 array, "entry": recipe
    entry or None}`` (see ``app.ml.services.old_photo.OldPhotoResult.stages``); the last
    "image" stage is ``pixels``.
    """

    job: Job
    pixels: np.ndarray
    elapsed_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)


def describe_error(err: BaseException) -> str:
    """A one-line message for the user: PatinaError as-is, out-of-memory explained."""
    if isinstance(err, PatinaError):
        return str(err)
    text = str(err).strip()
    if isinstance(err, MemoryError):
        return "Out of memory: try a smaller region, a smaller tile size, or close other documents"
    if "out of memory" in text.lower():
        return "Out of GPU memory: try a smaller tile size or the CPU device"
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def format_details(err: BaseException) -> str:
    """The full traceback text of ``err`` (for a "Details" box to copy)."""
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))
