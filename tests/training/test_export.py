"""Export of a (tiny) VDIR run: weights + manifest entry + card, loadable by the service;
the one ``python -m app.training.export`` command line; the VDIR model evaluator."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.core.progress import drive
from app.evaluation.vdir import ZeroLatentService, mean_rows, parser, run_all, service_for
from app.ml.services.vdir import VDIRService
from app.training.export import export_run
from app.training.export import main as export_main
from app.training.export.files import update_manifest
from app.training.loop import train
from tests.training.test_loop import data_dir, tiny_config  # noqa: F401


def test_export_writes_weights_manifest_and_card(tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    run = tmp_path / "run"
    train(tiny_config().with_overrides(steps=1), data_dir, run)
    (run / "metrics.json").write_text(json.dumps({"CBSD68 sigma 25": {"psnr": 30.0}}))
    models = tmp_path / "models"
    update_manifest(models, {"id": "other", "task": "upscale"})
    entry = export_run(run, "vdir-tiny", "denoise", models_dir=models)
    manifest = json.loads((models / "manifest.json").read_text())
    assert [m["id"] for m in manifest["models"]] == ["other", "vdir-tiny"]
    assert entry["metrics"]["CBSD68 sigma 25"]["psnr"] == 30.0
    assert entry["macs_per_pixel"] > 0 and entry["training"]["steps"] == 1
    assert "30" in (models / "vdir-tiny.md").read_text()
    service = service_for(models / "vdir-tiny.safetensors", "cpu")
    assert service.info.task == "denoise"
    img = np.full((20, 24, 3), 0.5, np.float32)
    assert drive(service.run(img)).shape == img.shape


def test_mean_rows() -> None:
    rows = [{"psnr": 30.0, "ssim": 0.8}, {"psnr": 32.0, "ssim": 0.9}]
    assert mean_rows(rows) == {"psnr": 31.0, "ssim": 0.85}


def test_naive_blind_export_restores_with_a_zero_latent(tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    run = tmp_path / "run"
    train(tiny_config().with_overrides(steps=1, use_vae=False), data_dir, run)
    export_run(run, "naive", "denoise", models_dir=tmp_path, manifest=False)
    service = service_for(tmp_path / "naive.safetensors", "cpu")
    assert isinstance(service, ZeroLatentService)
    img = np.random.default_rng(0).random((22, 26, 3), dtype=np.float32)
    zeros = np.zeros((6, 7, service.model.cfg.latent), np.float32)
    assert np.array_equal(drive(service.run(img)), drive(service.restore(img, zeros)))
    own = drive(VDIRService(service.entry, "cpu").run(img))
    assert not np.array_equal(own, drive(service.run(img)))  # the encoder's c is not zero


@pytest.fixture
def eval_args(tmp_path: Path, data_dir: Path) -> list[str]:  # noqa: F811
    """``--model`` (a one-step tiny export) and ``--data`` arguments of the evaluator."""
    run = tmp_path / "run"
    train(tiny_config().with_overrides(steps=1), data_dir, run)
    export_run(run, "tiny", "denoise", models_dir=tmp_path, manifest=False)
    return ["--model", str(tmp_path / "tiny.safetensors"), "--data", str(data_dir / "nested")]


def test_evaluate_scores_specs_and_baselines_on_the_same_inputs(eval_args: list[str]) -> None:
    args = [*eval_args, "--sigma", "25", "--spec", "sigma=25", "--baseline", "denoise/gaussian"]
    out = run_all(parser().parse_args(args))
    assert set(out) == {"nested sigma 25", "nested sigma=25", "nested sigma 25 [denoise/gaussian]",
                        "nested sigma=25 [denoise/gaussian]"}  # fmt: skip
    assert out["nested sigma 25"] == out["nested sigma=25"]  # same spec, same seeds
    same_input = {row["input_psnr"] for row in out.values()}
    assert len(same_input) == 1
    assert out["nested sigma 25"]["psnr"] != out["nested sigma 25 [denoise/gaussian]"]["psnr"]


def test_evaluate_ensemble_rows_score_the_same_inputs(eval_args: list[str]) -> None:
    out = run_all(parser().parse_args([*eval_args, "--sigma", "25", "--ensemble", "2"]))
    assert set(out) == {"nested sigma 25", "nested sigma 25 [ensemble 2]"}
    plain, ensemble = out["nested sigma 25"], out["nested sigma 25 [ensemble 2]"]
    assert plain["input_psnr"] == ensemble["input_psnr"]
    assert plain["psnr"] != ensemble["psnr"]


def test_export_command_replaces_the_entry_keeps_notes_and_mode_644(
    tmp_path: Path,
    data_dir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, models = tmp_path / "run", tmp_path / "models"
    train(tiny_config().with_overrides(steps=1), data_dir, run)
    (run / "card_notes.md").write_text("## Notes\n\nmeasured here\n")
    argv = [str(run), "--id", "tiny", "--task", "denoise", "--models", str(models)]
    assert export_main(argv) == 0
    assert export_main([*argv, "--steer-noise", "camera"]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert printed["id"] == "tiny" and printed["weights_dtype"] in ("float16", "float32")
    (entry,) = json.loads((models / "manifest.json").read_text())["models"]
    assert entry["steer_noise"] == "camera" and entry["method"] == "vdir"
    assert (models / "tiny.safetensors").stat().st_mode & 0o777 == 0o644
    assert "measured here" in (models / "tiny.md").read_text()


def test_export_command_refuses_what_does_not_apply(
    tmp_path: Path,
    data_dir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, models = tmp_path / "run", str(tmp_path / "models")
    train(tiny_config().with_overrides(steps=1), data_dir, run)
    assert export_main([str(run), "--id", "x", "--models", models]) == 2  # VDIR: --task needed
    est = ["--est", str(run)]
    assert export_main([str(run), "--id", "x", "--task", "denoise", *est, "--models", models]) == 2
    assert export_main([str(data_dir), "--id", "x", "--task", "denoise", "--models", models]) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and "--task is needed" in errors[0]
    assert not (tmp_path / "models").exists()
