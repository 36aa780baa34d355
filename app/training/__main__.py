"""``python -m app.training CONFIG [--data DIR] [--out DIR] [--steps N] [--resume] [--init W]``.

OpenMP threads are set to wait passively (unless the caller chose otherwise): on a
small shared CPU, spinning threads slow training several-fold when other jobs run.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from app.training.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
