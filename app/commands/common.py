"""Helpers shared by the subcommands: progress bars, output checks, service parameters."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError
from app.core.image_formats import SUPPORTED_SUFFIXES
from app.core.progress import Progress
from app.ml.services.base import TASKS, Service, typed_params

Subparsers = Any  # argparse's private _SubParsersAction
DEVICES = ("auto", "cpu", "cuda", "mps")
SAVE_SUFFIXES = frozenset(SUPPORTED_SUFFIXES)


def add_command(
    subparsers: Subparsers, name: str, parents: Sequence[argparse.ArgumentParser], **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared options and ``--help`` text from ``kwargs``."""
    kwargs.setdefault("description", kwargs.get("help"))
    parser: argparse.ArgumentParser = subparsers.add_parser(name, parents=list(parents), **kwargs)
    return parser


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda``."""
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where learned models run (default: auto = the GPU when there is one)",
    )


def add_io_arguments(parser: argparse.ArgumentParser, input_help: str, output_help: str) -> None:
    """Positional ``IN`` and required ``-o/--output OUT`` (both paths)."""
    parser.add_argument("input", metavar="IN", type=Path, help=input_help)
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        type=Path,
        required=True,
        help=output_help,
    )


def add_tile_option(parser: argparse.ArgumentParser, help_text: str, default: int = 512) -> None:
    """``--tile N`` (a positive int, ``default`` pixels)."""
    parser.add_argument("--tile", metavar="N", type=positive_int, default=default, help=help_text)


def add_param_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """Repeatable ``--param NAME=VALUE``, collected as a list of (name, value) pairs."""
    parser.add_argument(
        "--param",
        metavar="NAME=VALUE",
        type=key_value,
        action="append",
        default=[],
        help=help_text,
    )


def add_json_output_options(parser: argparse.ArgumentParser, json_help: str) -> None:
    """``--json OUT.json`` and ``--overwrite`` (replace the JSON file if it exists)."""
    parser.add_argument("--json", metavar="OUT.json", type=Path, help=json_help)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the JSON file if it exists"
    )


def add_task_option(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--task`` with the choices of :data:`app.ml.services.base.TASKS`."""
    parser.add_argument(
        "--task",
        choices=TASKS,
        required=required,
        default=None,
        help="what to do" + ("" if required else " (default: every task)"),
    )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def key_value(text: str) -> tuple[str, str]:
    """argparse type for ``NAME=VALUE``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


# ----------------------------------------------------------------------------- progress


def stderr_is_terminal() -> bool:
    """True when stderr is an interactive terminal (progress bars are shown only then)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_bar(
    desc: str, enabled: bool | None = None, unit: str = "tile"
) -> Iterator[Callable[[Progress], None]]:
    """A ``Progress`` callback drawing a tqdm bar on stderr; a no-op when not a terminal."""
    if not (stderr_is_terminal() if enabled is None else enabled):
        yield lambda report: None
        return
    from tqdm import tqdm

    with tqdm(desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:

        def update(report: Progress) -> None:
            bar.total = report.total
            bar.n = report.done
            if report.stage:
                bar.set_description(f"{desc} {report.stage}", refresh=False)
            bar.refresh()

        yield update


# ------------------------------------------------------------------------------ outputs


def check_output(path: Path, *, overwrite: bool, protect: Iterable[Path] = ()) -> None:
    """Refuse, before any work, to write ``path`` over an input or an existing file.

    Raises InvalidInputError when ``path`` is one of ``protect``, exists without
    ``overwrite``, has an image suffix Patina cannot write, or its folder is missing.
    """
    for kept in protect:
        if _same_file(path, kept):
            raise InvalidInputError(
                f"{path} is the input file; Patina never overwrites its input, "
                "choose another output name"
            )
    if path.exists() and not overwrite:
        raise InvalidInputError(f"{path} already exists; add --overwrite to replace it")
    if path.exists() and path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not a file name")
    if not path.parent.is_dir():
        raise InvalidInputError(f"the folder {path.parent} does not exist")


def check_image_output(path: Path, *, overwrite: bool, protect: Iterable[Path] = ()) -> None:
    """:func:`check_output` plus: the suffix names a format Patina writes."""
    if path.suffix.lower() not in SAVE_SUFFIXES:
        known = ", ".join(sorted(SAVE_SUFFIXES))
        raise InvalidInputError(f"cannot write {path.name}: the name must end in one of {known}")
    check_output(path, overwrite=overwrite, protect=protect)


def check_distinct(paths: Iterable[Path | None]) -> None:
    """InvalidInputError when two outputs name the same file."""
    seen: list[Path] = []
    for path in paths:
        if path is None:
            continue
        if any(_same_file(path, other) for other in seen):
            raise InvalidInputError(f"{path} is named twice; give each output its own name")
        seen.append(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def write_json(path: Path, data: Any, *, overwrite: bool = True) -> None:
    """Write ``data`` as indented JSON, atomically (temp file + rename)."""
    if path.exists() and not overwrite:
        raise InvalidInputError(f"{path} already exists; add --overwrite to replace it")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InvalidInputError(f"cannot write {path}: {err.strerror or err}") from err


# --------------------------------------------------------------------------- parameters


def service_params(
    service: Service, given: Mapping[str, Any], *, implied: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``given`` checked and typed by the service's ParamSpecs (see
    :func:`app.ml.services.base.typed_params`, which ``patina batch`` shares)."""
    return typed_params(service.info, given, implied=implied)
