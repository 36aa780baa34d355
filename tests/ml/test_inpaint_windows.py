"""Inpainting computed only around the holes (app/ml/services/inpaint.py: hole_windows,
predict_windowed) equals the whole-tile computation."""

import numpy as np
import pytest
import torch

from app.ml.archs.inpaint import InpaintConfig, InpaintNet, build, pad_inputs
from app.ml.dlnet import dlnet_forward
from app.ml.services.inpaint import hole_windows, predict, predict_windowed, window_margin

TOLERANCE = 1e-4  # on the 0..1 scale; measured 0 to 4e-7 (float rounding)


def lines_net(prefill: str = "harmonic") -> InpaintNet:
    """A random "lines" network whose z layer is not zero (so the mixture is uneven)."""
    torch.manual_seed(0)
    cfg = InpaintConfig(
        widths=(8, 8, 8, 8), dilations=(2,), z_channels=13, head="lines", prefill=prefill,
        z_scale=50.0, mix_sigma=3.0,
    )  # fmt: skip
    net = build(cfg).eval()
    torch.nn.init.normal_(net.g.z.conv.weight, std=0.05)
    return net.requires_grad_(False)


def scratched(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    y = torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32))
    m = torch.zeros(1, 1, h, w)
    m[..., 10:13, 5 : w // 2] = 1.0  # a horizontal scratch
    m[..., h - 20 : h - 17, w - 20 : w - 15] = 1.0  # a speck far from it
    m[..., 30:70, 60:62] = 1.0  # a vertical hair
    m[..., torch.from_numpy(rng.random((h, w)) > 0.999)] = 1.0
    return y, m


def whole_tile(net: InpaintNet, y: torch.Tensor, m: torch.Tensor, k: int) -> torch.Tensor:
    return net.for_composite(dlnet_forward(*net.parts(y, m), y, m, k, 1e-3), y, m)


@pytest.mark.parametrize("prefill", ["harmonic", "telea"])
@pytest.mark.parametrize("k", [1, 5])
def test_windowed_prediction_equals_the_whole_tile(prefill: str, k: int) -> None:
    net = lines_net(prefill)
    y, m = scratched(96, 128, 0)
    yp, mp, _ = pad_inputs(y, m)
    want = whole_tile(net, yp, mp, k)
    got = predict_windowed(net, yp, mp, k, 1e-3)
    assert len(hole_windows(mp[0, 0].numpy() > 0, net.cfg.ring, window_margin(net))) > 1
    assert float((got - want).abs().max()) <= TOLERANCE
    assert torch.equal(got[(mp == 0).expand_as(got)], yp[(mp == 0).expand_as(yp)])


def test_predict_uses_the_windows_for_the_lines_head(monkeypatch: pytest.MonkeyPatch) -> None:
    net = lines_net()
    y, m = scratched(64, 80, 1)
    calls: list[int] = []

    def counted(*args: object) -> torch.Tensor:
        calls.append(1)
        return predict_windowed(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("app.ml.services.inpaint.predict_windowed", counted)
    out = predict(net, y[0].permute(1, 2, 0).numpy(), m[0, 0].numpy(), 3, 1e-3)
    assert calls and out.shape == (64, 80, 3)


def test_windows_hold_the_grown_hole_with_a_margin() -> None:
    rng = np.random.default_rng(2)
    hole = rng.random((120, 150)) > 0.998
    hole[40:43, 20:100] = True
    ring, margin = 4, 9
    windows = hole_windows(hole, ring, margin)
    grown = np.zeros_like(hole)
    for r, c in zip(*np.nonzero(hole), strict=True):
        grown[max(r - ring, 0) : r + ring + 1, max(c - ring, 0) : c + ring + 1] = True
    owner = np.zeros(hole.shape, int)
    for y0, y1, x0, x1 in windows:
        owner[y0:y1, x0:x1] += 1
        inner = grown[y0:y1, x0:x1].copy()
        top, left = (margin if y0 > 0 else 0), (margin if x0 > 0 else 0)
        bottom, right = (margin if y1 < 120 else 0), (margin if x1 < 150 else 0)
        inner[top : inner.shape[0] - bottom, left : inner.shape[1] - right] = False
        assert not inner.any()  # nothing of the grown hole within the margin
    assert owner.max() == 1  # disjoint
    assert np.all(owner[grown] == 1)


def test_no_hole_no_window() -> None:
    assert hole_windows(np.zeros((20, 30), bool), 4, 5) == []
