"""The bad-file corpus (tests/e2e/bad_files_corpus.py) through ``patina restore`` and
``patina batch``: every case ends in a one-line message (exit 2; batch: exit 3 with the
file reported failed) or a correct result; never a traceback; inputs byte-identical; no
partial output or temp file left. Hostile model and recipe files end in a clear error
without running code. A few cases run in a subprocess to see the real stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import InvalidInputError
from app.ml.services.base import ParamSpec
from tests.e2e.bad_files_corpus import (
    CASES,
    RESTORE_ARGS,
    Case,
    NotPossibleHere,
    Run,
    call,
    prepare,
    rgb_png,
    run_batch,
    run_restore,
    snapshot,
)
from tests.e2e.hostile_files import (
    MODEL_CASES,
    RECIPE_CASES,
    ModelCase,
    RecipeCase,
    run_model,
    run_recipe,
)

ROOT = Path(__file__).resolve().parents[2]
BY_NAME = {case.name: case for case in CASES}


def attempt(run: object, *args: object) -> Run:
    try:
        return run(*args)  # type: ignore[operator,no-any-return]
    except NotPossibleHere as err:
        pytest.skip(str(err))


def assert_words(run: Run, words: tuple[str, ...], root: Path) -> None:
    """Each of ``words`` is in the message, not counting the paths under ``root``."""
    message = run.summary(root)
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_restore(case: Case, tmp_path: Path) -> None:
    run = attempt(run_restore, case, tmp_path)
    assert not run.problems, run.problems
    if case.expect == "ok":
        assert run.code == 0, run.stderr
    else:
        assert run.code == 2, run.stderr
        assert_words(run, case.words, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_batch(case: Case, tmp_path: Path) -> None:
    run = attempt(run_batch, case, tmp_path)
    assert not run.problems, run.problems
    expect = case.batch_expect or case.expect
    want = {"ok": 0, "nothing": 0, "failed": 3, "error": 2}[expect]
    assert run.code == want, run.stderr
    if expect in ("failed", "error"):
        assert_words(run, case.batch_words or case.words, tmp_path)


def test_leading_dash_name_gets_a_hint_and_both_ways_work(tmp_path: Path) -> None:
    """``-x.png`` alone is read as an option: the message says to write ./-x.png or use
    ``--``; both then restore the file."""
    src = prepare(BY_NAME["-x.png"], tmp_path)
    code, _, err = call(["restore", "-x.png", "-o", "a.png", *RESTORE_ARGS], src.parent)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "./-x.png" in err and "after --" in err
    for argv in (["./-x.png", "-o", "b.png"], ["-o", "c.png", "--", "-x.png"]):
        code, _, err = call(["restore", *RESTORE_ARGS, *argv], src.parent)
        assert code == 0, err
    assert {"a.png", "b.png", "c.png"} & set(os.listdir(src.parent)) == {"b.png", "c.png"}


def test_an_input_folder_is_left_exactly_as_it_was(tmp_path: Path) -> None:
    """A batch over many bad files at once: every input byte-identical, no temp files."""
    folder = tmp_path / "in"
    for case in CASES:
        if case.where == "normal":
            prepare(case, tmp_path)
    before = snapshot(folder)
    code, _, err = call(["batch", str(folder), str(tmp_path / "out"), *RESTORE_ARGS])
    assert code == 3 and "Traceback" not in err
    assert snapshot(folder) == before
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("command", ["restore", "batch"])
def test_hostile_model_file(case: ModelCase, command: str, tmp_path: Path) -> None:
    run = run_model(case, tmp_path, command)
    assert not run.problems, run.problems
    assert run.code == (3 if command == "batch" and "unknown method" not in case.words else 2)
    assert_words(run, case.words, tmp_path)


@pytest.mark.parametrize("case", RECIPE_CASES, ids=lambda c: c.id)
def test_hostile_recipe(case: RecipeCase, tmp_path: Path) -> None:
    run = run_recipe(case, tmp_path)
    assert not run.problems, run.problems
    assert_words(run, case.words, tmp_path)


def test_param_spec_refuses_nan_and_infinite_integers() -> None:
    with pytest.raises(InvalidInputError, match="number"):
        ParamSpec("sigma", 10.0, 0.0, 100.0).validate(float("nan"))
    with pytest.raises(InvalidInputError, match="quality"):
        ParamSpec("quality", 50, 1, 100).validate(float("inf"))


# ----------------------------------------------------------------- real stderr, real exit


def patina(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


SUBPROCESS_CASES = ["cut10.tif", "cut16.png", "bomb225.png", "cut-data.jpg", "text.png"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_subprocess_error_is_one_line(name: str, tmp_path: Path) -> None:
    src = prepare(BY_NAME[name], tmp_path)
    proc = patina("restore", src, "-o", tmp_path / "out.png", *RESTORE_ARGS, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("patina: error: "), proc.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name", ["nan.tif", "exif70k.png", "orient6.jpg"])
def test_subprocess_result_without_traceback(name: str, tmp_path: Path) -> None:
    case = BY_NAME[name]
    src = prepare(case, tmp_path)
    out = tmp_path / case.output_name()
    proc = patina("restore", src, "-o", out, *RESTORE_ARGS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert out.is_file()


def test_subprocess_batch_reports_the_bad_file(tmp_path: Path) -> None:
    for name in ("cut10.tif", "bomb.png", "one.png"):
        prepare(BY_NAME[name], tmp_path)
    proc = patina("batch", tmp_path / "in", tmp_path / "out", *RESTORE_ARGS, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    failed = [line for line in proc.stderr.splitlines() if line.startswith("patina: failed:")]
    assert len(failed) == 2 and (tmp_path / "out" / "one_restored.png").is_file()


def test_subprocess_pickle_model_runs_no_code(tmp_path: Path) -> None:
    case = next(c for c in MODEL_CASES if "pickle" in c.label)
    case.install(tmp_path / "models")
    (tmp_path / "photo.png").write_bytes(rgb_png())
    env_root = {"PATINA_MODELS_DIR": str(tmp_path / "models")}
    os.environ.update(env_root)
    try:
        proc = patina("restore", "photo.png", "-o", "out.png", "--task", "denoise",
                      "--method", "bad", cwd=tmp_path)  # fmt: skip
    finally:
        del os.environ["PATINA_MODELS_DIR"]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "not a readable safetensors file" in proc.stderr
    assert not list(tmp_path.rglob("unpickled.txt"))
