"""Crash safety: SIGKILL the `patina batch` process five times at random moments, resume.

Every output must exist exactly once, byte-identical to an uninterrupted run; no temp
file may be left; the originals must be untouched. Also: Ctrl-C (SIGINT) stops cleanly.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.batch.inputs import resolve_source
from app.batch.recipe import Recipe
from app.batch.runner import BatchOptions, journal_path, run_batch
from tests.batch.conftest import Tree, folder_hashes
from tests.batch.fakes import BoxService

ROOT = Path(__file__).resolve().parents[2]
TILE = 64
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start(tree: Tree, out: Path, *extra: str, tile_seconds: float = 0.03) -> subprocess.Popen[str]:
    """``patina batch`` (real CLI, fake slow service) as a child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATINA_FAKE_TILE_SECONDS": str(tile_seconds)}
    args = ["batch", str(tree.root), str(out), "--task", "denoise", "-r", "--tile", str(TILE)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch.fake_patina", *args, "-q", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finished_count(out: Path) -> int:
    """Files done or failed so far, read from the journal (0 before it exists)."""
    path = journal_path(out)
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            query = "SELECT count(*) FROM files WHERE status IN ('done', 'failed')"
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0  # schema not created yet


def wait_for_progress(proc: subprocess.Popen[str], out: Path, beyond: int) -> bool:
    """Wait until more than ``beyond`` files are finished; False if the process ended."""
    for _ in range(3000):  # 0.02 s each: at most a minute
        if finished_count(out) > beyond:
            return True
        try:
            proc.wait(timeout=0.02)
            return False
        except subprocess.TimeoutExpired:
            pass
    raise AssertionError("the batch made no progress within a minute")


def reference(tree: Tree, out: Path) -> dict[str, str]:
    source = resolve_source(tree.root, recursive=True)
    recipe = Recipe("denoise", tile=TILE)
    run_batch(source, out, recipe, BatchOptions(), factory=lambda *a: BoxService())
    return outputs(out)


def outputs(out: Path) -> dict[str, str]:
    return {k: v for k, v in folder_hashes(out).items() if "_restored" in k}


def test_sigkill_five_times_then_resume(tree: Tree, tmp_path: Path) -> None:
    originals = folder_hashes(tree.root)
    expected = reference(tree, tmp_path / "reference")
    out = tmp_path / "out"
    rng = np.random.default_rng(2024)
    kills = 0
    for _ in range(10):  # until five kills landed (a run may finish first: then go on)
        proc = start(tree, out)
        if wait_for_progress(proc, out, finished_count(out)):
            try:  # a random moment after that: mid-read, mid-restore or mid-write
                proc.wait(timeout=float(rng.uniform(0.0, 0.1)))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        proc.communicate()
        if kills == 5:
            break
    assert kills == 5 and finished_count(out) < 30

    final = start(tree, out, "--resume", tile_seconds=0.0)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 3, err  # 3: finished, with the corrupt file failed

    assert outputs(out) == expected  # each output once, byte-identical
    left = [p.name for p in out.rglob("*") if p.is_file()]
    assert not [n for n in left if n.endswith(".tmp") or n.startswith(".")], left
    assert not (out / "patina-batch.sqlite.lock").exists()
    assert folder_hashes(tree.root) == originals
    with sqlite3.connect(journal_path(out)) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM files GROUP BY status"))
        assert statuses == {"done": 29, "failed": 1}
        runs = [r[0] for r in conn.execute("SELECT outcome FROM runs ORDER BY id")]
        assert runs[-1] == "finished" and len(runs) >= 6
        assert runs.count("killed") == 5 and "running" not in runs  # found by the next run


def test_ctrl_c_stops_cleanly_and_resume_finishes(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(tree, out, tile_seconds=0.02)
    assert wait_for_progress(proc, out, 0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopping after the files in flight" in err and "Traceback" not in err
    with sqlite3.connect(journal_path(out)) as conn:
        running = conn.execute("SELECT count(*) FROM files WHERE status = 'running'")
        assert running.fetchone()[0] == 0
    final = start(tree, out, tile_seconds=0.0)
    final.communicate(timeout=120)
    assert final.returncode == 3
    assert len(outputs(out)) == 29


def test_second_ctrl_c_stops_at_once(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(tree, out, tile_seconds=0.05)
    assert wait_for_progress(proc, out, 0)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    for line in proc.stderr:  # the handler has run once it printed this
        if "stopping after the files in flight" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "stopping now" in err and "Traceback" not in err
    with sqlite3.connect(journal_path(out)) as conn:
        counts = dict(conn.execute("SELECT status, count(*) FROM files GROUP BY status"))
    assert "running" not in counts and counts["pending"] > 0
    assert len(outputs(out)) == counts["done"]
