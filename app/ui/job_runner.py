"""JobRunner: the window's one path to the worker pool; lands results in the document.

(:mod:`app.workers.jobs` defines what a job *is*; this module decides, for the open
document, what to submit and what to do with what comes back.) Every controller submits
through it: restorations with :meth:`JobRunner.preview` / :meth:`JobRunner.render`, other
work (damage detection) with :meth:`JobRunner.run`, whose result goes to a callback.

Preview jobs cover the visible region (plus a margin, cropped off again) on channel
"preview" — a newer preview makes older ones stale, and a late result whose id is not
the newest preview's is ignored. Results go through ``Document.set_result`` (undoable);
consecutive previews replace each other's undo step instead of piling up, and a render
replaces the preview before it. A render of a multi-stage service (the old-photo pipeline:
``JobResult.stages`` not empty) lands each stage as its own layer and undo step
(:func:`app.ui.stage_layers.land_stages`). Failures are reported with a message and
details; the document is never touched by a failed job.

Services the registry does not create (the old-photo pipeline) come from
:attr:`JobRunner.factories`, keyed ``"task/method"``. ``record`` (preview/render): the
parameters written to the recipe entry when they differ from the service's (a steered
run records its latent edit; the job carries it inside its service).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.errors import PatinaError
from app.ml.steering.edit import CROP_ALIGN
from app.ui.stage_layers import land_stages
from app.workers.jobs import Job
from app.workers.pool import WorkerPool

PREVIEW_MARGIN = 16
Rect = tuple[int, int, int, int]


def expand(roi: Rect, margin: int, size: tuple[int, int]) -> Rect:
    """``roi`` (y0, x0, y1, x1) grown by ``margin`` px, clipped to ``size`` (h, w)."""
    h, w = size
    y0, x0, y1, x1 = roi
    return max(0, y0 - margin), max(0, x0 - margin), min(h, y1 + margin), min(w, x1 + margin)


def upsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer ``scale`` (the preview's backdrop)."""
    if scale == 1:
        return image.copy()
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


