"""A corpus of bad and unusual input files, built on the fly, and a runner for the CLI.

Each :class:`Case` writes one input file into a folder (nothing binary is committed).
:func:`run_restore` and :func:`run_batch` run ``patina restore`` / ``patina batch`` on it
in-process (``app.cli.main``) and return a :class:`Run`: the exit code, the message, the
output, and every broken promise found (:attr:`Run.problems`): a traceback, a message of
more than one line, an input whose bytes changed, a temp file or partial output left
behind. ``tests/e2e/test_bad_files.py`` asserts on it; ``tools/docs/bad_file_table.py``
prints the same runs as the markdown table of ``docs/bad_files.md``.

The restores use the fast classical ``--task denoise --method bilateral``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import subprocess
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from app import cli
from app.core import image_io
from app.core.image_formats import SUPPORTED_SUFFIXES
from app.core.image_meta import is_grey_mode

RESTORE_ARGS = ("--task", "denoise", "--method", "bilateral", "--sigma", "10")
JOURNAL = "patina-batch.sqlite"


class NotPossibleHere(Exception):
    """The case needs something this machine does not allow (e.g. mounting a tmpfs)."""


# ------------------------------------------------------------------------ file builders


def picture(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A uint8 gradient plus noise (compresses badly, so files have real data)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (yy * 255 // max(height - 1, 1) + xx * 255 // max(width - 1, 1)) // 2
    planes = [base, 255 - base, base // 2 + 64, 255 - base // 3][:channels]
    noise = rng.integers(-20, 21, (height, width, channels))
    return np.clip(np.dstack(planes) + noise, 0, 255).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` saved as ``fmt`` into bytes."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A valid little PNG whose IHDR claims ``width`` x ``height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def tiff_bytes(array: np.ndarray, **options: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **options)  # type: ignore[arg-type]
    return buf.getvalue()


def rgb_png() -> bytes:
    return encode(Image.fromarray(picture(64, 64)), "PNG")


def rgb_jpeg() -> bytes:
    return encode(Image.fromarray(picture(64, 64)), "JPEG", quality=90)


def rgb_tiff() -> bytes:
    return tiff_bytes(picture(64, 64), photometric="rgb")


def png16_grey() -> bytes:
    grey = (picture(48, 40, 1)[..., 0].astype(np.uint16) * 257) ^ 0x5A
    return encode(Image.fromarray(grey), "PNG")


def tiff16_rgba() -> bytes:
    rgba = picture(40, 48, 4).astype(np.uint16) * 257 + 7
    return tiff_bytes(rgba, photometric="rgb", extrasamples=("unassalpha",))


def tiff_float(nan: bool = False) -> bytes:
    data = picture(40, 48).astype(np.float32) / 255.0
    if nan:
        data[:4, :4] = np.nan
        data[4:8, :4] = np.inf
        data[8:12, :4] = -3.0
    return tiff_bytes(data, photometric="rgb")


def cmyk_jpeg() -> bytes:
    cmyk = Image.fromarray(picture(40, 48, 4), mode="CMYK")
    return encode(cmyk, "JPEG", quality=90)


def palette_png() -> bytes:
    image = Image.fromarray(picture(40, 48)).convert("P", palette=Image.Palette.ADAPTIVE)
    return encode(image, "PNG", transparency=0)


def animated(fmt: str) -> bytes:
    frames = [Image.fromarray(picture(32, 32, seed=s)) for s in range(3)]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def webp(alpha: bool = False) -> bytes:
    image = Image.fromarray(picture(40, 48, 4 if alpha else 3))
    return encode(image, "WEBP", quality=90)


def oriented_jpeg(orientation: int) -> bytes:
    """A 24 x 16 (W x H) JPEG with EXIF Orientation ``orientation``."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(picture(16, 24)), "JPEG", quality=92, exif=exif.tobytes())


def huge_exif(fmt: str, size: int) -> bytes:
    """A picture with ``size`` bytes of ImageDescription in its EXIF."""
    exif = Image.Exif()
    exif[0x010E] = "x" * size  # ImageDescription
    exif[0x0110] = "Bad-file corpus"  # Model
    return encode(Image.fromarray(picture(32, 32)), fmt, exif=exif.tobytes())


def tall_png(height: int, width: int) -> bytes:
    return encode(Image.fromarray(picture(height, width)), "PNG", compress_level=1)


def cut(data: bytes, at: int) -> bytes:
    """The first ``at`` bytes of ``data`` (negative: from the end)."""
    assert 0 < abs(at) < len(data), "the cut must fall inside the file"
    return data[:at]


def tiff_ifd_offset(data: bytes) -> int:
    return int(struct.unpack("<I", data[4:8])[0])


