"""`patina batch IN OUT --task T`: restore a folder (or glob, or list) into a mirrored folder.

Resumable and crash-safe (see :mod:`app.batch`): a journal in OUT records every file;
running the same command again continues where it stopped, does nothing when the batch
is finished, and redoes files whose input changed. Ctrl-C stops after the files in
flight; a second Ctrl-C stops at once (between tiles). Either way nothing is lost.

Exit codes: 0 every file done; 3 some files failed or were skipped (the report lists
why); 130 stopped by Ctrl-C (run again, or with --resume, to go on); 2 a user error.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from app.batch.inputs import resolve_source
from app.batch.journal import Journal
from app.batch.journal_fs import MODES as JOURNAL_MODES
from app.batch.pipeline import Control
from app.batch.recipe import FORMATS, Recipe
from app.batch.report import text_report, write_report
from app.batch.runner import (
    ENGINES,
    BatchOptions,
    BatchStarted,
    Event,
    FileFinished,
    ServiceFactory,
    Summary,
    journal_path,
    run_batch,
    typed_recipe,
)
from app.commands.common import (
    Subparsers,
    add_command,
    add_device_option,
    add_param_option,
    positive_int,
    stderr_is_terminal,
)
from app.commands.route import add_route_option
from app.core.errors import InvalidInputError
from app.ml.services.base import TASKS

NAME = "batch"
EXIT_FAILURES = 3
EXIT_INTERRUPTED = 130


def add_parser(subparsers: Subparsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``patina batch``."""
    p = add_command(
        subparsers, NAME, parents,
        help="restore every image of a folder into a mirrored folder (resumable)",
        epilog="IN is a folder, a quoted glob ('scans/**/*.tif') or a .txt list of files. "
        "Originals are never written; OUT mirrors IN's tree and holds the journal "
        "(patina-batch.sqlite). Running again continues the batch. Exit status: 0 all done, "
        "3 some files failed or were skipped, 130 interrupted. Example: patina batch scans/ "
        "clean/ --task denoise --recursive --report clean/report.html",
    )  # fmt: skip
    p.add_argument("input", metavar="IN", help="folder, glob pattern or .txt file list")
    p.add_argument("output", metavar="OUT", type=Path, help="output folder (created if needed)")
    p.add_argument("--task", choices=TASKS, help="what to do (or from --recipe / --resume)")
    p.add_argument("--method", help="method of the task (default: the task's default)")
    p.add_argument("--recipe", metavar="R.json", type=Path, help="recipe file to apply")
    p.add_argument("--save-recipe", metavar="R.json", type=Path, help="write the recipe used")
    p.add_argument("--sigma", type=float, help="noise level on the 0..255 scale")
    add_param_option(p, "a parameter of the method (repeatable)")
    add_route_option(p)
    p.add_argument(
        "--resume", action="store_true", help="continue the batch in OUT with its recipe"
    )
    p.add_argument("--recursive", "-r", action="store_true", help="include sub-folders of IN")
    p.add_argument("--pattern", help="output file name (default '{stem}_restored{ext}')")
    p.add_argument("--format", choices=tuple(FORMATS), help="output format (default: same)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), help="default: as the input")
    p.add_argument("--jpeg-quality", type=int, metavar="Q", help="JPEG output quality (95)")
    p.add_argument("--tile", type=positive_int, metavar="N", help="tile size (default 512)")
    add_device_option(p)
    p.set_defaults(device=None)
    p.add_argument(
        "--workers", type=positive_int, default=1, metavar="N",
        help="files restored in parallel on the CPU (a GPU takes one at a time; default 1)",
    )  # fmt: skip
    p.add_argument("--engine", choices=ENGINES, default="local", help="default: local")
    p.add_argument("--ray-address", metavar="ADDR", help="Ray cluster (default: $RAY_ADDRESS)")
    p.add_argument(
        "--journal-mode", choices=JOURNAL_MODES, default="auto",
        help="SQLite journal of OUT: auto (WAL on a local disk, a rollback journal on "
        "NFS/SMB/CephFS/FUSE), or force wal or delete (default: auto)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace files not made by OUT's batch")
    p.add_argument("--retry-failed", action="store_true", help="try failed files again")
    p.add_argument("--report", metavar="PATH", type=Path, help="write an HTML (or .txt) report")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, factory: ServiceFactory | None = None) -> int:
    """Run the batch with a progress bar and Ctrl-C handling; returns the exit code."""
    out_dir = Path(args.output)
    recipe = build_recipe(args, out_dir, factory)
    if args.save_recipe:
        recipe.save(args.save_recipe)
    source = resolve_source(args.input, recursive=args.recursive, exclude=[out_dir])
    options = BatchOptions(
        workers=args.workers, engine=args.engine, overwrite=args.overwrite,
        retry_failed=args.retry_failed, ray_address=args.ray_address,
        journal_mode=args.journal_mode,
    )  # fmt: skip
    control = Control()
    with interrupts(control), ProgressView(quiet=args.quiet) as view:
        summary = run_batch(source, out_dir, recipe, options, factory=factory,
                            control=control, on_event=view.event)  # fmt: skip
    return finish(summary, args)


