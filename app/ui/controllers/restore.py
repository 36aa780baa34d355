"""RestoreController: the Restore panel, and the previews and renders it asks for.

The panel chooses a service and its parameters; this controller turns Preview / Render /
Cancel into :class:`~app.ui.job_runner.JobRunner` requests and shows busy state, progress
and metrics. One run path: a request goes to the *runner* of the chosen method, which is
the latent controller when the method is steerable (it adds the latent edit and runs a
steered service) and the JobRunner otherwise; both take the same (task, method, params).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject

from app.ui.panels.restore import RestorePanel

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

Rect = tuple[int, int, int, int]
METRICS_INLINE_PIXELS = 4_000_000  # larger images compute PSNR/SSIM in the background


class Runner(Protocol):
    """What runs a Restore request: the JobRunner, or the latent controller for VDIR."""

    def preview(
        self, task: str, method: str, params: dict[str, Any], roi: Rect | None
    ) -> object: ...

    def render(self, task: str, method: str, params: dict[str, Any]) -> object: ...


class SteeringRunner(Runner, Protocol):
    """A Runner for some methods only (the steerable ones)."""

    def active(self) -> bool: ...


class RestoreController(QObject):
    """Owns the Restore panel of ``window``; runs its requests, reports back to it."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = RestorePanel(window)
        self.jobs = window.jobs
        self.steered: SteeringRunner | None = None  # the window sets the latent controller
        panel = self.panel
        panel.preview_requested.connect(self.preview)
        panel.render_requested.connect(self.render_full)
        panel.cancel_requested.connect(self.cancel_jobs)
        self.jobs.busy_changed.connect(self._on_busy)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.status.connect(panel.set_status)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.result_applied.connect(self._on_result)

    def set_document(self, doc: Any) -> None:
        self.panel.set_enabled_for(doc)

    # -- requests ------------------------------------------------------------------
    def _runner(self) -> Runner:
        steered = self.steered
        return steered if steered is not None and steered.active() else self.jobs

    def _choice(self) -> tuple[str, str, dict[str, Any]] | None:
        """The panel's (task, method, params) when a run may start, else None."""
        choice = self.panel.selection()
        if self.window.document is None or choice is None or self.window.closing:
            return None
        return choice

    def preview(self) -> None:
        """Preview the chosen method on the visible region."""
        choice = self._choice()
        if choice is None:
            return
        roi = self.window.area.view.visible_rect()
        self._runner().preview(*choice, roi)
        self.panel.set_status("Previewing the visible area…")

    def render_full(self) -> None:
        """Render the chosen method on the whole image."""
        choice = self._choice()
        if choice is not None:
            self._runner().render(*choice)

    def cancel_jobs(self) -> None:
        if self.window.editor.painting:
            return
        self.jobs.cancel_all()

    # -- reports -------------------------------------------------------------------
    def _on_busy(self, busy: bool) -> None:
        self.panel.set_busy(busy)
        self.window.status.set_progress(busy)
        self.window.action("cancel").setEnabled(busy)

    def _on_progress(self, fraction: float, text: str) -> None:
        self.panel.set_progress(fraction, text)
        self.window.status.set_progress(self.jobs.is_rendering(), fraction)

    def _on_failed(self, message: str, details: str) -> None:
        self.window.show_error("Restoration failed", message, details)

    def _on_result(self, kind: str) -> None:
        self.update_metrics()

    def update_metrics(self) -> None:
        """PSNR/SSIM of the result against the ground truth (hidden when either is missing)."""
        doc = self.window.document
        if doc is None or doc.ground_truth is None or doc.result_layer() is None:
            self.panel.set_metrics(None)
            return
        if doc.size[0] * doc.size[1] <= METRICS_INLINE_PIXELS:
            self.panel.set_metrics(doc.metrics())
            return

        def show(metrics: dict[str, float] | None) -> None:
            if doc is self.window.document:
                self.panel.set_metrics(metrics)

        self.window.background.run(doc.metrics, show, lambda message, details: None)
