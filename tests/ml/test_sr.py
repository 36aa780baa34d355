"""DL-Net super-resolution on tiny random weights: the degradation twin, refinement,
sizes, seam-free tiling, the untrained net = bicubic, service, CLI and eval plumbing."""

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
from app.core.degradations import DegradationSpec
from app.core.progress import drive
from app.evaluation.protocol import EvalSetup, service_params
from app.ml import registry
from app.ml.archs.sr import SRConfig, SRNet, build
from app.ml.dlnet import fidelity, refine
from app.ml.dlnet_sr import upscale_luma
from app.ml.loading import MODELS_ENV
from app.ml.services import upscale as svc
from app.ml.sr_ops import bicubic_up, degrade_sr, rgb_to_ycc, ycc_to_rgb

TINY = SRConfig(width=8, blocks=1, cond_hidden=8, est_width=4, est_layers=1)


def tiny_net(seed: int = 0) -> SRNet:
    """A tiny SRNet whose tails are not zero (so it differs from bicubic)."""
    torch.manual_seed(seed)
    net = build(TINY.to_dict())
    for tail in net.tails.values():
        torch.nn.init.normal_(tail.conv.weight, std=0.05)
    for block in net.g.body:
        torch.nn.init.normal_(block.c2.weight, std=0.1)
    return net.eval().requires_grad_(False)


def smooth_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.random((*shape, 3)).astype(np.float32)
    return D.gaussian_blur(img, 1.5)


@dataclass(frozen=True)
class Entry:
    id: str = "tiny-sr"
    task: str = "upscale"
    file: str = ""
    title: str = "Tiny SR"


class TinySR(svc.UpscaleService):
    def __init__(self) -> None:
        super().__init__(Entry(), device="cpu")
        self._model = tiny_net()

    @property
    def model(self) -> SRNet:
        return self._model


@pytest.mark.parametrize("u", [0.0, 0.7, 1.3, 2.6, 3.0])
@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_torch_operator_matches_the_numpy_degradation(u: float, s: int) -> None:
    img = smooth_image((49, 38), seed=int(10 * u) + s)
    ref = D.downscale(D.gaussian_blur(img, u) if u > 0 else img, s)
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    out = degrade_sr(x, u, s)[0].numpy().transpose(1, 2, 0)
    assert out.shape == ref.shape
    np.testing.assert_allclose(np.clip(out, 0, 1), ref, atol=1e-5)


def test_operator_takes_one_blur_per_image() -> None:
    x = torch.rand(2, 1, 24, 24)
    both = degrade_sr(x, torch.tensor([0.0, 2.0]), 2)
    torch.testing.assert_close(both[:1], degrade_sr(x[:1], 0.0, 2))
    torch.testing.assert_close(both[1:], degrade_sr(x[1:], 2.0, 2))


def test_colour_conversion_round_trips() -> None:
    x = torch.rand(1, 3, 5, 7)
    torch.testing.assert_close(ycc_to_rgb(rgb_to_ycc(x)), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("s", [2, 3, 4])
def test_untrained_network_is_bicubic(s: int) -> None:
    torch.manual_seed(0)
    net = build(TINY.to_dict()).eval()
    y = torch.rand(1, 1, 13, 11)
    out = upscale_luma(net, y, torch.tensor([1.0]), s, k=5)
    assert out.shape == (1, 1, 13 * s, 11 * s)
    torch.testing.assert_close(out, bicubic_up(y, s))


@pytest.mark.parametrize("u", [0.0, 2.0])
def test_refinement_lowers_the_fidelity(u: float) -> None:
    net = tiny_net()
    y = torch.rand(1, 1, 16, 16)
    ut = torch.tensor([u])
    g, h = net.parts(y, ut, 2)

    def op(x: torch.Tensor) -> torch.Tensor:
        return degrade_sr(x, ut, 2)

    z0 = g().detach()
    z = refine(h, z0, y, None, k=5, gamma=1e-2, operator=op)
    with torch.no_grad():
        assert fidelity(h(z), y, None, op) < fidelity(h(z0), y, None, op)


def test_refine_without_operator_is_still_the_masked_fidelity() -> None:
    x, y = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    known = (torch.rand(1, 1, 4, 4) > 0.5).float()
    assert torch.isclose(fidelity(x, y, known), (known * (x - y)).pow(2).sum())


def test_unrolled_training_step_reaches_the_trunk() -> None:
    torch.manual_seed(0)
    net = build(TINY.to_dict())
    torch.nn.init.normal_(net.tails["2"].conv.weight, std=0.05)
    y, x = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 16, 16)
    out = upscale_luma(net, y, torch.tensor([0.0, 1.0]), 2, 5, create_graph=True)
    (out - x).abs().mean().backward()
    assert net.g.head.weight.grad is not None and net.g.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_service_output_is_exactly_scale_times(scale: int) -> None:
    img = smooth_image((23, 30))
    out = drive(TinySR().run(img, params={"scale": scale, "blur": 1.0, "k": 2}))
    assert out.shape == (23 * scale, 30 * scale, 3) and out.dtype == np.float32


