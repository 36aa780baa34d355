"""GUI test fixtures: offscreen Qt, a fake service registry, a window, leak checks."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.ui.fakes import FAKE_INFOS  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _fake_list(task: str | None = None) -> list:
    return [i for i in FAKE_INFOS if task is None or i.task == task]


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Restore panel lists the fake services only (the real registry may change)."""
    try:
        from app.ml import registry
    except ImportError:
        registry = types.ModuleType("app.ml.registry")
        monkeypatch.setitem(sys.modules, "app.ml.registry", registry)
        import app.ml

        monkeypatch.setattr(app.ml, "registry", registry, raising=False)
    monkeypatch.setattr(registry, "list_services", _fake_list, raising=False)
    monkeypatch.setattr(registry, "default_method", lambda task: "invert", raising=False)


@pytest.fixture(autouse=True)
def autosave_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "autosave"
    monkeypatch.setenv("PATINA_AUTOSAVE_DIR", str(folder))
    return folder


@pytest.fixture
def sample_path() -> Path:
    path = SAMPLES / "chelsea.png"
    if not path.exists():
        pytest.skip("sample images are missing")
    return path


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator:  # noqa: ANN001
    """A MainWindow with its own settings file; checks no job or widget outlives it."""
    from PySide6.QtCore import QSettings

    from app.ui.app import style
    from app.ui.main_window import MainWindow
    from app.workers.pool import WorkerPool

    style(qtbot_app())
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.confirm = False
    win.restore_panel.live.setChecked(False)  # tests ask for previews explicitly
    qtbot.addWidget(win)
    win.resize(1100, 750)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.shutdown()
    assert not win.pool.active_jobs(), "a job outlived its test"
    for dialog in list(win.errors):
        dialog.close()
    win.close()
    assert all(not pool.is_busy() for pool in WorkerPool.live_pools())


def qtbot_app():  # noqa: ANN201
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert app is not None
    return app


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp) -> Iterator[None]:  # noqa: ANN001
    """Fail a test that leaves a visible top-level widget behind."""
    yield
    qapp.processEvents()
    leaked = [w for w in qapp.topLevelWidgets() if w.isVisible()]
    for widget in leaked:
        widget.close()
    assert not leaked, f"widgets left open: {leaked}"


def rng_image(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)
