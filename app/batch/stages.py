"""The three stages every batch file goes through: read, restore, write.

Each stage is a plain function of picklable values, so the local pipeline (threads) and
the Ray engine (tasks and actors) run the very same code and write the same bytes. A
stage never raises for a problem with one file: it returns an :class:`Outcome` with
status ``failed`` (and a one-line reason) that the later stages pass through.

- :func:`read_stage` hashes the file (SHA-256, streamed) and decodes it with
  :func:`app.core.image_io.load`. A file whose content and output are unchanged since it
  was last done comes back as ``done`` with ``reused`` set, without being decoded.
- :func:`restore_stage` runs the service tile by tile; an out-of-memory error
  (``MemoryError``, torch's ``OutOfMemoryError``, or a message saying so; torch is not
  imported here) retries with half the tile size, down to :data:`MIN_TILE`.
- :func:`write_stage` writes atomically (temp file + rename, never over the input) with
  the input's metadata, then hashes the output.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.batch.journal import Outcome
from app.batch.recipe import MIN_TILE, Recipe
from app.core import image_io
from app.core.errors import Cancelled, PatinaError
from app.core.image_formats import to_uint
from app.core.image_meta import ImageMeta, meta_for_size
from app.core.progress import drive
from app.ml.services.base import Service

THUMB_SIZE = 128
THUMB_QUALITY = 75
Checkpoint = Callable[[], bool]
"""Polled between tiles; True means stop now (the file goes back to pending)."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileJob:
    """One file to process: journal ``id``, input ``src``, output ``dest``.

    ``replace`` allows replacing an existing ``dest`` (the batch wrote it before, or
    ``--overwrite``). ``prev_input_hash``/``prev_output_hash`` are from the last time the
    file was done, for the unchanged-content shortcut.
    """

    id: int
    src: Path
    dest: Path
    rel: str
    replace: bool = False
    prev_input_hash: str | None = None
    prev_output_hash: str | None = None


@dataclass
class Loaded:
    """A decoded input on its way to the restorer."""

    job: FileJob
    pixels: np.ndarray
    meta: ImageMeta
    input_hash: str
    read_s: float
    thumb_before: bytes | None


@dataclass
class Restored:
    """A restored image on its way to the writer."""

    job: FileJob
    pixels: np.ndarray
    meta: ImageMeta
    input_hash: str
    read_s: float
    restore_s: float
    tile: int
    device: str
    thumb_before: bytes | None
    source_size: tuple[int, int]


# ----------------------------------------------------------------------------- read


def read_stage(job: FileJob) -> Loaded | Outcome:
    """Hash and decode ``job.src``; a failed Outcome names the reason."""
    start = time.perf_counter()
    try:
        digest = file_sha256(job.src)
    except OSError as err:
        return failed(job, f"cannot read {job.src}: {err.strerror or err}")
    if _unchanged(job, digest):
        return Outcome(job.id, "done", input_hash=digest, reused=True)
    try:
        loaded = image_io.load(job.src)
    except PatinaError as err:
        return failed(job, str(err), input_hash=digest)
    except MemoryError:
        return failed(job, f"not enough memory to open {job.src}", input_hash=digest)
    thumb = thumbnail(loaded.pixels)
    return Loaded(job, loaded.pixels, loaded.meta, digest, time.perf_counter() - start, thumb)


def _unchanged(job: FileJob, digest: str) -> bool:
    """Same content as when last done, and the output is still the one written then."""
    if job.prev_output_hash is None or job.prev_input_hash != digest:
        return False
    try:
        return file_sha256(job.dest) == job.prev_output_hash
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -------------------------------------------------------------------------- restore


