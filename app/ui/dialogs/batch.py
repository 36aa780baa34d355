"""The Batch dialog (File > Batch…): a folder in, a folder out, with the batch engine.

The dialog collects folders and a recipe (task, method, output format; a recipe file can
be loaded or saved, and the window may pass its current settings), then runs
:func:`app.batch.runner.run_batch` as one long :class:`~app.workers.function_job.FunctionJob`
on the worker pool, so the window never freezes and the batch obeys the pool's
one-GPU-job rule: an interactive restore on the GPU waits for the batch, and the other way
round. Events come back through the pool's ``progress`` signal (GUI thread): a progress bar
with ETA, and a table of the most recent files with their status, time and an
after-thumbnail. Pause holds the batch between tiles, Resume goes on, Cancel stops after
the files in flight (a second Cancel stops at once). Everything is in the journal in the
output folder, so a cancelled batch continues where it stopped when started again with
the same folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.batch.inputs import Source, resolve_source
from app.batch.pipeline import Control
from app.batch.recipe import FORMATS, Recipe
from app.batch.runner import (
    BatchOptions,
    BatchProgress,
    BatchStarted,
    FileFinished,
    ServiceFactory,
    Summary,
    run_batch,
)
from app.core.errors import PatinaError
from app.ml.services.base import TASKS
from app.workers.function_job import FunctionJob, JobContext
from app.workers.pool import WorkerPool

MAX_ROWS = 500  # the table keeps the most recent files only
DEFAULT_METHOD = "(default)"


def format_eta(seconds: float | None) -> str:
    """``1:02:03`` / ``4:05`` / ``--`` for unknown."""
    if seconds is None:
        return "--"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class BatchDialog(QDialog):
    """Choose folders and a recipe, run the batch, watch, pause, resume, cancel.

    Signals (GUI thread): ``progressed(BatchProgress)``, ``file_finished(FileFinished)``,
    ``batch_finished(Summary)``, ``batch_failed(str)``, ``state_changed(str)`` with
    states ``idle``, ``running``, ``paused``, ``stopping``, ``finished``, ``stopped``,
    ``error``. ``factory`` replaces the model registry (tests).

    ``pool``: the window's :class:`WorkerPool`, so the batch queues with its restorations;
    without one the dialog makes its own (the GPU gate still allows one GPU job at a time
    across pools). Every method is for the GUI thread; the batch runs on a pool thread.
    """

    progressed = Signal(object)
    file_finished = Signal(object)
    batch_finished = Signal(object)
    batch_failed = Signal(str)
    state_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        recipe: Recipe | None = None,
        factory: ServiceFactory | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch restore")
        self.setMinimumSize(720, 560)
        self.factory = factory
        self.base_recipe = recipe or Recipe("denoise")
        self.control: Control | None = None
        self.summary: Summary | None = None
        self.state = "idle"
        self._job: int | None = None  # the batch's job id while it runs on the pool
        self.pool = pool if pool is not None else WorkerPool(self, cpu_threads=1)
        self._connect_pool()
        self._build()
        self.apply_recipe(self.base_recipe)
        self._set_state("idle")

    def _connect_pool(self) -> None:
        self.pool.progress.connect(self._on_pool_progress)
        self.pool.finished.connect(self._on_pool_finished)
        self.pool.failed.connect(self._on_pool_failed)
        self.pool.cancelled.connect(self._on_pool_cancelled)
        self.pool.stale.connect(self._on_pool_cancelled)

    # ----------------------------------------------------------------- building

    def _build(self) -> None:
        self.input_edit = QLineEdit(self)
        self.input_edit.setPlaceholderText("folder, glob pattern or .txt list of files")
        self.output_edit = QLineEdit(self)
        self.output_edit.setPlaceholderText("output folder (mirrors the input tree)")
        self.recursive = QCheckBox("Include sub-folders", self)
        self.recursive.setChecked(True)
        self.task_combo = QComboBox(self)
        self.task_combo.addItems(list(_tasks()))
        self.task_combo.currentTextChanged.connect(self._fill_methods)
        self.method_combo = QComboBox(self)
        self.format_combo = QComboBox(self)
        self.format_combo.addItems(list(FORMATS))
        self.workers = QSpinBox(self)
        self.workers.setRange(1, 64)
        form = QFormLayout()
        form.addRow("Input", self._with_browse(self.input_edit, self._browse_input))
        form.addRow("Output", self._with_browse(self.output_edit, self._browse_output))
        form.addRow("", self.recursive)
        form.addRow("Task", self.task_combo)
        form.addRow("Method", self.method_combo)
        form.addRow("Output format", self.format_combo)
        form.addRow("Parallel files (CPU)", self.workers)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(self._recipe_row())
        layout.addWidget(self._build_table(), 1)
        self.progress = QProgressBar(self)
        self.eta_label = QLabel("", self)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta_label)
        layout.addWidget(self.status_label)
        layout.addLayout(self._button_row())

    def _with_browse(self, edit: QLineEdit, slot: Any) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse…", self)
        button.clicked.connect(slot)
        row.addWidget(button)
        return row

    def _recipe_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.load_recipe_button = QPushButton("Load Recipe…", self)
        self.load_recipe_button.clicked.connect(self._load_recipe)
        self.save_recipe_button = QPushButton("Save Recipe…", self)
        self.save_recipe_button.clicked.connect(self._save_recipe)
        row.addWidget(self.load_recipe_button)
        row.addWidget(self.save_recipe_button)
        row.addStretch(1)
        return row

    def _build_table(self) -> QTableWidget:
        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["After", "File", "Status", "Seconds"])
        self.table.setIconSize(QSize(64, 64))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(52)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        return self.table

    def _button_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.start_button = QPushButton("Start", self)
        self.pause_button = QPushButton("Pause", self)
        self.resume_button = QPushButton("Resume", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.close_button = QPushButton("Close", self)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        for button in (self.start_button, self.pause_button, self.resume_button,
                       self.cancel_button):  # fmt: skip
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.close_button)
        return row

    # ------------------------------------------------------------------- recipe

    def _fill_methods(self, task: str) -> None:
        self.method_combo.clear()
        self.method_combo.addItem(DEFAULT_METHOD)
        for method in _methods(task):
            self.method_combo.addItem(method)

    def apply_recipe(self, recipe: Recipe) -> None:
        """Show ``recipe`` in the controls (it becomes the base for parameters)."""
        self.base_recipe = recipe
        if self.task_combo.findText(recipe.task) < 0:
            self.task_combo.addItem(recipe.task)
        self.task_combo.setCurrentText(recipe.task)
        self._fill_methods(recipe.task)
        if recipe.method and self.method_combo.findText(recipe.method) < 0:
            self.method_combo.addItem(recipe.method)
        self.method_combo.setCurrentText(recipe.method or DEFAULT_METHOD)
        self.format_combo.setCurrentText(recipe.output_format)

    def recipe(self) -> Recipe:
        """The recipe the controls describe (parameters kept from the base recipe when
        task and method are unchanged)."""
        task = self.task_combo.currentText()
        method_text = self.method_combo.currentText()
        method = None if method_text == DEFAULT_METHOD else method_text
        base = self.base_recipe
        same = (base.task, base.method) == (task, method)
        return Recipe(
            task, method, dict(base.params) if same else {}, base.tile, base.device,
            self.format_combo.currentText(), base.bit_depth, base.jpeg_quality, base.pattern,
        )  # fmt: skip

    def _load_recipe(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Load recipe", "", "Recipes (*.json)")
        if name:
            try:
                self.apply_recipe(Recipe.load(name))
            except PatinaError as err:
                self._show_status(str(err))

    def _save_recipe(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save recipe", "recipe.json", "*.json")
        if name:
            try:
                self.recipe().save(name)
            except PatinaError as err:
                self._show_status(str(err))

    def _browse_input(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Input folder", self.input_edit.text())
        if folder:
            self.input_edit.setText(folder)

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Start (or continue) the batch as a job on the worker pool."""
        if self.is_running():
            return
        try:
            recipe = self.recipe()
            if not self.input_edit.text().strip() or not self.output_edit.text().strip():
                raise PatinaError("choose an input and an output folder")
            source = resolve_source(self.input_edit.text().strip(),
                                    recursive=self.recursive.isChecked())  # fmt: skip
            out_dir = Path(self.output_edit.text().strip())
        except PatinaError as err:
            self._on_error(str(err))
            return
        self.table.setRowCount(0)
        self.progress.setValue(0)
        self.summary = None
        self.control = Control()
        options = BatchOptions(workers=self.workers.value())
        job = batch_job(source, out_dir, recipe, options, self.factory, self.control)
        self._set_state("running")
        self._job = self.pool.submit(job)

    def pause(self) -> None:
        if self.control is not None and self.state == "running":
            self.control.pause()
            self._set_state("paused")
            self._show_status("paused: restorations wait at their next tile (Resume goes on)")

    def resume(self) -> None:
        if self.control is not None and self.state == "paused":
            self.control.resume()
            self._set_state("running")
            self._show_status("running")

    def cancel(self) -> None:
        """First: stop after the files in flight. Again: stop them between tiles."""
        if self.control is None or not self.is_running():
            return
        now = self.state == "stopping"
        self.control.stop(now=now)
        self._set_state("stopping")
        self._show_status("stopping now…" if now else "stopping after the files in flight…")

    def is_running(self) -> bool:
        """Whether the batch job is on the pool (queued, running or not yet reported)."""
        return self._job is not None

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the batch job ended (after a stop); its events and its end are
        delivered before this returns."""
        if self._job is not None:
            self.pool.wait_for(self._job, int(timeout * 1000))

    # ------------------------------------------------------------------- events

    def _on_pool_progress(self, job_id: int, event: object) -> None:
        if job_id == self._job:
            self._on_event(event)

    def _on_pool_finished(self, job_id: int, summary: Summary) -> None:
        if job_id == self._job:
            self._job = None
            self._finished(summary)

    def _on_pool_failed(self, job_id: int, message: str, details: str) -> None:
        if job_id == self._job:
            self._job = None
            self._on_error(message)

    def _on_pool_cancelled(self, job_id: int) -> None:
        """The pool itself stopped the batch (it is shutting down): the journal keeps it."""
        if job_id == self._job:
            self._job = None
            self._show_status("stopped (Start continues)")
            self._set_state("stopped")

    def _on_event(self, event: object) -> None:
        if isinstance(event, BatchStarted):
            self.progress.setRange(0, max(1, event.todo))
            done = event.counts.get("done", 0)
            self._show_status(f"{event.todo} to do, {done} already done ({event.device})")
        elif isinstance(event, FileFinished):
            self._add_row(event)
            self.file_finished.emit(event)
        elif isinstance(event, BatchProgress):
            self._show_progress(event)
            self.progressed.emit(event)
        # the Summary event is handled as the job's result (_on_pool_finished)

    def _show_progress(self, p: BatchProgress) -> None:
        self.progress.setValue(p.finished)
        failed = f" · {p.failed} failed" if p.failed else ""
        self.eta_label.setText(f"{p.finished} of {p.todo} · {format_eta(p.eta)} left{failed}")

    def _add_row(self, event: FileFinished) -> None:
        outcome = event.outcome
        self.table.insertRow(0)
        icon_item = QTableWidgetItem()
        if outcome.thumb_after:
            pixmap = QPixmap()
            pixmap.loadFromData(outcome.thumb_after)
            icon_item.setIcon(QIcon(pixmap))
        self.table.setItem(0, 0, icon_item)
        self.table.setItem(0, 1, QTableWidgetItem(event.rel))
        status = QTableWidgetItem(outcome.status)
        if outcome.error:
            status.setToolTip(outcome.error)
        self.table.setItem(0, 2, status)
        seconds = f"{outcome.seconds:.2f}" if outcome.status == "done" else ""
        self.table.setItem(0, 3, QTableWidgetItem(seconds))
        if self.table.rowCount() > MAX_ROWS:
            self.table.removeRow(self.table.rowCount() - 1)

    def _finished(self, summary: Summary) -> None:
        self.summary = summary
        counts = summary.counts
        text = (f"{counts.get('done', 0)} done, {counts.get('failed', 0)} failed, "
                f"{counts.get('skipped', 0)} skipped; journal: {summary.journal}")  # fmt: skip
        if summary.interrupted:
            text = f"stopped: {counts.get('pending', 0)} files left (Start continues). " + text
        self._show_status(text)
        self._set_state("stopped" if summary.interrupted else "finished")
        self.batch_finished.emit(summary)

    def _on_error(self, message: str) -> None:
        self._show_status(message)
        self._set_state("error")
        self.batch_failed.emit(message)

    def _show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _set_state(self, state: str) -> None:
        self.state = state
        running = state in ("running", "paused", "stopping")
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "paused")
        self.cancel_button.setEnabled(running)
        for widget in (self.input_edit, self.output_edit, self.task_combo, self.method_combo,
                       self.format_combo, self.workers, self.recursive,
                       self.load_recipe_button):  # fmt: skip
            widget.setEnabled(not running)
        self.state_changed.emit(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Closing stops a running batch at once (nothing is lost: see the journal)."""
        if self.control is not None and self.is_running():
            self.control.stop(now=True)
            self.wait()
        super().closeEvent(event)


