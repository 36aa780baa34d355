"""A run's ``metrics.json``: evaluation results kept next to the checkpoint.

``python -m app.evaluation.{vdir,inpaint,detect} ... --run RUN`` merge their results
here; ``python -m app.training.export RUN ...`` copies the file into the manifest entry
and the model card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"


def merge_metrics(run_dir: str | Path, results: dict[str, Any]) -> Path:
    """Update ``run_dir/metrics.json`` with ``results`` (top-level keys replaced, others
    kept); returns the file's path."""
    path = Path(run_dir) / METRICS_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(results)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
