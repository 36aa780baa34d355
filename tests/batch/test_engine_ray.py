"""The Ray engine on a local Ray instance (2 CPUs) writes exactly what the local one does.

Skipped when the optional ``ray`` package (``pip install -e .[cluster]``) is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
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


# Ray starts threads and signal handlers in the process that calls ray.init; they outlive
# ray.shutdown, so the Ray run happens in a child process and cannot disturb later tests.
RAY_CHILD = """
import json, sys
from pathlib import Path
from app.batch.inputs import resolve_source
from app.batch.recipe import Recipe
from app.batch.runner import BatchOptions, run_batch
from tests.batch.fakes import box_factory
source = resolve_source(Path(sys.argv[1]), recursive=True)
options = BatchOptions(engine="ray", workers=2)
summary = run_batch(source, Path(sys.argv[2]), Recipe("denoise", tile=128), options,
                    factory=box_factory)
print(json.dumps([summary.restored, summary.failed]))
"""


def run_ray_batch(source_root: Path, out: Path) -> tuple[int, int]:
    """(restored, failed) of a Ray-engine batch run in a fresh Python process."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", RAY_CHILD, str(source_root), str(out)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    restored, failed = json.loads(done.stdout.strip().splitlines()[-1])
    return restored, failed


def test_ray_engine_writes_the_same_outputs(tree: Tree, tmp_path: Path) -> None:
    originals = folder_hashes(tree.root)
    source = resolve_source(tree.root, recursive=True)
    run_batch(source, tmp_path / "local", RECIPE, BatchOptions(), factory=box_factory)
    assert run_ray_batch(tree.root, tmp_path / "ray") == (29, 1)
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    assert statuses(tmp_path / "ray") == statuses(tmp_path / "local")
    assert folder_hashes(tree.root) == originals
    with Journal.read_only(journal_path(tmp_path / "ray")) as journal:
        (failed,) = journal.rows("failed")
        assert failed.rel == "box2/corrupt.png" and failed.error
        assert journal.runs()[-1]["engine"] == "ray"
