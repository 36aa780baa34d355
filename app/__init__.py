"""Patina: offline photo restoration."""

import os

__version__ = "0.1.0"

# OpenMP threads that sleep when idle instead of spinning (set before torch starts its
# thread pool; an explicit OMP_WAIT_POLICY wins). With the default spin-wait a 2-thread
# restore ran 3-5x slower whenever anything else used a core (docs/throughput.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
