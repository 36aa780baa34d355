"""``python -m app.training.export RUN --id ID --task TASK [...]``: one exporter for every run.

The run's ``config.json`` task picks the writer:

- VDIR runs (denoise, deblock, old-photo, denoise-real, and ``preview`` restorers) ->
  :mod:`app.training.export.vdir`; ``--task`` (the manifest task) is required, and
  ``--method``, ``--est-note``, ``--steer-noise`` and ``--preview-for`` apply only here;
- inpainting, damage-detector and VDIR-SR runs -> :mod:`app.training.export.mask`;
- DL-Net super-resolution runs (``sr``) -> :mod:`app.training.export.sr`, with ``--est
  RUN`` naming the estimator-only stage.

For the mask and SR writers the run fixes the manifest task (inpaint, detect, upscale);
``--task`` may be left out and, when given, must match. ``--title``, ``--models`` and
``--no-manifest`` apply to every writer. Exit codes: 0 success; 2 a user error (one line
``error: ...``). The line printed on success is the entry's id, file, dtype, parameters
and MACs as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError, PatinaError
from app.ml.loading import MODELS_DIR
from app.training.config import TASKS as VDIR_LOOP_TASKS
from app.training.export import mask, sr, vdir

VDIR_RUNS = (*VDIR_LOOP_TASKS, "preview")
MASK_RUNS = tuple(mask.KINDS)
SR_RUNS = ("sr",)
PRINTED = ("id", "file", "weights_dtype", "params", "macs_per_pixel")


def run_task(run_dir: Path) -> str:
    """The ``task`` of ``run_dir/config.json``; InvalidInputError when there is none or it
    is not one any writer exports."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise InvalidInputError(f"{run_dir} is not a training run folder (no config.json)")
    task = str(json.loads(path.read_text()).get("task", "denoise"))
    if task not in (*VDIR_RUNS, *MASK_RUNS, *SR_RUNS):
        raise InvalidInputError(f"run {run_dir} trains {task!r}, which has no exporter")
    return task


def listed_task(run: str) -> str:
    """The manifest task of a mask-loop or SR run's model (``inpaint``, ``detect``, ``upscale``)."""
    return "upscale" if run in SR_RUNS else mask.KINDS[run][0]


def refuse_options(run: str, given: dict[str, Any]) -> None:
    """InvalidInputError naming the first option in ``given`` that is set (truthy)."""
    for name, value in given.items():
        if value:
            raise InvalidInputError(f"--{name} does not apply to a {run!r} run")


def export_run(
    run_dir: Path,
    model_id: str,
    task: str = "",
    *,
    models_dir: Path = MODELS_DIR,
    title: str = "",
    manifest: bool = True,
    est_note: str = "",
    method: str = "",
    preview_for: str = "",
    steer_noise: str = "",
    est_run: Path | None = None,
) -> dict[str, Any]:
    """Export ``run_dir`` as model ``model_id`` with the writer its config's task picks (see
    the module docstring); returns the manifest entry (listed unless ``manifest`` is false)."""
    run = run_task(run_dir)
    if run in VDIR_RUNS:
        refuse_options(run, {"est": est_run})
        if not task:
            raise InvalidInputError(f"--task is needed for a {run!r} run (e.g. denoise)")
        return vdir.export_vdir(
            run_dir, model_id, task, models_dir=models_dir, title=title, manifest=manifest,
            est_note=est_note, method=method or "vdir", preview_for=preview_for,
            steer_noise=steer_noise,
        )  # fmt: skip
    vdir_only = {"est-note": est_note, "method": method, "preview-for": preview_for,
                 "steer-noise": steer_noise}  # fmt: skip
    refuse_options(run, vdir_only if run in SR_RUNS else {**vdir_only, "est": est_run})
    if task and task != listed_task(run):
        raise InvalidInputError(f"a {run!r} run is listed as --task {listed_task(run)}, not {task}")
    options: dict[str, Any] = {"models_dir": models_dir, "title": title, "manifest": manifest}
    if run in SR_RUNS:
        return sr.export_sr(run_dir, est_run, model_id, **options)
    return mask.export_mask(run_dir, model_id, **options)


def parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m app.training.export``."""
    p = argparse.ArgumentParser(prog="python -m app.training.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("run_dir")
    p.add_argument("--id", required=True)
    p.add_argument("--task", default="", help="manifest task (needed for VDIR runs)")
    p.add_argument("--title", default="")
    p.add_argument("--models", default=str(MODELS_DIR))
    p.add_argument("--est-note", default="", help="a caveat shown with the EST readout")
    p.add_argument("--no-manifest", action="store_true", help="do not list it in the manifest")
    p.add_argument("--method", default="", help="method name it is listed under (default vdir)")
    p.add_argument("--preview-for", default="", metavar="ID",
                   help="list it as the quick preview restorer of model ID")  # fmt: skip
    p.add_argument("--steer-noise", default="", choices=("", "gaussian", "camera"),
                   help="noise of the latent strength axis (default gaussian)")  # fmt: skip
    p.add_argument("--est", default=None, metavar="RUN",
                   help="sr runs: run folder of the estimator-only stage")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    """Export the run the arguments name; prints the entry's summary as JSON. 0 on
    success, 2 on a user error (printed as ``error: ...``)."""
    args = parser().parse_args(argv)
    try:
        entry = export_run(
            Path(args.run_dir), args.id, args.task, models_dir=Path(args.models),
            title=args.title, manifest=not args.no_manifest, est_note=args.est_note,
            method=args.method, preview_for=args.preview_for, steer_noise=args.steer_noise,
            est_run=Path(args.est) if args.est else None,
        )  # fmt: skip
    except PatinaError as err:
        print(f"error: {err}")
        return 2
    print(json.dumps({k: entry[k] for k in PRINTED}))
    return 0
