"""Mask-task training (inpainting with unrolled DL-Net, detection): a few steps on tiny
models, resume from the safetensors checkpoint, export with manifest entry and card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.training import mask_loop
from app.training.export import export_run
from app.training.export import main as export_main

TINY_ARCH = {
    "inpaint": {"widths": [4, 4, 8, 8], "dilations": [2], "z_channels": 4},
    "detect": {"widths": [4, 4, 4], "dilations": [2]},
}


def _cfg(task: str, steps: int) -> mask_loop.MaskTaskConfig:
    return mask_loop.MaskTaskConfig.from_dict({
        "task": task, "arch": TINY_ARCH[task], "patch": 32, "batch": 2, "steps": steps,
        "warmup": 1, "val_images": 1, "val_crop": 32, "log_every": 1, "val_every": 2,
        "k_train": 3, "data": {"hole_sizes": [8, 16]} if task == "inpaint" else {},
    })  # fmt: skip


@pytest.mark.parametrize("task", ["inpaint", "detect"])
def test_train_resume_export(task: str, data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = mask_loop.train(_cfg(task, 2), data_dir, run)
    assert first["step"] == 2
    resumed = mask_loop.train(_cfg(task, 3), data_dir, run, resume=True)
    assert resumed["step"] == 3
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any(k.startswith("val_") for rec in log for k in rec)
    models = tmp_path / "models"
    entry = export_run(run, f"tiny-{task}", models_dir=models)
    assert (models / f"tiny-{task}.safetensors").is_file()
    assert (models / f"tiny-{task}.md").read_text().startswith("# ")
    manifest = json.loads((models / "manifest.json").read_text())
    assert [m["id"] for m in manifest["models"]] == [f"tiny-{task}"]
    assert entry["training"]["steps"] == 3


def test_unknown_task_is_a_user_error() -> None:
    from app.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        mask_loop.MaskTaskConfig.from_dict({"task": "paint"})


def test_plain_steps_train_with_k1_then_unroll(data_dir: Path) -> None:
    import torch

    from app.training import inpaint_task

    seen: list[int] = []
    cfg = mask_loop.MaskTaskConfig.from_dict({
        **_cfg("inpaint", 3).to_dict(), "k_plain_steps": 2,
        "arch": {**TINY_ARCH["inpaint"], "prefill": "harmonic", "h_layers": 2, "z_scale": 10.0},
        "data": {"hole_sizes": [8, 16], "loss": "l2", "hole_weight": 20.0},
    })  # fmt: skip
    task = mask_loop.task_for("inpaint")
    state = mask_loop.new_state(cfg, task)
    bank, _ = mask_loop.split_bank(data_dir, 0)

    def spy(model: torch.nn.Module, batch: tuple, c: mask_loop.MaskTaskConfig) -> dict:
        seen.append(c.k_train)
        return inpaint_task.loss(model, batch, c)

    task = type("T", (), {"loss": staticmethod(spy)})()
    for _ in range(3):
        batch = inpaint_task.sample(bank, cfg, state.rng)
        terms = mask_loop.train_step(state, task, batch, cfg)  # type: ignore[arg-type]
        assert np.isfinite(terms["total"])
    assert seen == [1, 1, 3]


def test_weighted_l2_weights_the_hole() -> None:
    import torch

    from app.training.inpaint_task import weighted_l2

    x = torch.zeros(1, 3, 4, 4)
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2, :] = 1
    err_hole = x + m
    err_known = x + (1 - m)
    assert weighted_l2(err_hole, x, m, 9.0) > weighted_l2(err_known, x, m, 9.0)


def test_evaluate_inpaint_methods_and_k(data_dir: Path) -> None:
    import torch

    from app.evaluation import inpaint as ev
    from app.ml.archs.inpaint import build

    torch.manual_seed(0)
    net = build({**TINY_ARCH["inpaint"], "prefill": "harmonic", "h_layers": 2}).eval()
    net.requires_grad_(False)
    files = sorted(data_dir.iterdir())[:1]
    table = ev.evaluate(net, files, settings=("holes16",))
    methods = set(table["holes16"])
    assert methods == {"telea", "navier-stokes", "harmonic", "dlnet K=1", "dlnet K=5"}
    assert all(np.isfinite(v["psnr"]) for v in table["holes16"].values())


def test_lines_head_trains_unrolled_and_moves_g(data_dir: Path) -> None:
    """The "lines" head has no weights of its own: training through the unrolled
    refinement must reach g (its zero-initialised z layer moves)."""
    from app.training import inpaint_task

    lines = {"z_channels": 13, "prefill": "harmonic", "head": "lines", "z_scale": 500.0}
    arch = {**TINY_ARCH["inpaint"], **lines}
    cfg = mask_loop.MaskTaskConfig.from_dict({**_cfg("inpaint", 2).to_dict(), "arch": arch})
    task = mask_loop.task_for("inpaint")
    state = mask_loop.new_state(cfg, task)
    assert list(state.model.h.parameters()) == []
    bank, _ = mask_loop.split_bank(data_dir, 0)
    for _ in range(2):
        terms = mask_loop.train_step(state, task, inpaint_task.sample(bank, cfg, state.rng), cfg)
        assert np.isfinite(terms["total"])
    assert float(state.model.g.z.conv.weight.detach().abs().sum()) > 0


def test_export_command_takes_a_mask_run_with_or_without_task(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, models = tmp_path / "run", tmp_path / "models"
    mask_loop.train(_cfg("detect", 1), data_dir, run)
    base = [str(run), "--id", "det", "--models", str(models)]
    assert export_main(base) == 0
    assert export_main([*base, "--task", "detect", "--title", "Tiny detector"]) == 0
    (entry,) = json.loads((models / "manifest.json").read_text())["models"]
    assert entry["task"] == "detect" and entry["title"] == "Tiny detector"
    assert (models / "det.safetensors").stat().st_mode & 0o777 == 0o644
    assert export_main([*base, "--task", "inpaint"]) == 2
    assert export_main([*base, "--preview-for", "vdir-denoise"]) == 2
    assert export_main([*base, "--est", str(run)]) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
