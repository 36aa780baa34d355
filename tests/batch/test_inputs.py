"""Input sources: folders (recursive or not), globs, file lists; mirrored relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.batch.inputs import resolve_source
from app.core.errors import InvalidInputError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for name in ("b.png", "a.JPG", "notes.txt", ".hidden.png", "sub/c.tif", "sub/deep/d.png",
                 ".git/e.png", "out/f.png"):  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return root


def rels(source) -> list[str]:  # noqa: ANN001
    return [str(rel) for _, rel in source.files()]


def test_folder_flat_and_recursive(folder: Path) -> None:
    assert rels(resolve_source(folder)) == ["a.JPG", "b.png"]
    recursive = resolve_source(folder, recursive=True, exclude=[folder / "out"])
    assert rels(recursive) == ["a.JPG", "b.png", "sub/c.tif", "sub/deep/d.png"]


def test_glob(folder: Path) -> None:
    source = resolve_source(str(folder / "**" / "*.png"))
    assert source.kind == "glob" and source.root == folder.resolve()
    assert rels(source) == ["b.png", "out/f.png", "sub/deep/d.png"]


def test_file_list(folder: Path) -> None:
    listing = folder / "list.txt"
    listing.write_text("# scans to do\nsub/c.tif\n\nb.png\n")
    source = resolve_source(listing)
    assert source.kind == "list" and rels(source) == ["sub/c.tif", "b.png"]
    assert source.root == folder.resolve()


def test_nothing_usable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a folder"):
        resolve_source(tmp_path / "missing")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(InvalidInputError, match="empty"):
        resolve_source(empty)
