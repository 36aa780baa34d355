"""One training command line: ``patina train`` accepts every config in ``configs/`` (the
task table picks the loop), rejects bad ones in one line with exit code 2, and trains a
tiny VDIR and a tiny mask-loop model for two steps; the old entry points stay aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main as patina
from app.training import mask_loop, tasks, train_command
from app.training.config import TASKS as VDIR_TASKS
from tests.ml.test_vdir import TINY

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.json"))
TINY_RUN = {"patch": 32, "batch": 2, "steps": 5, "warmup": 1, "val_images": 1,
            "val_crop": 32, "log_every": 1, "val_every": 2}  # fmt: skip
TINY_DETECT = {"task": "detect", "arch": {"widths": [4, 4, 4], "dilations": [2]}, **TINY_RUN}
TINY_VDIR = {"task": "denoise", "arch": TINY.to_dict(), **TINY_RUN}


def write_config(folder: Path, data: object) -> Path:
    """``data`` as ``folder/config.json``."""
    path = folder / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_configs_are_there() -> None:
    assert len(CONFIGS) > 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_is_accepted(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert patina(["train", str(path), "--check", "--device", "cpu", "--out", str(out)]) == 0
    task = json.loads(path.read_text())["task"]
    loop = "VDIR" if task in VDIR_TASKS else "mask"
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and f"task {task} -> {loop} loop" in line
    assert not out.exists()  # --check writes nothing


def test_task_table_covers_both_loops() -> None:
    assert set(tasks.TASKS) == set(VDIR_TASKS) | set(mask_loop.MASK_TASKS)
    assert tasks.loop_for("denoise").module == "app.training.loop"
    assert tasks.loop_for("inpaint").module == "app.training.mask_loop"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "paint"}, "unknown training task 'paint'"),
        ({"steps": 3}, "unknown training task None"),
        ({"task": "denoise", "colour": 1}, "unknown training config keys: colour"),
        ([1, 2], "is not a JSON object"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    data: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert patina(["train", str(write_config(tmp_path, data)), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("patina train: error: ") and message in err


@pytest.mark.parametrize(
    ("config", "option", "message"),
    [(TINY_DETECT, ["--init", "w.safetensors"], "--init is not supported by the mask loop"),
     (TINY_DETECT, ["--device", "gpu"], "unknown device"),
     (TINY_VDIR, ["--time", "2"], "--time is not supported by the VDIR loop"),
     (TINY_VDIR, ["--init", "missing.safetensors"], "--init weights not found")],
)  # fmt: skip
def test_options_a_loop_cannot_take_are_user_errors(
    config: dict[str, object],
    option: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert patina(["train", str(write_config(tmp_path, config)), "--check", *option]) == 2
    assert message in capsys.readouterr().err


def run_summary(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """The JSON summary the trainer printed last."""
    summary: dict[str, object] = json.loads(capsys.readouterr().out.splitlines()[-1])
    return summary


@pytest.mark.parametrize("config", [TINY_VDIR, TINY_DETECT], ids=["vdir", "detect"])
def test_two_steps_through_patina_train(
    config: dict[str, object], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, run = write_config(tmp_path, config), tmp_path / "run"
    argv = [str(path), "--data", str(data_dir), "--out", str(run), "--steps", "2"]
    assert patina(["train", *argv, "--device", "cpu", "--threads", "1"]) == 0
    assert run_summary(capsys)["step"] == 2
    info = json.loads((run / "run_info.json").read_text())
    assert info["command"].startswith(f"patina train {path}") and info["device"].startswith("cpu")
    assert (run / "config.json").is_file() and (run / "log.jsonl").is_file()


def test_old_entry_points_are_aliases(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, run = write_config(tmp_path, TINY_DETECT), tmp_path / "run"
    argv = [str(path), "--data", str(data_dir), "--out", str(run)]
    assert mask_loop.main([*argv, "--steps", "1"]) == 0
    resumed = [*argv, "--steps", "2", "--resume", "--threads", "1"]
    assert train_command.main(resumed, prog="python -m app.training") == 0
    assert run_summary(capsys)["step"] == 2
    info = json.loads((run / "run_info.json").read_text())
    assert info["command"].startswith("python -m app.training.mask_loop ")
    assert info["later_commands"][0].startswith("python -m app.training ")
    assert mask_loop.main([str(write_config(tmp_path, TINY_VDIR)), "--check"]) == 0
