"""DL-Net likelihood module: Eqn. 5 updates, K conventions, unrolled gradients."""

import pytest
import torch

from app.ml.archs.inpaint import InpaintConfig, build, harmonic_fill, push_pull
from app.ml.dlnet import dlnet_forward, fidelity, refine

TINY = InpaintConfig(widths=(4, 4, 8, 8), dilations=(2,), z_channels=4)


@pytest.fixture(params=["telea", "pushpull", "harmonic"])
def net(request: pytest.FixtureRequest) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build(InpaintConfig(**{**TINY.to_dict(), "prefill": request.param}))
    torch.nn.init.normal_(model.h.conv.weight, std=0.1)  # trained-like, not near zero
    return model


def _inputs(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    y = torch.rand(2, 3, size, size, generator=gen)
    m = torch.zeros(2, 1, size, size)
    m[:, :, 4:10, 5:12] = 1.0
    return y, m


@pytest.mark.parametrize("k", [0, 1, 5])
def test_k_runs_and_keeps_shape(net: torch.nn.Module, k: int) -> None:
    y, m = _inputs()
    out = dlnet_forward(*net.parts(y, m), y, m, k)
    assert out.shape == y.shape
    assert torch.isfinite(out).all()


def test_k0_and_k1_are_the_plain_network(net: torch.nn.Module) -> None:
    y, m = _inputs()
    plain = net(y, m)
    for k in (0, 1):
        assert torch.allclose(dlnet_forward(*net.parts(y, m), y, m, k), plain)


def test_refinement_lowers_the_fidelity_term(net: torch.nn.Module) -> None:
    y, m = _inputs()
    g, h = net.parts(y, m)
    with torch.no_grad():
        z0 = g(y, m)
    known = 1 - m
    before = fidelity(h(z0), y, known)
    z = refine(h, z0, y, known, k=5, gamma=1e-2)
    assert fidelity(h(z), y, known) < before


def test_first_step_is_gamma_times_sign() -> None:
    """At k=1 Eqn. 5 gives m^ = g, v^ = g^2: the step is -gamma * sign(grad)."""
    z0 = torch.tensor([[1.0, -2.0, 0.5]])
    y = torch.zeros(1, 3)
    z = refine(lambda z: z, z0, y, torch.ones(1, 3), k=2, gamma=0.1)
    assert torch.allclose(z, z0 - 0.1 * torch.sign(z0))


def test_gradient_flows_through_unrolled_steps(net: torch.nn.Module) -> None:
    """With create_graph the loss reaches h's weights through the K steps too: the
    gradient differs from treating the refined z as a constant."""
    y, m = _inputs()
    out = dlnet_forward(*net.parts(y, m), y, m, 5, 1e-2, create_graph=True)
    grads = torch.autograd.grad(out.pow(2).mean(), list(net.g.parameters())[:1])
    assert grads[0].abs().sum() > 0
    g, h = net.parts(y, m)
    z0 = g(y, m)
    z = refine(h, z0, y, 1 - m, k=5, gamma=1e-2, create_graph=True)
    (dz,) = torch.autograd.grad(h(z).pow(2).mean(), z0)
    z_const = z0 + (z - z0).detach()
    (dz_const,) = torch.autograd.grad(h(z_const).pow(2).mean(), z0)
    assert not torch.allclose(dz, dz_const)


def test_push_pull_fill_keeps_known_and_fills_holes() -> None:
    y, m = _inputs()
    filled = push_pull(y, 1 - m)
    assert torch.equal(filled * (1 - m), y * (1 - m))
    hole = filled[:, :, 4:10, 5:12]
    assert hole.min() > 0 and hole.max() < 1


def test_inference_refinement_detaches(net: torch.nn.Module) -> None:
    y, m = _inputs()
    out = dlnet_forward(*net.parts(y, m), y, m, 5)
    assert not out.requires_grad


def test_harmonic_fill_keeps_known_and_reproduces_a_ramp() -> None:
    # a linear ramp is harmonic: the fill of a hole inside it is the ramp itself
    ramp = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(2, 3, 32, 40).contiguous()
    m = torch.zeros(2, 1, 32, 40)
    m[:, :, 8:24, 10:30] = 1.0
    filled = harmonic_fill(ramp * (1 - m), 1 - m)
    assert torch.equal(filled * (1 - m), ramp * (1 - m))
    assert (filled - ramp).abs().max() < 0.02


def test_harmonic_fill_without_known_pixels_is_grey() -> None:
    y = torch.rand(1, 3, 9, 9)
    out = harmonic_fill(y, torch.zeros(1, 1, 9, 9))
    assert torch.allclose(out, torch.full_like(y, 0.5))


def test_deeper_head_and_z_scale_refine() -> None:
    torch.manual_seed(0)
    cfg = InpaintConfig(**{**TINY.to_dict(), "h_layers": 2, "z_scale": 30.0})
    model = build(cfg)
    assert len(model.h.hidden) == 1
    torch.nn.init.normal_(model.h.conv.weight, std=0.1)
    y, m = _inputs()
    plain = model(y, m)
    refined = dlnet_forward(*model.parts(y, m), y, m, 5)
    assert torch.allclose(dlnet_forward(*model.parts(y, m), y, m, 1), plain)
    assert not torch.allclose(refined, plain)
    known = 1 - m
    assert fidelity(refined, y, known) < fidelity(plain, y, known)
