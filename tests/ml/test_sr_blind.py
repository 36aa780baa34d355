"""Blind VDIR-SR upscaling service (app/ml/services/upscale_blind.py) on a tiny model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from app import cli
from app.core import degradations as D
from app.core import image_io
from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.ml.archs.vdir_sr import VDIRSR, VDIRSRConfig, build
from app.ml.loading import MODELS_ENV
from app.ml.services import upscale
from app.ml.services import upscale_blind as svc

TINY = VDIRSRConfig(width=8, blocks=1, latent=2, enc_width=4, sft_hidden=4, est_hidden=4)


def tiny_net(seed: int = 0) -> VDIRSR:
    """A tiny VDIR-SR whose tails, SFTs and blocks are not zero (so the latent matters)."""
    torch.manual_seed(seed)
    net = build(TINY.to_dict())
    for name, p in net.named_parameters():
        if name.startswith(("tails.", "body.", "encoder.")):
            torch.nn.init.normal_(p, std=0.3)
    return net.eval().requires_grad_(False)


@dataclass(frozen=True)
class Entry:
    id: str = "tiny-vdir-sr"
    task: str = "upscale"
    file: str = ""
    title: str = "Tiny blind SR"


class TinyBlind(svc.BlindUpscaleService):
    def __init__(self) -> None:
        super().__init__(Entry(), device="cpu")
        self._model = tiny_net()

    @property
    def model(self) -> VDIRSR:
        return self._model


def smooth_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    img = np.random.default_rng(seed).random((*shape, 3)).astype(np.float32)
    return D.gaussian_blur(img, 1.5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_is_exactly_scale_times(scale: int) -> None:
    out = drive(TinyBlind().run(smooth_image((23, 30)), params={"scale": scale}))
    assert out.shape == (23 * scale, 30 * scale, 3) and out.dtype == np.float32


def test_tiled_equals_untiled() -> None:
    img, service = smooth_image((150, 140), seed=3), TinyBlind()
    whole = drive(service.run(img, params={"scale": 2, "sharpen": 1.7}, tile=512))
    tiled = drive(service.run(img, params={"scale": 2, "sharpen": 1.7}, tile=80))
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_run_names_the_estimated_blur() -> None:
    service = TinyBlind()
    drive(service.run(smooth_image((32, 32)), params={"scale": 2}))
    assert service.last_blur is not None and "estimated" in service.run_note
    assert f"blur {service.last_blur:g} px" in service.run_note


def test_sharpen_moves_the_code_along_the_blur_direction() -> None:
    net = tiny_net()
    y = torch.rand(1, 1, 12, 10)
    mean, _ = net.encode(y)
    torch.testing.assert_close(svc.steered_code(net, y, 1.0), mean)
    blurrier, _ = net.encode(svc.blur(y, svc.STEER_BLUR))
    torch.testing.assert_close(svc.steered_code(net, y, 2.0), blurrier)
    torch.testing.assert_close(svc.steered_code(net, y, 0.0), 2 * mean - blurrier)


def test_sharpen_changes_the_result_and_one_is_neutral() -> None:
    img = np.random.default_rng(1).random((24, 24, 3)).astype(np.float32)
    service = TinyBlind()
    plain = drive(service.run(img, params={"scale": 2}))
    neutral = drive(service.run(img, params={"scale": 2, "sharpen": 1.0}))
    sharper = drive(service.run(img, params={"scale": 2, "sharpen": 2.5}))
    np.testing.assert_array_equal(plain, neutral)
    assert np.abs(sharper - plain).max() > 1e-4


def test_a_scale_the_model_lacks_is_a_clear_error() -> None:
    net = build({**TINY.to_dict(), "scales": [2]})
    service = TinyBlind()
    service._model = net.eval()
    with pytest.raises(InvalidInputError, match="scale 3"):
        drive(service.run(smooth_image((16, 16)), params={"scale": 3}))


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder with the tiny blind model beside the tiny DL-Net upscaler."""
    from tests.ml.test_sr import TINY as TINY_DLNET
    from tests.ml.test_sr import tiny_net as tiny_dlnet

    folder = tmp_path / "models"
    folder.mkdir()
    entries = []
    for net, arch, method, cfg in ((tiny_dlnet(), "dlnet-sr", "dlnet", TINY_DLNET.to_dict()),
                                   (tiny_net(), "vdir-sr", "vdir", TINY.to_dict())):  # fmt: skip
        name = f"tiny-{arch}.safetensors"
        tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
        save_file(tensors, str(folder / name), metadata={"arch": json.dumps(cfg)})
        entries.append({"id": f"tiny-{arch}", "task": "upscale", "method": method,
                        "arch": arch, "file": name, "title": arch, "config": cfg})  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"models": entries}))
    monkeypatch.setenv(MODELS_ENV, str(folder))
    upscale._CACHE.clear()
    return folder


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "upscale/vdir"),
        (["--blur", "0"], "upscale/dlnet"),
        (["--method", "dlnet"], "upscale/dlnet"),
    ],
)
def test_cli_without_blur_runs_the_blind_model(
    models: Path, tmp_path: Path, extra: list[str], expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    image_io.save(src, smooth_image((20, 26)), bit_depth=16)
    args = ["restore", str(src), "-o", str(dst), "--task", "upscale", "--scale", "2", *extra]
    assert cli.main(args) == 0
    line = capsys.readouterr().out
    assert expected in line, line
    assert ("estimated by the latent" in line) == (expected == "upscale/vdir")
    out = image_io.load(dst)
    assert out.pixels.shape == (40, 52, 3) and out.meta.bit_depth == 16
