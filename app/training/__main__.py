"""``python -m app.training CONFIG [...]``: the same trainer as ``patina train`` (any task).

OpenMP threads are set to wait passively (unless the caller chose otherwise): on a
small shared CPU, spinning threads slow training several-fold when other jobs run.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from app.training.train_command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m app.training"))
