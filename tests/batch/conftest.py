"""Fixtures of the batch tests: a tree of 30 mixed small images, hashes of folders."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.batch.fakes import write_image

HUGE = (300, 360)  # bigger than the 128-pixel tile the tests use, so it is tiled


@dataclass(frozen=True)
class Tree:
    """An input folder of 30 images: ``corrupt`` and ``grey`` and ``huge`` among them."""

    root: Path
    files: tuple[Path, ...]
    corrupt: Path
    grey: Path
    huge: Path

    def images(self) -> list[Path]:
        return [f for f in self.files if f != self.corrupt]


def make_tree(root: Path) -> Tree:
    """27 PNG/TIFF/JPEG files (8 and 16 bits, EXIF + ICC) in two levels, plus a grey
    JPEG, a huge PNG and a corrupt PNG: 30 in all."""
    files: list[Path] = []
    kinds = [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".jpg", 8)]
    for i in range(27):
        suffix, bits = kinds[i % len(kinds)]
        folder = root / ("" if i < 9 else f"box{i % 3}") / ("deep" if i % 7 == 0 else "")
        files.append(write_image(folder / f"scan_{i:02d}{suffix}", i, bits=bits))
    grey = write_image(root / "grey.jpg", 100, grey=True)
    huge = write_image(root / "box1" / "huge.png", 101, bits=16, size=HUGE)
    corrupt = root / "box2" / "corrupt.png"
    good = write_image(root / "tmp_corrupt.png", 102).read_bytes()
    corrupt.write_bytes(good[: len(good) // 2])  # a truncated PNG
    (root / "tmp_corrupt.png").unlink()
    (root / "notes.txt").write_text("not an image\n")
    return Tree(root, (*files, grey, huge, corrupt), corrupt, grey, huge)


@pytest.fixture(scope="module")
def tree_template(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("template") / "in")


@pytest.fixture
def tree(tmp_path: Path, tree_template: Tree) -> Tree:
    """A fresh copy of the 30-file tree for one test."""
    import shutil

    root = tmp_path / "in"
    shutil.copytree(tree_template.root, root)

    def moved(path: Path) -> Path:
        return root / path.relative_to(tree_template.root)

    t = tree_template
    return Tree(root, tuple(map(moved, t.files)), moved(t.corrupt), moved(t.grey), moved(t.huge))


def folder_hashes(root: Path, *, skip_journal: bool = True) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (skip_journal and path.name.startswith("patina-batch")):
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