def build_recipe(
    args: argparse.Namespace, out_dir: Path, factory: ServiceFactory | None = None
) -> Recipe:
    """The recipe from --resume (the journal's), --recipe, and the options given, its
    parameters typed by the method's ParamSpecs (the service comes from ``factory``)."""
    base = _journal_recipe(out_dir) if args.resume else None
    if base is not None:
        return _resume_recipe(base, args, factory)
    if args.resume and args.task is None and args.recipe is None:
        raise InvalidInputError(f"nothing to resume: {out_dir} holds no batch journal")
    if args.recipe is not None:
        base = Recipe.load(args.recipe)
    elif args.task is None:
        raise InvalidInputError(
            "say what to do: --task TASK or --recipe R.json (or --resume to continue a batch)"
        )
    else:
        base = Recipe(args.task)
    recipe = base.with_changes(**_overrides(args), params={**base.params, **_params(args)})
    return typed_recipe(recipe, factory)


def _journal_recipe(out_dir: Path) -> Recipe | None:
    path = journal_path(out_dir)
    if not path.is_file():
        return None
    journal = Journal.read_only(path)
    try:
        return journal.recipe()
    finally:
        journal.close()


def _resume_recipe(
    base: Recipe, args: argparse.Namespace, factory: ServiceFactory | None
) -> Recipe:
    """The journal's recipe with only run settings (tile, device) changed."""
    wanted = base.with_changes(**_overrides(args), params={**base.params, **_params(args)})
    wanted = typed_recipe(wanted, factory)
    if not wanted.same_outputs_as(base):
        raise InvalidInputError(
            f"--resume continues the batch with its own recipe ({base.describe()}); leave out "
            "the options that change it, or choose another output folder"
        )
    return base.with_changes(tile=args.tile, device=args.device)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "task": args.task, "method": args.method, "tile": args.tile, "device": args.device,
        "output_format": args.format, "bit_depth": args.bit_depth,
        "jpeg_quality": args.jpeg_quality, "pattern": args.pattern,
    }  # fmt: skip


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """``--param`` values as given (text: the service's ParamSpecs type them) and --sigma."""
    params: dict[str, Any] = dict(args.param)
    if args.sigma is not None:
        params["sigma"] = args.sigma
    if getattr(args, "route", None) is not None:
        params["route"] = args.route
    return params


def finish(summary: Summary, args: argparse.Namespace) -> int:
    """Print the summary, write the report, and pick the exit code."""
    report_text = ""
    with Journal.read_only(summary.journal) as journal:
        if not args.quiet:
            report_text = text_report(journal)
        if args.report:
            write_report(journal, args.report)
    if report_text:
        print(_run_line(summary))
        print(report_text)
    if summary.interrupted:
        print(
            f"patina: batch stopped; run the same command again (or with --resume) "
            f"to continue: {summary.counts.get('pending', 0)} files left",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    bad = summary.counts.get("failed", 0) + summary.counts.get("skipped", 0)
    return EXIT_FAILURES if bad else 0


def _run_line(s: Summary) -> str:
    rate = f", {60 * s.restored / s.elapsed:.1f} files/min" if s.elapsed and s.restored else ""
    return (
        f"this run: {s.restored} restored, {s.reused} unchanged, {s.failed} failed, "
        f"{s.skipped} skipped in {s.elapsed:.1f} s{rate} on {s.device}"
    )


# -------------------------------------------------------------------- Ctrl-C handling


@contextmanager
def interrupts(control: Control) -> Iterator[None]:
    """First Ctrl-C: stop after the files in flight. Second: stop them between tiles.
    A third one raises KeyboardInterrupt (still safe: the journal and outputs are atomic)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if not control.stopping:
            control.stop()
            _say("stopping after the files in flight (Ctrl-C again to stop now)")
        else:
            control.stop(now=True)
            _say("stopping now")
            signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no signal handling
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _say(text: str) -> None:
    print(f"patina: {text}", file=sys.stderr, flush=True)


class ProgressView:
    """A tqdm bar of files with ETA on a terminal; failures printed as they happen."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.show_bar = not quiet and stderr_is_terminal()

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def event(self, event: Event) -> None:
        if isinstance(event, BatchStarted):
            self._started(event)
        elif isinstance(event, FileFinished):
            self._file(event)

    def _started(self, event: BatchStarted) -> None:
        done = event.counts.get("done", 0)
        if not self.quiet:
            _say(f"{event.todo} to do, {done} already done; journal {event.journal}")
        if self.show_bar and event.todo:
            from tqdm import tqdm

            self.bar = tqdm(total=event.todo, unit="file", file=sys.stderr, dynamic_ncols=True)

    def _file(self, event: FileFinished) -> None:
        status = event.outcome.status
        if status in ("failed", "skipped") and not self.quiet:
            self._write(f"patina: {status}: {event.rel}: {event.outcome.error}")
        if self.bar is not None:
            self.bar.update(1)

    def _write(self, text: str) -> None:
        writer: Callable[..., Any] = self.bar.write if self.bar is not None else print
        writer(text, file=sys.stderr)