class JobRunner(QObject):
    """Submits preview/render jobs for the current document and applies their results."""

    busy_changed = Signal(bool)
    progress = Signal(float, str)
    result_applied = Signal(str)  # "preview" | "render"
    stages_applied = Signal(list)  # stage names a multi-stage render landed, in order
    failed = Signal(str, str)  # message, details
    status = Signal(str)

    def __init__(self, pool: WorkerPool, document: Any = None, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self.doc = document
        self.service_override: Any = None  # tests inject a Service instance here
        # "task/method" -> () -> Service, for services the registry does not create;
        # called on the GUI thread when a job is submitted
        self.factories: dict[str, Callable[[], Any]] = {}
        self._jobs: dict[Any, dict[str, Any]] = {}
        self._latest_preview: Any = None
        self._render: Any = None
        self._preview_step: tuple[int, str] | None = None
        pool.progress.connect(self._on_progress)
        pool.finished.connect(self._on_finished)
        pool.failed.connect(self._on_failed)
        pool.cancelled.connect(self._on_cancelled)
        pool.stale.connect(self._on_stale)

    # -- requests ------------------------------------------------------------------
    def set_document(self, doc: Any) -> None:
        """Switch documents: running jobs are cancelled, their results dropped."""
        self.cancel_all()
        self.doc = doc
        self._preview_step = None

    def preview(
        self,
        task: str,
        method: str,
        params: dict[str, Any],
        roi: Rect | None,
        *,
        service_for: Callable[[Rect], Any] | None = None,
        align: int = CROP_ALIGN,
        overlay: bool = False,
        record: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``task/method`` on the visible region ``roi`` (whole image when None).

        ``service_for(box)``, when given, supplies the Service for the crop ``box`` that
        will run (e.g. a steered VDIR that needs to know where the crop sits); ``align``
        rounds the crop's top-left corner down to a multiple: the default keeps JPEG's 8x8
        block grid, which deblockers (and latent models, on a multiple of 4) rely on.
        With ``overlay`` the preview is pasted over the current result (when it has the
        same size) instead of over the original: a partial preview keeps what was shown.
        """
        if self.doc is None:
            return None
        h, w = self.doc.size
        roi = roi or (0, 0, h, w)
        box = expand(roi, PREVIEW_MARGIN, (h, w))
        y0, x0, y1, x1 = box
        y0, x0 = y0 - y0 % align, x0 - x0 % align
        box = (y0, x0, y1, x1)
        image = self.doc.original.data[y0:y1, x0:x1].copy()
        mask = self._mask(box)
        service = service_for(box) if service_for is not None else None
        job_id = self._submit(task, method, params, image, mask, "preview", "preview", service,
                              record)  # fmt: skip
        if job_id is None:
            return None
        self._latest_preview = job_id
        self._jobs[job_id].update(box=box, roi=roi, overlay=overlay)
        return job_id

    def render(
        self,
        task: str,
        method: str,
        params: dict[str, Any],
        *,
        service: Any = None,
        record: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``task/method`` (or ``service``) on the whole image (progress, cancellable)."""
        if self.doc is None:
            return None
        self.pool.cancel_channel("preview")
        self._latest_preview = None
        if self._render is not None:
            self.pool.cancel(self._render)
        image = self.doc.original.data.copy()
        h, w = self.doc.size
        mask = self._mask((0, 0, h, w))
        job_id = self._submit(task, method, params, image, mask, "render", "render", service,
                              record)  # fmt: skip
        if job_id is None:
            return None
        self._render = job_id
        self.busy_changed.emit(True)
        self.progress.emit(0.0, f"Rendering {task} ({method})…")
        return job_id

    def run(
        self,
        job: Job,
        on_done: Callable[[Any], None],
        on_failed: Callable[[str, str], None],
    ) -> Any:
        """Submit ``job`` (not a restoration) for the current document; returns its id, or
        None when there is no document or the pool refused it (``on_failed`` is told).

        ``on_done(result)`` / ``on_failed(message, details)`` run on the GUI thread; a
        result that arrives after the document changed (or a cancelled, stale job) is
        dropped. The document is not touched here: the callback lands the result.
        """
        if self.doc is None:
            return None
        try:
            job_id = self.pool.submit(job)
        except (PatinaError, RuntimeError, OSError, ImportError) as err:
            on_failed(str(err), "")
            return None
        self._jobs[job_id] = {"doc": self.doc, "on_done": on_done, "on_failed": on_failed}
        return job_id

    def _mask(self, box: Rect) -> np.ndarray | None:
        layer = self.doc.mask_layer(create=False)
        if layer is None:
            return None
        y0, x0, y1, x1 = box
        return layer.data[y0:y1, x0:x1].copy()

    def _submit(
        self,
        task: str,
        method: str,
        params: dict[str, Any],
        image: np.ndarray,
        mask: np.ndarray | None,
        kind: str,
        channel: str,
        service: Any = None,
        record: dict[str, Any] | None = None,
    ) -> Any:
        try:
            job = Job(
                task=task,
                method=method,
                image=image,
                mask=mask,
                params=dict(params),
                kind=kind,
                channel=channel,
                service=service if service is not None else self._service(task, method),
            )
            job_id = self.pool.submit(job)
        except (PatinaError, RuntimeError, OSError, ImportError) as err:
            self.failed.emit(str(err), "")
            return None
        recorded = params if record is None else record
        self._jobs[job_id] = {"doc": self.doc, "task": task, "method": method, "params": recorded}
        return job_id

    def _service(self, task: str, method: str) -> Any:
        """The injected service, else one from :attr:`factories`, else None (registry)."""
        if self.service_override is not None:
            return self.service_override
        factory = self.factories.get(f"{task}/{method}")
        return factory() if factory is not None else None

    def cancel_render(self) -> None:
        """Stop the running render (between two tiles)."""
        if self._render is not None:
            self.pool.cancel(self._render)

    def cancel_all(self) -> None:
        """Cancel this runner's jobs; others on the shared pool (a batch, helpers) go on."""
        for job_id in list(self._jobs):
            self.pool.cancel(job_id)
        self._latest_preview = None

    def is_rendering(self) -> bool:
        return self._render is not None

    # -- results -------------------------------------------------------------------
    def _on_progress(self, job_id: Any, report: Any) -> None:
        if job_id == self._render:
            text = f"{report.stage or 'Rendering'}: tile {report.done}/{report.total}"
            self.progress.emit(float(report.fraction), text)

    def _on_finished(self, job_id: Any, result: Any) -> None:
        info = self._jobs.pop(job_id, None)
        if info is None or info["doc"] is not self.doc or self.doc is None:
            return
        if "on_done" in info:
            info["on_done"](result)
        elif job_id == self._render:
            self._finish_render(info, result)
        elif job_id == self._latest_preview:
            self._latest_preview = None
            self._finish_preview(info, result)

    def _finish_render(self, info: dict[str, Any], result: Any) -> None:
        self._render = None
        self._drop_preview_step()
        stages = getattr(result, "stages", None) or []
        landed: list[str] = []
        if stages:
            landed = land_stages(self.doc, stages, task=info["task"], method=info["method"],
                                 params=dict(info["params"]))  # fmt: skip
        else:
            self._apply(info, np.asarray(result.pixels, dtype=np.float32), result)
        self._preview_step = None
        self.busy_changed.emit(False)
        note = str((getattr(result, "extra", None) or {}).get("note", "") or "")
        self.progress.emit(
            1.0, f"Rendered in {result.elapsed_s:.1f} s" + (f"; {note}" if note else "")
        )
        if landed:
            self.stages_applied.emit(landed)
        self.result_applied.emit("render")

    def _finish_preview(self, info: dict[str, Any], result: Any) -> None:
        pixels = np.asarray(result.pixels, dtype=np.float32)
        by0, bx0, by1, bx1 = info["box"]
        scale = max(1, round(pixels.shape[0] / max(1, by1 - by0)))
        full = self._backdrop(scale, info)
        y0, x0, y1, x1 = info["roi"]
        full[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = pixels[
            (y0 - by0) * scale : (y1 - by0) * scale, (x0 - bx0) * scale : (x1 - bx0) * scale
        ]
        self._drop_preview_step()
        self._apply(info, full, result, preview=True)
        history = self.doc.history
        self._preview_step = (len(history.undo_texts), history.undo_text)
        self.status.emit(f"Preview in {result.elapsed_s:.2f} s")
        self.result_applied.emit("preview")

    def _backdrop(self, scale: int, info: dict[str, Any]) -> np.ndarray:
        """What a preview is pasted on: the original, or with ``overlay`` the current result
        when it came from the same task/method at the same size."""
        current = self.doc.result_layer()
        h, w = self.doc.size
        same = current is not None and all(
            current.meta.get(k) == info[k] for k in ("task", "method")
        )
        if info.get("overlay") and same and current.data.shape[:2] == (h * scale, w * scale):
            return np.array(current.data, copy=True)
        return upsample(self.doc.original.data, scale)

    def _apply(
        self, info: dict[str, Any], pixels: np.ndarray, result: Any, preview: bool = False
    ) -> None:
        params = dict(info["params"])
        if preview:
            params["preview"] = True
        extra = getattr(result, "extra", None) or {}
        # latent maps of a preview crop do not cover the image: only renders keep them
        layers = {} if preview else (extra.get("layers") or {})
        latents = {k: np.asarray(v, np.float32) for k, v in layers.items() if _is_map(v)}
        self.doc.set_result(
            pixels, task=info["task"], method=info["method"], params=params, extra_layers=latents
        )

    def _drop_preview_step(self) -> None:
        """Undo the last preview if it is still the newest undo step."""
        step, self._preview_step = self._preview_step, None
        history = self.doc.history if self.doc is not None else None
        if step is None or history is None:
            return
        if (len(history.undo_texts), history.undo_text) == step and history.can_undo:
            history.undo()

    def _on_failed(self, job_id: Any, message: str, details: str) -> None:
        info = self._jobs.pop(job_id, None)
        if job_id == self._render:
            self._render = None
            self.busy_changed.emit(False)
            self.progress.emit(0.0, "Render failed")
        if job_id == self._latest_preview:
            self._latest_preview = None
        if info is not None and "on_failed" in info:
            if info["doc"] is self.doc:
                info["on_failed"](message, details)
        elif info is not None:
            self.failed.emit(message, details)

    def _on_cancelled(self, job_id: Any) -> None:
        self._jobs.pop(job_id, None)
        if job_id == self._render:
            self._render = None
            self.busy_changed.emit(False)
            self.progress.emit(0.0, "Cancelled")

    def _on_stale(self, job_id: Any) -> None:
        self._jobs.pop(job_id, None)


def _is_map(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 2
