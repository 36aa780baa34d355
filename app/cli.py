"""The `patina` command line: `patina [FILE ...]` opens the window; subcommands work headless.

Exit codes: 0 success; 2 a user error (bad file, bad option, refused overwrite), reported
as one line ``patina: error: <message>`` on stderr; 130 interrupted (Ctrl-C); 1 an
unexpected error, with the traceback only under ``--debug``. Each subcommand lives in
:mod:`app.commands` as a module with ``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from app import __version__
from app.commands import batch, bench, degrade, evaluate, gui, info, latent, restore, train
from app.core.errors import Cancelled, PatinaError
from app.core.image_formats import SUPPORTED_SUFFIXES as IMAGE_SUFFIXES

COMMANDS = (gui, restore, batch, degrade, evaluate, bench, train, info, latent)
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command-line usage error (unknown option, missing argument, bad value)."""


class PatinaParser(argparse.ArgumentParser):
    """ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> PatinaParser:
    """The parser of every subcommand (each sets ``func``, the function to run)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of unexpected errors",
    )
    parser = PatinaParser(
        prog="patina",
        description="Offline photo restoration. Without a subcommand, opens FILEs in the window.",
        epilog="Run 'patina COMMAND --help' for the options of a command.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"patina {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers, [common])
    return parser


def route_default(argv: list[str]) -> list[str]:
    """Prepend ``gui`` unless the first non-option argument names a subcommand.

    ``patina`` and ``patina photo.jpg`` open the window; ``patina --help`` stays global.
    """
    names = {c.NAME for c in COMMANDS}
    rest = [a for a in argv if a != "--debug"]
    if any(a in ("-h", "--help", "--version") for a in rest[:1]):
        return argv
    if rest and rest[0] in names:
        return argv
    return ["gui", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(route_default(args_list))
    except UsageError as err:
        return fail(str(err) + dash_hint(args_list))
    except SystemExit as done:  # --help / --version
        return done.code if isinstance(done.code, int) else 0
    return execute(args, debug=getattr(args, "debug", False))


def dash_hint(argv: Sequence[str]) -> str:
    """For a usage error: how to name a file that starts with ``-`` (argparse takes
    ``-x.png`` for an option). Empty unless an argument looks like such a file name."""
    for arg in argv:
        if arg == "--":
            break
        named = os.path.exists(arg) or os.path.splitext(arg)[1].lower() in IMAGE_SUFFIXES
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and named:
            return (
                f"; {arg} was read as an option: to name a file that starts with '-', "
                f"write ./{arg} or put it after --"
            )
    return ""


def execute(args: argparse.Namespace, *, debug: bool = False) -> int:
    """Run ``args.func(args)``, turning exceptions into messages and exit codes."""
    try:
        return int(args.func(args) or 0)
    except (KeyboardInterrupt, Cancelled):
        print("patina: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PatinaError as err:
        return fail(str(err))
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `patina info | head`)
        return 0
    except MemoryError:
        return fail("out of memory; try a smaller --tile or a smaller image", code=1)
    except Exception as err:  # noqa: BLE001 - the last line of defence
        return unexpected(err, debug)


def fail(message: str, code: int = EXIT_USER_ERROR) -> int:
    """Print ``patina: error: <message>`` (one line) on stderr and return ``code``."""
    print(f"patina: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def unexpected(err: Exception, debug: bool) -> int:
    """Report a bug-like error: a short message, the traceback only with ``--debug``."""
    if type(err).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        return fail("the GPU ran out of memory; try a smaller --tile or --device cpu", code=1)
    if debug:
        traceback.print_exception(err)
    hint = "" if debug else " (run with --debug for the traceback)"
    print(f"patina: internal error: {type(err).__name__}: {err}{hint}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