def batch_job(
    source: Source,
    out_dir: Path,
    recipe: Recipe,
    options: BatchOptions,
    factory: ServiceFactory | None,
    control: Control,
) -> FunctionJob:
    """The batch as a pool job: ``run_batch`` on a worker thread, its events as progress.

    The job's device follows the recipe's model, so a GPU batch holds the GPU for its
    whole run. A pool cancel (shutdown) stops the batch at once through ``control``;
    the dialog's own Pause/Cancel use ``control`` directly. The job's result is the
    :class:`Summary`; an unexpected error fails it with "the batch stopped: …".
    """

    def work(ctx: JobContext) -> Summary:
        try:
            return run_batch(source, out_dir, recipe, options, factory=factory,
                             control=control, on_event=ctx.report)  # fmt: skip
        except PatinaError:
            raise
        except Exception as err:  # shown, never a crash of the window
            raise PatinaError(f"the batch stopped: {type(err).__name__}: {err}") from err

    def stop_now() -> None:
        control.stop(now=True)

    return FunctionJob(work, device=recipe.device, task=recipe.task,
                       method=recipe.method or "", on_cancel=stop_now)  # fmt: skip


def _tasks() -> tuple[str, ...]:
    """Tasks the registry offers a service for (every task if the registry is missing)."""
    try:
        from app.ml import registry

        offered = tuple(t for t in TASKS if registry.list_services(t))
    except Exception:  # noqa: BLE001 - a broken install still shows the dialog
        return TASKS
    return offered or TASKS


def _methods(task: str) -> list[str]:
    try:
        from app.ml import registry

        return [getattr(i, "info", i).method for i in registry.list_services(task)]
    except Exception:  # noqa: BLE001
        return []
