"""Oriented line fills and the "lines" head of the inpainting network: exact on what
they claim to continue, and DL-Net's refinement choosing the orientation from the
known pixels around the hole."""

import pytest
import torch

from app.ml.archs.inpaint import InpaintConfig, build, harmonic_fill
from app.ml.archs.line_fill import ORIENTATIONS, gaussian_blur, line_candidates, line_fill
from app.ml.dlnet import dlnet_forward

H, W = 40, 48


def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(H).view(H, 1).float(), torch.arange(W).view(1, W).float()


def _square_hole(top: int = 12, size: int = 16) -> torch.Tensor:
    m = torch.zeros(1, 1, H, W)
    m[..., top : top + size, top + 4 : top + 4 + size] = 1
    return m


@pytest.mark.parametrize(("k", "transposed"), ORIENTATIONS)
def test_every_orientation_reproduces_a_linear_ramp(k: int, transposed: bool) -> None:
    r, c = _grid()
    y = ((0.3 * r + 0.7 * c) / 100)[None, None].repeat(1, 3, 1, 1)
    known = 1 - _square_hole()
    out, found = line_fill(y * known, known, k, transposed)
    assert torch.allclose(out, y, atol=1e-5)
    assert bool((found == 1).all())


@pytest.mark.parametrize(
    ("k", "transposed", "direction"), [(1, False, (1, 1)), (-2, False, (1, -2)), (3, True, (3, 1))]
)
def test_an_edge_is_continued_by_its_own_orientation_only(
    k: int, transposed: bool, direction: tuple[int, int]
) -> None:
    r, c = _grid()
    dy, dx = direction
    m = _square_hole()  # centre (20, 24)
    level = c * dy - r * dx  # constant along (dy, dx)
    edge = (level > 24 * dy - 20 * dx + 0.5).float()[None, None].repeat(1, 3, 1, 1)
    along, _ = line_fill(edge * (1 - m), 1 - m, k, transposed)
    across, _ = line_fill(edge * (1 - m), 1 - m, 0, not transposed)
    assert float(((along - edge).abs() * m).max()) == 0.0
    assert float(((across - edge).abs() * m).mean()) > 0.01


def test_lines_meeting_no_known_pixel_are_flagged() -> None:
    y = torch.rand(1, 3, H, W)
    known = torch.ones(1, 1, H, W)
    known[..., 10:14, :] = 0  # four whole rows missing
    _, found_rows = line_fill(y * known, known, 0, True)  # horizontal lines
    _, found_cols = line_fill(y * known, known, 0, False)  # vertical lines
    assert float(found_rows[..., 10:14, :].max()) == 0.0
    assert float(found_cols.min()) == 1.0


def test_candidates_on_the_ring_ignore_the_ring_pixels() -> None:
    torch.manual_seed(0)
    y = torch.rand(1, 3, H, W)
    m = _square_hole()
    ring = 3
    near = torch.nn.functional.max_pool2d(m, 2 * ring + 1, 1, ring) - m
    y2 = y + near * 0.5  # change only the ring's pixels
    a = line_candidates(y, m, ring, harmonic_fill)
    b = line_candidates(y2, m, ring, harmonic_fill)
    assert a.shape == (1, len(ORIENTATIONS) + 1, 3, H, W)
    assert torch.allclose(a * near[:, None], b * near[:, None], atol=1e-6)
    far = 1 - m - near
    assert torch.equal(a * far[:, None], (y * far)[:, None].expand_as(a))


def test_gaussian_blur_keeps_constants_and_mass() -> None:
    x = torch.full((1, 2, 20, 20), 0.7)
    assert torch.allclose(gaussian_blur(x, 3.0), x)
    assert torch.equal(gaussian_blur(x, 0.0), x)


def test_lines_head_needs_one_channel_per_candidate() -> None:
    with pytest.raises(ValueError, match="z_channels"):
        InpaintConfig(head="lines", z_channels=4)
    with pytest.raises(ValueError, match="head"):
        InpaintConfig(head="mlp")


def _lines_net() -> torch.nn.Module:
    cfg = InpaintConfig(
        widths=(4, 4, 8, 8), dilations=(2,), z_channels=len(ORIENTATIONS) + 1,
        prefill="harmonic", head="lines", ring=4, mix_sigma=6.0, z_scale=500.0,
    )  # fmt: skip
    torch.manual_seed(0)
    return build(cfg).eval().requires_grad_(False)


def test_untrained_lines_net_is_the_even_mixture() -> None:
    net = _lines_net()
    torch.manual_seed(1)
    y, m = torch.rand(1, 3, H, W), _square_hole()
    g, h = net.parts(y * (1 - m), m)
    cands = line_candidates(y * (1 - m), m, 4, harmonic_fill)
    assert torch.allclose(h(g(y * (1 - m), m)), cands.mean(1), atol=1e-6)


def test_refinement_picks_the_orientation_the_surroundings_show() -> None:
    """A 45-degree edge crosses the hole: from the even mixture (K = 1), DL-Net's
    updates on the known ring move the weights to the fill along the edge (K = 5)."""
    net = _lines_net()
    r, c = _grid()
    x = (0.2 + 0.6 * ((c - r) > 4.0).float())[None, None].repeat(1, 3, 1, 1)
    m = _square_hole()
    y = x * (1 - m)
    errors = {}
    for k in (1, 5):
        out = dlnet_forward(*net.parts(y, m), y, m, k, 1e-3)
        errors[k] = float(((out - x).pow(2) * m).sum() / m.sum())
    assert errors[5] < 0.5 * errors[1]


def test_lines_head_leaves_no_seam_to_feather() -> None:
    """The ring holds predictions of known pixels; the compositor must see y there, so
    the feathered seam (residual on known pixels) is zero for this head."""
    net = _lines_net()
    torch.manual_seed(2)
    x, m = torch.rand(1, 3, H, W), _square_hole()
    y = x * (1 - m)
    x_hat = net(y, m)
    shown = net.for_composite(x_hat, y, m)
    assert not torch.equal(x_hat * (1 - m), y * (1 - m))
    assert torch.equal(shown * (1 - m), y * (1 - m))
    assert torch.equal(shown * m, x_hat * m)