def test_tiled_equals_untiled() -> None:
    img = smooth_image((150, 140), seed=3)
    service = TinySR()
    params = {"scale": 2, "blur": 1.3, "k": 3}
    whole = drive(service.run(img, params=params, tile=512))
    tiled = drive(service.run(img, params=params, tile=80))
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_blind_path_estimates_and_names_the_blur() -> None:
    service = TinySR()
    drive(service.run(smooth_image((32, 32)), params={"scale": 2}))
    assert service.last_blur == 0.0 and "given" in service.run_note  # default: sharp
    drive(service.run(smooth_image((32, 32)), params={"scale": 2, "blur": -1}))
    assert service.last_blur is not None and 0.0 <= service.last_blur <= 3.0
    assert "estimated" in service.run_note
    drive(service.run(smooth_image((32, 32)), params={"scale": 2, "blur": 0.5}))
    assert service.last_blur == 0.5 and "given" in service.run_note


def test_eval_hands_a_zero_blur_to_the_service() -> None:
    setup = EvalSetup("upscale", DegradationSpec.parse("scale=2"))
    assert service_params(TinySR(), setup) == {"scale": 2, "blur": 0.0}
    blind = EvalSetup("upscale", DegradationSpec.parse("scale=2"), params={"blur": -1})
    assert service_params(TinySR(), blind)["blur"] == -1


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder holding the tiny network as the default upscaler."""
    folder = tmp_path / "models"
    folder.mkdir()
    net = tiny_net()
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(tensors, str(folder / "tiny-sr.safetensors"),
              metadata={"arch": json.dumps(TINY.to_dict())})  # fmt: skip
    entry = {"id": "tiny-sr", "task": "upscale", "method": "dlnet", "arch": "dlnet-sr",
             "file": "tiny-sr.safetensors", "title": "Tiny SR",
             "config": TINY.to_dict()}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv(MODELS_ENV, str(folder))
    svc._CACHE.clear()
    return folder


def test_registry_makes_it_the_default_upscaler(models: Path) -> None:
    assert registry.default_method("upscale") == "dlnet"
    info = registry.create_service("upscale", device="cpu").info
    assert {p.name for p in info.params} == {"scale", "blur", "k", "gamma"}


@pytest.mark.parametrize("blur", [None, "1.3", "-1"])
def test_cli_restore_16_bit_with_and_without_blur(
    models: Path, tmp_path: Path, blur: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    img = smooth_image((20, 26))
    image_io.save(src, img, bit_depth=16)
    extra = ["--blur", blur] if blur else []
    args = ["restore", str(src), "-o", str(dst), "--task", "upscale", "--scale", "3", *extra]
    assert cli.main(args) == 0
    line = capsys.readouterr().out
    assert "upscale/dlnet" in line
    expected = {None: "blur 0 px (given)", "1.3": "blur 1.3 px (given)", "-1": "estimated"}
    assert expected[blur] in line, line
    out = image_io.load(dst)
    assert out.pixels.shape == (60, 78, 3)
    assert out.meta.bit_depth == 16
