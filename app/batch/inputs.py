"""Where a batch's files come from: a folder (optionally recursive), a glob, or a file list.

Every source has a ``root`` folder; each input's path relative to it is mirrored under
the output folder. Files are streamed (a folder is walked one directory at a time,
sorted by name) so a million inputs do not have to sit in memory. Only files with a
suffix :mod:`app.core.image_io` reads are taken; hidden files and folders (``.name``)
and the output folder, when it lies inside the input folder, are left out.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from app.core.errors import InvalidInputError
from app.core.image_formats import SUPPORTED_SUFFIXES

_MAGIC = ("*", "?", "[")


@dataclass(frozen=True)
class Source:
    """A set of input files under ``root``: a folder walk, a glob or an explicit list.

    ``kind`` is ``folder``, ``glob`` or ``list``; ``spec`` is the folder, the pattern or
    the paths. ``exclude`` folders (the output) are never entered.
    """

    kind: str
    root: Path
    spec: str = ""
    recursive: bool = False
    paths: tuple[Path, ...] = ()
    exclude: tuple[Path, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """For people and the journal: ``folder /scans (recursive)``, ``glob /scans/*.tif``."""
        if self.kind == "folder":
            return f"folder {self.root}" + (" (recursive)" if self.recursive else "")
        if self.kind == "glob":
            return f"glob {self.spec}"
        return f"list of {len(self.paths)} files under {self.root}"

    def files(self) -> Iterator[tuple[Path, PurePosixPath]]:
        """Yield ``(absolute path, path relative to root)`` of every input, in a stable order."""
        if self.kind == "folder":
            found: Iterator[Path] = walk(self.root, self.recursive, self.exclude)
        elif self.kind == "glob":
            found = _glob(self.spec, self.exclude)
        else:
            found = iter(self.paths)
        for path in found:
            yield path, PurePosixPath(path.relative_to(self.root).as_posix())


def is_image_name(name: str) -> bool:
    """Whether ``name`` has a suffix Patina reads and is not hidden."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES


def walk(root: Path, recursive: bool, exclude: Sequence[Path] = ()) -> Iterator[Path]:
    """Image files under ``root`` sorted by name per folder, sub-folders after files."""
    skip = {_norm(p) for p in exclude}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            raise InvalidInputError(f"cannot list {folder}: {err.strerror or err}") from err
        subfolders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if recursive and _visible(entry.name) and _norm(entry.path) not in skip:
                    subfolders.append(Path(entry.path))
            elif is_image_name(entry.name) and entry.is_file():
                yield Path(entry.path)
        stack.extend(reversed(subfolders))


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _norm(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _glob(pattern: str, exclude: Sequence[Path]) -> Iterator[Path]:
    skip = [os.path.abspath(p) + os.sep for p in exclude]
    for name in sorted(glob.iglob(pattern, recursive=True)):
        path = os.path.abspath(name)
        if any(path.startswith(s) for s in skip) or not is_image_name(os.path.basename(path)):
            continue
        if os.path.isfile(path):
            yield Path(path)


def glob_root(pattern: str) -> Path:
    """The deepest folder of ``pattern`` before its first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(m in part for m in _MAGIC):
            break
        fixed.append(part)
    return Path(*fixed).resolve() if fixed else Path.cwd()


def resolve_source(
    spec: str | Path | Sequence[str | Path],
    *,
    recursive: bool = False,
    exclude: Sequence[Path] = (),
) -> Source:
    """A :class:`Source` from what a person typed.

    ``spec`` is a folder, a glob (``"scans/**/*.tif"``), a ``.txt`` file listing one image
    path per line (relative to the list's folder; ``#`` starts a comment) or a sequence of
    paths. Raises InvalidInputError when nothing usable is named.
    """
    excluded = tuple(Path(p).resolve() for p in exclude)
    if not isinstance(spec, str | Path):
        return _list_source([Path(p) for p in spec], excluded)
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        return Source("folder", path.resolve(), text, recursive, (), excluded)
    if any(m in text for m in _MAGIC) and not path.exists():
        return Source("glob", glob_root(text), text, recursive, (), excluded)
    if path.is_file() and path.suffix.lower() == ".txt":
        return _list_source(read_list(path), excluded)
    if path.is_file():
        return _list_source([path], excluded)
    raise InvalidInputError(f"{text} is not a folder, a glob pattern or a .txt list of files")


def read_list(path: Path) -> list[Path]:
    """Paths listed in ``path`` (one per line; blank lines and ``#`` comments skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InvalidInputError(f"cannot read {path}: {err.strerror or err}") from err
    base = path.resolve().parent
    names = (line.strip() for line in lines)
    return [base / name for name in names if name and not name.startswith("#")]


def _list_source(paths: list[Path], exclude: tuple[Path, ...]) -> Source:
    if not paths:
        raise InvalidInputError("the list of input files is empty")
    absolute = tuple(p.resolve() for p in paths)
    for path in absolute:
        if not is_image_name(path.name):
            raise InvalidInputError(f"{path} is not an image file Patina reads")
    root = Path(os.path.commonpath([str(p.parent) for p in absolute]))
    return Source("list", root, "", False, absolute, exclude)
