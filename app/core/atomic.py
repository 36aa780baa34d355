"""Atomic file writes: a temp file beside the destination, fsync, then a rename.

A crash or an error at any instant leaves either the old file or the complete new one,
never a half-written file; without ``overwrite`` an existing file is never replaced.
Every failure raises :class:`ImageIOError` naming the destination.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

from app.core.errors import ImageIOError, PatinaError

_log = logging.getLogger(__name__)


def atomic_write(dest: Path, write: Callable[[IO[bytes]], None], overwrite: bool) -> None:
    """Run ``write`` on a temp file beside ``dest``, fsync it, then move it into place.

    On any failure the temp file is removed, ``dest`` is untouched and an
    :class:`ImageIOError` naming ``dest`` is raised.
    """
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    try:
        fh = open(tmp, "x+b")  # noqa: SIM115 - closed below; mode 0o666 & ~umask
    except OSError as err:
        raise write_error(dest, err) from err
    try:
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, dest, overwrite)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, PatinaError) or not isinstance(err, Exception):
            raise
        raise write_error(dest, err) from err
    _fsync_dir(dest.parent)


def _publish(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Move ``tmp`` to ``dest``; without ``overwrite``, never replace an existing file."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic "create if absent"
    except FileExistsError:
        raise ImageIOError(f"{dest} already exists; use --overwrite to replace it") from None
    except OSError:  # no hard links on this file system
        if dest.exists():
            raise ImageIOError(f"{dest} already exists; use --overwrite to replace it") from None
        os.replace(tmp, dest)
        return
    try:
        tmp.unlink()
    except OSError:
        _log.warning("could not remove temporary file %s", tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows (POSIX); best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_error(dest: Path, err: BaseException) -> ImageIOError:
    if isinstance(err, MemoryError):
        return ImageIOError(f"not enough memory to write {dest}")
    if isinstance(err, OSError) and err.strerror:
        return ImageIOError(f"cannot write {dest}: {err.strerror}")
    return ImageIOError(
        f"cannot write {dest}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    )
