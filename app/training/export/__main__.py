"""``python -m app.training.export RUN --id ID --task TASK``: see :mod:`.command`."""

from __future__ import annotations

import sys

from app.training.export.command import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
