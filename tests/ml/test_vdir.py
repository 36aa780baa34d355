"""VDIR architecture on tiny widths: shapes, determinism, latent round trip, MAC counting."""

import pytest
import torch
from torch import nn

from app.ml.archs.vdir import VDIR, VDIRConfig, build
from app.ml.macs import count_macs, count_params, macs_per_pixel

TINY = VDIRConfig(widths=(4, 8, 8), enc_blocks=(1, 1), mid_blocks=1, dec_blocks=(1, 1),
                  latent=4, enc_width=8, est_hidden=4, sft_hidden=4)  # fmt: skip


@pytest.fixture
def model() -> VDIR:
    torch.manual_seed(0)
    m = VDIR(TINY).eval()
    for p in m.parameters():  # zero-initialised scales would hide the restorer's output
        nn.init.normal_(p, std=0.1) if p.dim() > 1 else nn.init.uniform_(p, -0.1, 0.1)
    return m


@pytest.mark.parametrize(("h", "w"), [(17, 23), (32, 32), (5, 9), (1, 1)])
def test_shapes_for_odd_sizes(model: VDIR, h: int, w: int) -> None:
    y = torch.rand(2, 3, h, w)
    out = model(y, sample=False)
    lh, lw = -(-h // 4), -(-w // 4)
    assert out.restored.shape == (2, 3, h, w)
    assert out.decoded.shape == (2, 3, h, w)
    assert out.mean.shape == out.logvar.shape == out.latent.shape == (2, 4, lh, lw)
    assert out.estimate.shape == (2, 1, lh, lw)


def test_inference_is_deterministic_and_seeded_sample_differs(model: VDIR) -> None:
    y = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    a = model(y, sample=False).restored
    b = model(y, sample=False).restored
    assert torch.equal(a, b)
    s1 = model(y, sample=True, generator=torch.Generator().manual_seed(7)).restored
    s2 = model(y, sample=True, generator=torch.Generator().manual_seed(7)).restored
    assert torch.equal(s1, s2)
    assert not torch.allclose(s1, a)


def test_latent_round_trip_equals_forward(model: VDIR) -> None:
    y = torch.rand(1, 3, 19, 26)
    with torch.no_grad():
        mean, _ = model.encode(y)
        assert torch.equal(model.restore(y, mean), model(y, sample=False).restored)


def test_restore_rejects_a_latent_of_the_wrong_size(model: VDIR) -> None:
    with pytest.raises(ValueError, match="latent"):
        model.restore(torch.rand(1, 3, 16, 16), torch.zeros(1, 4, 3, 4))


@pytest.mark.parametrize(("conditioning", "sft_levels"), [("both", 5), ("sft", 5), ("concat", 0)])
def test_each_conditioning_feeds_the_latent_to_the_restorer(
    conditioning: str, sft_levels: int
) -> None:
    torch.manual_seed(0)
    m = VDIR(VDIRConfig(**{**TINY.to_dict(), "conditioning": conditioning})).eval()
    for p in m.parameters():
        nn.init.normal_(p, std=0.1) if p.dim() > 1 else nn.init.uniform_(p, -0.1, 0.1)
    assert len(m.restorer.sft) == sft_levels
    fuse_inputs = TINY.widths[2] + (TINY.latent if conditioning != "sft" else 0)
    assert m.restorer.fuse.in_channels == fuse_inputs
    y = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a = m.restore(y, torch.zeros(1, 4, 4, 4))
        b = m.restore(y, torch.ones(1, 4, 4, 4))
    assert not torch.allclose(a, b)


def test_unknown_conditioning_is_refused() -> None:
    with pytest.raises(ValueError, match="conditioning"):
        VDIRConfig(conditioning="film")


def test_config_round_trips_through_dict() -> None:
    assert VDIRConfig.from_dict(TINY.to_dict()) == TINY
    assert build(TINY.to_dict()).cfg == TINY


def test_mac_counter_on_known_layers() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, lambda: conv(torch.zeros(1, 3, 10, 10))) == 10 * 10 * 8 * 3 * 9
    dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
    assert count_macs(dw, lambda: dw(torch.zeros(1, 8, 4, 4))) == 4 * 4 * 8 * 9
    lin = nn.Linear(5, 7)
    assert count_macs(lin, lambda: lin(torch.zeros(2, 5))) == 2 * 7 * 5
    assert macs_per_pixel(conv, conv, size=16) == 8 * 3 * 9
    assert count_params(conv) == 8 * 3 * 9 + 8


def test_fast_config_is_within_the_cpu_budget() -> None:
    fast = VDIR(VDIRConfig())
    macs = macs_per_pixel(fast, lambda x: fast.restore(x, fast.encode(x)[0]), size=64)
    assert macs < 100_000
