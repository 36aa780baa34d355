"""`patina batch` on the command line (in-process, with a fake service)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import cli
from app.batch import runner
from tests.batch.fakes import box_factory, write_image


@pytest.fixture(autouse=True)
def fake_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "default_factory", box_factory)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, name in enumerate(("a.png", "sub/b.tif", "sub/c.jpg")):
        write_image(tmp_path / "in" / name, i)
    return tmp_path / "in"


def test_batch_report_and_rerun(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.html"
    argv = ["batch", str(folder), str(out), "--task", "denoise", "-r", "--report", str(report)]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "this run: 3 restored" in text and "3 - 3 done" in text
    assert (out / "sub" / "b_restored.tif").is_file() and report.is_file()
    assert cli.main(argv) == 0
    assert "this run: 0 restored" in capsys.readouterr().out


def test_resume_uses_the_journal_recipe(folder: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    out, saved = tmp_path / "out", tmp_path / "r.json"
    argv = ["batch", str(folder), str(out), "--task", "denoise", "--param", "radius=2",
            "--format", "png", "--save-recipe", str(saved)]  # fmt: skip
    assert cli.main(argv) == 0
    assert json.loads(saved.read_text())["params"] == {"radius": 2}
    assert cli.main(["batch", str(folder), str(out), "--resume", "-r"]) == 0
    assert (out / "sub" / "c_restored.png").is_file()
    assert cli.main(["batch", str(folder), str(out), "--resume", "--param", "radius=3"]) == 2
    assert "own recipe" in capsys.readouterr().err


def test_recipe_file(folder: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"task": "denoise", "pattern": "{stem}-clean{ext}"}))
    assert cli.main(["batch", str(folder), str(tmp_path / "out"), "--recipe", str(recipe)]) == 0
    assert (tmp_path / "out" / "a-clean.png").is_file()


def test_failures_give_exit_3(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (folder / "bad.png").write_bytes(b"nope")
    assert cli.main(["batch", str(folder), str(tmp_path / "out"), "--task", "denoise"]) == 3
    assert "failed: bad.png" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--resume"], "nothing to resume"),
        ([], "--task TASK or --recipe"),
        (["--task", "denoise", "--pattern", "x{ext}"], "{stem}"),
        (["--task", "denoise", "--param", "strength=1"], "no parameter strength"),
    ],
)
def test_user_errors(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                     args: list[str], words: str) -> None:  # fmt: skip
    assert cli.main(["batch", str(folder), str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("patina: error: ") and words in err and "\n" not in err
