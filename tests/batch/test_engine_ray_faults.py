"""The Ray engine when things die: a worker process killed mid-batch (restarted by Ray,
its file sent again, every output written exactly once), a file that kills its worker
every time (only that file fails), and the whole batch killed and resumed under Ray.

Each batch runs local Ray (2 CPUs) in a child process of its own session, killed with
everything it started at the end (see tests/batch/ray_faults.py). Skipped without ``ray``.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.batch.inputs import resolve_source
from app.batch.journal import Journal
from app.batch.recipe import Recipe
from app.batch.runner import BatchOptions, journal_path, run_batch
from tests.batch.conftest import Tree, folder_hashes
from tests.batch.fakes import box_factory, write_image
from tests.batch.ray_faults import (
    POISON_SIZE,
    DyingFactory,
    SlowFactory,
    finish_ray_batch,
    kill_group,
    start_ray_batch,
)
from tests.batch.test_kill import finished_count, wait_for_progress

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def outputs(out: Path) -> dict[str, str]:
    return {k: v for k, v in folder_hashes(out).items() if "_restored" in k}


def reference(tree: Tree, out: Path) -> dict[str, str]:
    source = resolve_source(tree.root, recursive=True)
    run_batch(source, out, Recipe("denoise", tile=64), BatchOptions(), factory=box_factory)
    return outputs(out)


def leftovers(out: Path) -> list[str]:
    names = [p.name for p in out.rglob("*") if p.is_file()]
    return [n for n in names if n.endswith(".tmp") or n.startswith(".")]


def test_a_killed_worker_fails_only_its_own_file(tree: Tree, tmp_path: Path) -> None:
    expected = reference(tree, tmp_path / "reference")
    poison = write_image(tree.root / "poison.png", 7, size=POISON_SIZE)
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "out"
    proc = start_ray_batch(tree.root, out, DyingFactory(str(marks), kill_at=4))
    assert finish_ray_batch(proc) == (29, 2)  # the corrupt file and the poison
    assert outputs(out) == expected  # each output once, byte-identical to the local run
    assert not leftovers(out)
    with Journal.read_only(journal_path(out)) as journal:
        failed = {row.rel: row.error or "" for row in journal.rows("failed")}
        assert set(failed) == {"box2/corrupt.png", poison.name}
        assert "worker died 3 times" in failed[poison.name]
        assert journal.counts()["done"] == 29
    restorations = len(list(marks.iterdir()))  # 29, the one killed, the poison's three
    assert restorations == 29 + 1 + 3


def test_ray_batch_killed_then_resumed(tree: Tree, tmp_path: Path) -> None:
    originals = folder_hashes(tree.root)
    expected = reference(tree, tmp_path / "reference")
    out = tmp_path / "out"
    proc = start_ray_batch(tree.root, out, SlowFactory(0.05))
    try:
        assert wait_for_progress(proc, out, 2)
        rng = np.random.default_rng(7)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=float(rng.uniform(0.0, 0.2)))
    finally:
        kill_group(proc)  # the driver and its local Ray, at once
    assert proc.returncode != 0 and 2 < finished_count(out) < 30
    resumed = start_ray_batch(tree.root, out, SlowFactory(0.0))
    restored, failed = finish_ray_batch(resumed)
    assert failed == 1 and 0 < restored < 29
    assert outputs(out) == expected
    assert not leftovers(out) and not (out / "patina-batch.sqlite.lock").exists()
    assert folder_hashes(tree.root) == originals
    with Journal.read_only(journal_path(out)) as journal:
        assert journal.counts() == {"pending": 0, "running": 0, "done": 29, "failed": 1,
                                    "skipped": 0}  # fmt: skip
        assert [r["outcome"] for r in journal.runs()] == ["killed", "finished"]
        assert all(r["engine"] == "ray" for r in journal.runs())
