"""`patina batch --param NAME=VALUE` types each value from the service's ParamSpecs, as
`patina restore` does: every VDIR and inpainting parameter, through the real command line
with tiny randomly initialised models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app import cli
from app.batch import runner
from app.batch.journal import Journal
from app.core.progress import Work
from app.ml.services.base import Service
from app.ml.services.specs import INPAINT_PARAMS, VDIR_PARAMS
from tests.batch.fakes import write_image
from tests.ml.test_inpaint import TinyInpaint
from tests.ml.tiny_vdir import tiny_service

# (parameter, text on the command line, the value the service gets)
VDIR_CASES = [
    ("latent_strength", "1", 1.0),
    ("latent_strength", "0.5", 0.5),
    ("seed", "1", 1),
    ("seed", "-1", -1),
    ("ensemble", "1", "1"),
    ("ensemble", "2", "2"),
    ("ensemble", "8", "8"),
    ("route", "full", "full"),  # "auto" needs a model with a pathfinder
]
INPAINT_CASES = [("k", "1", 1), ("k", "5", 5), ("gamma", "0", 0.0), ("gamma", "0.002", 0.002),
                 ("feather", "0", 0), ("feather", "1", 1)]  # fmt: skip


class AutoMaskInpaint(TinyInpaint):
    """The tiny inpainting model filling every pixel brighter than 0.9 (no mask file)."""

    def run(self, image: np.ndarray, **kwargs: Any) -> Work[np.ndarray]:
        kwargs["mask"] = (image.mean(axis=2) > 0.9).astype(np.float32)
        return super().run(image, **kwargs)


def tiny_factory(task: str, method: str | None, device: str) -> Service:
    """A tiny random VDIR (denoise) or inpainting model (inpaint)."""
    return AutoMaskInpaint() if task == "inpaint" else tiny_service(task)


@pytest.fixture(autouse=True)
def tiny_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "default_factory", tiny_factory)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_image(tmp_path / "in" / "a.png", 0, size=(24, 32))
    return tmp_path / "in"


def batch(folder: Path, out: Path, task: str, *params: str) -> int:
    argv = ["batch", str(folder), str(out), "--task", task, "-q", "--tile", "64"]
    for param in params:
        argv += ["--param", param]
    return cli.main(argv)


def journal_params(out: Path) -> dict[str, Any]:
    with Journal.read_only(out / "patina-batch.sqlite") as journal:
        recipe = journal.recipe()
        assert recipe is not None and journal.counts()["done"] == 1
        return recipe.params


def test_every_parameter_is_tested() -> None:
    assert {p.name for p in VDIR_PARAMS} == {c[0] for c in VDIR_CASES}
    assert {p.name for p in INPAINT_PARAMS} == {c[0] for c in INPAINT_CASES}


@pytest.mark.parametrize(("name", "text", "value"), VDIR_CASES)
def test_vdir_parameter(folder: Path, tmp_path: Path, name: str, text: str, value: Any) -> None:
    out = tmp_path / "out"
    assert batch(folder, out, "denoise", f"{name}={text}") == 0
    got = journal_params(out)[name]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("name", "text", "value"), INPAINT_CASES)
def test_inpaint_parameter(folder: Path, tmp_path: Path, name: str, text: str, value: Any) -> None:
    out = tmp_path / "out"
    assert batch(folder, out, "inpaint", f"{name}={text}") == 0
    got = journal_params(out)[name]
    assert got == value and type(got) is type(value)


def test_saved_recipe_and_resume_keep_the_types(folder: Path, tmp_path: Path) -> None:
    out, saved = tmp_path / "out", tmp_path / "r.json"
    argv = ["batch", str(folder), str(out), "--task", "denoise", "-q", "--param", "ensemble=1",
            "--param", "seed=3", "--save-recipe", str(saved)]  # fmt: skip
    assert cli.main(argv) == 0
    params = json.loads(saved.read_text())["params"]
    assert params["ensemble"] == "1" and params["seed"] == 3
    resume = ["batch", str(folder), str(out), "--resume", "-q", "--param", "ensemble=1"]
    assert cli.main(resume) == 0


def test_a_bad_value_is_a_user_error(folder: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    assert batch(folder, tmp_path / "out", "denoise", "ensemble=3") == 2
    assert "ensemble must be one of 1, 2, 4, 8" in capsys.readouterr().err