# ----------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One corpus entry: ``name`` is the input file name, ``data()`` its bytes.

    ``expect`` is ``ok`` (a correct result) or ``error`` (a one-line message containing
    ``words``); ``batch_expect`` overrides it for ``patina batch`` (``failed``: exit 3
    with the file reported failed). ``where`` is ``normal``, ``same`` (output = input),
    ``readonly`` (read-only output folder), ``full`` (a 64 KiB tmpfs as output) or
    ``fills`` (a 1 MiB tmpfs: room for the journal, not for the output image).
    ``out_suffix`` is the restore output's suffix (default: the input's, else .png);
    ``check(input_path, output_path)`` returns a problem with a correct result, or None;
    ``batch_words`` replaces ``words`` for the batch.
    """

    name: str
    label: str
    data: Callable[[], bytes]
    expect: str = "ok"
    words: tuple[str, ...] = ()
    batch_expect: str | None = None
    where: str = "normal"
    out_suffix: str | None = None
    check: Callable[[Path, Path], str | None] | None = None
    batch_words: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        return self.label.replace(" ", "-")

    def output_name(self) -> str:
        suffix = self.out_suffix or Path(self.name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            suffix = ".png"
        return "out" + suffix


def _same_size(rotated: bool) -> Callable[[Path, Path], str | None]:
    def check(src: Path, out: Path) -> str | None:
        with Image.open(src) as im:
            width, height = im.size
        got = image_io.load(out).pixels.shape[:2]
        want = (width, height) if rotated else (height, width)
        return None if got == want else f"output is {got[1]}x{got[0]}, want {want[1]}x{want[0]}"

    return check


def _keeps(depth: int, grey: bool | None = None, alpha: bool = False) -> Callable:
    def check(src: Path, out: Path) -> str | None:
        meta = image_io.load(out).meta
        if meta.bit_depth != depth:
            return f"output has {meta.bit_depth} bits, want {depth}"
        if grey is not None and is_grey_mode(meta.mode) != grey:
            return f"output mode {meta.mode}: grey should be {grey}"
        if alpha and meta.alpha is None:
            return "output lost its alpha channel"
        return None

    return check


def _finite(src: Path, out: Path) -> str | None:
    pixels = image_io.load(src).pixels
    return None if np.isfinite(pixels).all() else "the input loads with NaN/inf pixels"


def _keeps_exif(src: Path, out: Path) -> str | None:
    exif = image_io.load(out).meta.exif
    return None if exif and b"Bad-file corpus" in exif else "the EXIF was not kept"


def _image_cases() -> list[Case]:
    png, jpg, tif = rgb_png(), rgb_jpeg(), rgb_tiff()
    return [
        Case("zero.png", "zero-byte PNG", bytes, "error", ("empty",), "failed"),
        Case("zero.jpg", "zero-byte JPEG", bytes, "error", ("empty",), "failed"),
        Case("cut10.png", "PNG cut at 10 bytes", lambda: cut(png, 10), "error",
             ("damaged",), "failed"),
        Case("cut-ihdr.png", "PNG cut in IHDR", lambda: cut(png, 20), "error",
             ("damaged",), "failed"),
        Case("cut-data.png", "PNG cut mid-data", lambda: cut(png, len(png) // 2), "error",
             ("truncated",), "failed"),
        Case("cut-end.png", "PNG without IEND", lambda: cut(png, -12), "ok"),
        Case("cut16.png", "16-bit PNG cut mid-data", lambda: cut(png16_grey(), -300),
             "error", ("truncated",), "failed"),
        Case("cut10.jpg", "JPEG cut at 10 bytes", lambda: cut(jpg, 10), "error",
             ("damaged",), "failed"),
        Case("cut-header.jpg", "JPEG cut in header", lambda: cut(jpg, 120), "error",
             ("damaged",), "failed"),
        Case("cut-data.jpg", "JPEG cut mid-data", lambda: cut(jpg, len(jpg) // 2), "error",
             ("truncated",), "failed"),
        Case("cut10.tif", "TIFF cut at 10 bytes", lambda: cut(tif, 10), "error",
             ("damaged",), "failed"),
        Case("cut-ifd.tif", "TIFF cut in IFD", lambda: cut(tif, tiff_ifd_offset(tif) + 30),
             "error", ("damaged",), "failed"),
        Case("cut-data.tif", "TIFF cut mid-data", lambda: cut(tif, -len(tif) // 3), "error",
             ("truncated",), "failed"),
        Case("text.png", "text named .png", lambda: b"hello, I am not a picture\n" * 20,
             "error", ("not an image",), "failed"),
        Case("bomb.png", "PNG claiming 100000x100000", lambda: bomb_png(100_000, 100_000),
             "error", ("limit",), "failed"),
        Case("bomb225.png", "PNG claiming 15000x15000", lambda: bomb_png(15_000, 15_000),
             "error", ("limit",), "failed"),
        Case("cmyk.jpg", "CMYK JPEG", cmyk_jpeg, check=_keeps(8, grey=False)),
        Case("grey16.png", "16-bit grey PNG", png16_grey, check=_keeps(16, grey=True)),
        Case("rgba16.tif", "16-bit RGBA TIFF", tiff16_rgba, check=_keeps(16, False, True)),
        Case("palette.png", "palette PNG with transparency", palette_png,
             check=_keeps(8, alpha=True)),
        Case("anim.gif", "animated GIF", lambda: animated("GIF"), "error",
             ("not an image",), "nothing"),
        Case("anim.png", "animated PNG (first frame)", lambda: animated("PNG")),
        Case("anim.webp", "animated WebP (first frame)", lambda: animated("WEBP")),
        Case("one.png", "1x1 PNG", lambda: tall_png(1, 1), check=_same_size(False)),
        Case("tall.png", "3x100000 PNG", lambda: tall_png(100_000, 3), check=_same_size(False)),
        Case("wide.png", "100000x3 PNG", lambda: tall_png(3, 100_000), check=_same_size(False)),
        *[
            Case(f"orient{o}.jpg", f"EXIF orientation {o}", partial(oriented_jpeg, o),
                 check=_same_size(o >= 5))
            for o in range(1, 9)
        ],
        Case("exif60k.jpg", "60 KB EXIF (JPEG)", lambda: huge_exif("JPEG", 60_000),
             check=_keeps_exif),
        Case("exif70k.png", "70 KB EXIF PNG to JPEG", lambda: huge_exif("PNG", 70_000),
             out_suffix=".jpg"),
        Case("float.tif", "float32 TIFF", tiff_float, check=_keeps(16)),
        Case("nan.tif", "float32 TIFF with NaN/inf", lambda: tiff_float(nan=True),
             check=_finite),
        Case("photo.webp", "WebP", webp),
        Case("alpha.webp", "WebP with alpha", lambda: webp(alpha=True),
             check=_keeps(8, alpha=True)),
        Case("with space.png", "name with spaces", rgb_png),
        Case("ünïcødé 写真.png", "unicode name", rgb_png),
        Case("-x.png", "name with leading dash", rgb_png),
    ]  # fmt: skip


def _output_cases() -> list[Case]:
    big = lambda: encode(Image.fromarray(picture(256, 256)), "PNG")  # noqa: E731
    huge = lambda: encode(Image.fromarray(picture(1024, 1024)), "PNG")  # noqa: E731
    return [
        Case("same.png", "output = input", rgb_png, "error", ("input",), where="same"),
        Case("ro.png", "read-only output folder", rgb_png, "error", ("Read-only",),
             "error", where="readonly"),
        Case("full.png", "full disk (64 KiB tmpfs)", big, "error", ("No space left",),
             "error", where="full", batch_words=("disk is full",)),
        Case("fills.png", "disk fills while writing", huge, "error", ("No space left",),
             "failed", where="fills"),
    ]  # fmt: skip


CASES: list[Case] = _image_cases() + _output_cases()


# ---------------------------------------------------------------------------- running


@dataclass
class Run:
    """What one CLI run did, and the promises it broke (``problems``, empty when fine)."""

    code: int
    stdout: str
    stderr: str
    message: str = ""
    output: Path | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self, root: Path) -> str:
        """One cell of the corpus table."""
        text = self.message.replace(f"{root}{os.sep}", "")
        if self.problems:
            return f"**BROKEN** ({'; '.join(self.problems)}) {text}".strip()
        return text


def call(argv: list[str], cwd: Path | None = None) -> tuple[int, str, str]:
    """``app.cli.main(argv)`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        code = cli.main(argv)
    return code, out.getvalue(), _warned(err.getvalue(), caught)


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (hidden ones too)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            found[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return found


@contextlib.contextmanager
def special_folder(path: Path, where: str) -> Iterator[Path]:
    """``path`` made read-only or a 64 KiB tmpfs for the ``where`` cases (else as is)."""
    path.mkdir(parents=True, exist_ok=True)
    if where == "readonly" and os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    if where not in ("readonly", "full", "fills"):
        yield path
        return
    options = {"readonly": "ro,size=64k", "full": "size=64k", "fills": "size=1m"}[where]
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
    except OSError as err:
        raise NotPossibleHere(f"cannot run mount: {err}") from err
    if mounted.returncode != 0:
        raise NotPossibleHere(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], check=True)  # a file is still open
            raise AssertionError(f"a file in {path} was left open")


def prepare(case: Case, root: Path) -> Path:
    """Write the case's input file into ``root/in``; returns its path."""
    folder = root / "in"
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / case.name
    src.write_bytes(case.data())
    return src


def run_restore(case: Case, root: Path, argv_name: str | None = None) -> Run:
    """``patina restore IN -o OUT --task denoise --method bilateral`` on ``case``.

    ``argv_name`` replaces IN on the command line (run from ``root/in``), e.g. the bare
    ``-x.png``.
    """
    src = prepare(case, root)
    before = snapshot(src.parent)
    out_dir = root / "out"
    with special_folder(out_dir, case.where):
        dest = src if case.where == "same" else out_dir / case.output_name()
        name = argv_name or str(src)
        code, stdout, stderr = call(["restore", name, "-o", str(dest), *RESTORE_ARGS], src.parent)
        after_out = snapshot(out_dir)
    run = Run(code, stdout, stderr)
    check_input(run, before, snapshot(src.parent))
    if code == 0:
        run.output = dest
        expect_files(run, after_out, {dest.name} if case.where != "same" else set())
        _check_result(run, case, src, dest)
    else:
        expect_files(run, after_out, set())
        one_line(run, code, stderr)
    return run


def run_batch(case: Case, root: Path) -> Run:
    """``patina batch root/in root/out --task denoise --method bilateral`` on ``case``."""
    src = prepare(case, root)
    before = snapshot(src.parent)
    out_dir = src.parent if case.where == "same" else root / "out"
    with special_folder(out_dir, case.where):
        code, stdout, stderr = call(["batch", str(src.parent), str(out_dir), *RESTORE_ARGS])
        after_out = snapshot(out_dir)
    run = Run(code, stdout, stderr)
    if case.where != "same":
        check_input(run, before, snapshot(src.parent))
    else:
        check_input(run, before, {k: v for k, v in snapshot(src.parent).items() if k in before})
    outputs = {k for k in after_out if not k.startswith(JOURNAL)} - set(before)
    if code == 0 and case.batch_expect == "nothing" and not outputs:
        run.message = "exit 0: not an input (0 to do: batch takes only the suffixes it reads)"
    elif code == 0:
        name = f"{src.stem}_restored{src.suffix}"
        run.output = out_dir / name
        if outputs != {name}:
            run.problems.append(f"outputs {sorted(outputs)}, want [{name!r}]")
        else:
            _check_result(run, case, src, run.output)
    elif code == 3:
        if outputs:
            run.problems.append(f"a failed file left outputs: {sorted(outputs)}")
        failed_line(run, stderr, case.name)
    else:
        expect_files(run, {k: v for k, v in after_out.items() if k not in before}, set())
        one_line(run, code, stderr)
    return run


def check_input(run: Run, before: dict[str, str], after: dict[str, str]) -> None:
    if before != after:
        run.problems.append("the input folder changed")


def expect_files(run: Run, found: dict[str, str], wanted: set[str]) -> None:
    if set(found) != wanted:
        run.problems.append(f"left in the output folder: {sorted(set(found) - wanted)}")


def one_line(run: Run, code: int, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    run.message = lines[-1] if lines else ""
    if code != 2:
        run.problems.append(f"exit code {code}")
    if "Traceback" in stderr or len(lines) != 1 or not lines[0].startswith("patina: error: "):
        run.problems.append(f"not one 'patina: error:' line: {stderr.strip()[:300]!r}")
    run.message = f"exit {code}: {run.message.removeprefix('patina: error: ')}"


def failed_line(run: Run, stderr: str, name: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith("patina: failed: ")]
    if "Traceback" in stderr or len(lines) != 1:
        run.problems.append(f"not one 'patina: failed:' line: {stderr.strip()[:300]!r}")
    text = lines[0].removeprefix("patina: failed: ") if lines else stderr.strip()
    run.message = f"exit 3, failed: {text.removeprefix(name + ': ')}"


def _check_result(run: Run, case: Case, src: Path, dest: Path) -> None:
    try:
        result = image_io.load(dest)
    except Exception as err:  # noqa: BLE001 - reported as a problem of the run
        run.problems.append(f"the output cannot be read back: {err}")
        return
    height, width = result.pixels.shape[:2]
    meta = result.meta
    kind = f"{meta.bit_depth}-bit {'grey' if is_grey_mode(meta.mode) else 'RGB'}"
    alpha = "+alpha" if meta.alpha is not None else ""
    run.message = f"ok: {width}x{height} {kind}{alpha} {meta.format}"
    problem = case.check(src, dest) if case.check is not None else None
    if problem:
        run.problems.append(problem)


def _warned(stderr: str, caught: list[warnings.WarningMessage]) -> str:
    """``stderr`` plus the warnings Python would have printed there."""
    shown = [warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught]
    return stderr + "".join(shown)
