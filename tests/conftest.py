"""Shared test fixtures: bundled sample images and a seeded random generator."""

import gc
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # GUI tests never open a window

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.fixture(autouse=True)
def collect_garbage_on_the_main_thread():  # noqa: ANN201
    """No automatic cyclic GC during a test: it could run in a worker thread and destroy a
    Qt object there (the app does the same, see app/ui/gc_guard.py); collect afterwards,
    here, on the main thread."""
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture
def sample_path() -> Callable[[str], Path]:
    """``sample_path("chelsea.png")`` -> the path of a file in resources/samples."""

    def path(name: str) -> Path:
        found = SAMPLES / name
        if not found.is_file():
            raise FileNotFoundError(f"no sample {name!r} in {SAMPLES}")
        return found

    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A NumPy generator seeded with 0."""
    return np.random.default_rng(0)