def restore_stage(
    service: Service, item: Loaded | Outcome, recipe: Recipe, checkpoint: Checkpoint | None = None
) -> Restored | Outcome:
    """Run ``service`` on a loaded image (an Outcome passes through unchanged).

    Out of memory: retry with half the tile, down to :data:`MIN_TILE`, then fail the file.
    ``checkpoint`` returning True between tiles gives a ``cancelled`` Outcome.
    """
    if isinstance(item, Outcome):
        return item
    start = time.perf_counter()
    tile = recipe.tile
    while True:
        try:
            work = service.run(item.pixels, params=recipe.params, tile=tile)
            result = drive(work, should_cancel=checkpoint)
            break
        except Cancelled:
            return Outcome(item.job.id, "cancelled")
        except Exception as err:  # noqa: BLE001 - one file's failure must not stop the batch
            if is_out_of_memory(err) and tile > MIN_TILE:
                _log.info("out of memory on %s with tile %d; retrying smaller", item.job.rel, tile)
                free_memory()
                tile = max(MIN_TILE, tile // 2)
                continue
            return failed(item.job, describe_error(err, tile), input_hash=item.input_hash)
    height, width = item.pixels.shape[:2]
    return Restored(
        item.job, result, item.meta, item.input_hash, item.read_s,
        time.perf_counter() - start, tile, str(getattr(service, "device", "cpu")),
        item.thumb_before, (height, width),
    )  # fmt: skip


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` says memory ran out (host or GPU), without importing torch."""
    if isinstance(err, MemoryError):
        return True
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(err).__mro__):
        return True
    text = str(err).lower()
    return any(s in text for s in ("out of memory", "can't allocate memory", "cannot allocate"))


def free_memory() -> None:
    """Collect garbage and, when torch is already loaded, empty the CUDA cache."""
    gc.collect()
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        if cuda is not None and cuda.is_available():
            cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort only
        pass


def describe_error(err: BaseException, tile: int) -> str:
    """One line for the report: a PatinaError's message, else the exception's type and text."""
    if is_out_of_memory(err):
        return f"out of memory, even with {tile}-pixel tiles"
    if isinstance(err, PatinaError):
        return " ".join(str(err).split())
    _log.error("restoration failed", exc_info=err)
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ---------------------------------------------------------------------------- write


def write_stage(item: Restored | Outcome, recipe: Recipe) -> Outcome:
    """Write a restored image atomically beside its mirrored path; an Outcome passes."""
    if isinstance(item, Outcome):
        return item
    job = item.job
    start = time.perf_counter()
    meta = meta_for_size(item.meta, item.source_size, item.pixels.shape[:2])
    try:
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        image_io.save(
            job.dest, item.pixels, meta, bit_depth=recipe.output_bit_depth(job.dest.suffix),
            quality=recipe.jpeg_quality, overwrite=job.replace, protect=(job.src,),
        )  # fmt: skip
        digest = file_sha256(job.dest)
        size = job.dest.stat().st_size
    except PatinaError as err:
        return failed(job, str(err), input_hash=item.input_hash)
    except OSError as err:
        return failed(job, f"cannot write {job.dest}: {err.strerror or err}", item.input_hash)
    height, width = item.source_size
    return Outcome(
        job.id, "done", item.input_hash, digest, size, None, item.tile, item.device, width,
        height, item.read_s, item.restore_s, time.perf_counter() - start, item.thumb_before,
        thumbnail(item.pixels),
    )  # fmt: skip


# -------------------------------------------------------------------------- helpers


def process_file(
    service: Service, job: FileJob, recipe: Recipe, checkpoint: Checkpoint | None = None
) -> Outcome:
    """All three stages in a row (the sequential engine and the Ray actors' fallback)."""
    return write_stage(restore_stage(service, read_stage(job), recipe, checkpoint), recipe)


def failed(job: FileJob, reason: str, input_hash: str | None = None) -> Outcome:
    return Outcome(job.id, "failed", input_hash=input_hash, error=" ".join(reason.split()))


def thumbnail(pixels: np.ndarray, size: int = THUMB_SIZE) -> bytes | None:
    """A JPEG of ``pixels`` (float RGB) whose longer side is at most ``size``."""
    height, width = pixels.shape[:2]
    scale = min(1.0, size / max(height, width))
    small = pixels
    if scale < 1.0:
        shape = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(pixels, shape, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(to_uint(small, 8), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return bytes(data.tobytes()) if ok else None
