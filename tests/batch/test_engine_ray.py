"""The Ray engine on a local Ray instance (2 CPUs) writes exactly what the local one does.

Skipped when the optional ``ray`` package (``pip install -e .[cluster]``) is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.batch.inputs import resolve_source
from app.batch.journal import Journal
from app.batch.recipe import Recipe
from app.batch.runner import BatchOptions, journal_path, run_batch
from tests.batch.conftest import Tree, folder_hashes
from tests.batch.fakes import box_factory

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RECIPE = Recipe("denoise", tile=128)


def outputs(out: Path) -> dict[str, str]:
    return {k: v for k, v in folder_hashes(out).items() if "_restored" in k}


def statuses(out: Path) -> dict[str, str]:
    with Journal.read_only(journal_path(out)) as journal:
        return {row.rel: row.status for row in journal.rows()}


def test_ray_engine_writes_the_same_outputs(tree: Tree, tmp_path: Path) -> None:
    originals = folder_hashes(tree.root)
    source = resolve_source(tree.root, recursive=True)
    run_batch(source, tmp_path / "local", RECIPE, BatchOptions(), factory=box_factory)
    options = BatchOptions(engine="ray", workers=2)
    summary = run_batch(source, tmp_path / "ray", RECIPE, options, factory=box_factory)

    assert (summary.restored, summary.failed) == (29, 1)
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    assert statuses(tmp_path / "ray") == statuses(tmp_path / "local")
    assert folder_hashes(tree.root) == originals
    with Journal.read_only(journal_path(tmp_path / "ray")) as journal:
        (failed,) = journal.rows("failed")
        assert failed.rel == "box2/corrupt.png" and failed.error
        assert journal.runs()[-1]["engine"] == "ray"
