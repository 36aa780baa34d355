"""The "lines" head at the active pixels only (app/ml/archs/line_fill_sparse.py) equals
the dense candidates and mixture, and the running max NumPy computes equals cummax."""

import numpy as np
import pytest
import torch

from app.ml.archs.inpaint import harmonic_fill
from app.ml.archs.line_fill import _last_known_row, gaussian_blur, line_candidates
from app.ml.archs.line_fill_sparse import (
    _nearest_rows_numpy,
    _nearest_rows_skewed,
    active_pixels,
    line_candidates_at,
    mixture_at,
)


def damaged(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random image and a mask with a long diagonal scratch, dust and a border blob."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(1, 3, h, w, generator=gen)
    m = torch.zeros(1, 1, h, w)
    for r in range(h):
        c = (r * 7) // 5 + 3
        m[..., r, c : c + 3] = 1.0 if c + 3 <= w else 0.0
    m[..., 5:8, w - 9 : w - 6] = 1.0
    m[..., h - 4 :, :6] = 1.0  # touches the border
    m[..., (torch.rand(h, w, generator=gen) > 0.995)] = 1.0  # dust
    return y * (1 - m), m


@pytest.mark.parametrize(("h", "w", "seed"), [(40, 56, 0), (64, 48, 1), (33, 70, 2)])
def test_candidates_at_active_pixels_equal_the_dense_ones(h: int, w: int, seed: int) -> None:
    y, m = damaged(h, w, seed)
    dense = line_candidates(y, m, 4, harmonic_fill)
    at, sparse = line_candidates_at(y, m, 4, harmonic_fill)
    assert torch.equal(at, active_pixels(m, 4)) and 0 < at.numel() < h * w
    torch.testing.assert_close(sparse, dense.flatten(-2)[..., at], rtol=0, atol=1e-6)
    outside = torch.ones(h * w, dtype=torch.bool)
    outside[at] = False
    flat = dense.flatten(-2)[..., outside]
    torch.testing.assert_close(flat, y.flatten(-2)[..., outside][:, None].expand_as(flat))


def test_mixture_at_equals_the_dense_mixture() -> None:
    y, m = damaged(40, 56, 3)
    dense = line_candidates(y, m, 4, harmonic_fill)
    at, sparse = line_candidates_at(y, m, 4, harmonic_fill)
    z = torch.randn(1, dense.shape[1], 40, 56, generator=torch.Generator().manual_seed(4))
    logits = gaussian_blur(z, 2.0)
    want = (torch.softmax(logits, dim=1).unsqueeze(2) * dense).sum(dim=1)
    torch.testing.assert_close(mixture_at(logits, y, at, sparse), want, rtol=0, atol=1e-6)


def test_numpy_running_max_equals_cummax() -> None:
    known = (torch.rand(2, 1, 37, 91, generator=torch.Generator().manual_seed(5)) > 0.9).float()
    rows = torch.arange(37).view(1, 1, 37, 1).expand_as(known)
    want = torch.cummax(torch.where(known > 0, rows, torch.full_like(rows, -1)), dim=-2).values
    got = _last_known_row(known)
    assert got.dtype == want.dtype and torch.equal(got, want)
    assert np.all(got.numpy()[:, :, 0] <= 0)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 7])
def test_row_recurrence_equals_the_skewed_frame(k: int) -> None:
    known = (torch.rand(2, 1, 29, 41, generator=torch.Generator().manual_seed(k)) > 0.8).float()
    for got, want in zip(
        _nearest_rows_numpy(known, k), _nearest_rows_skewed(known, k), strict=True
    ):
        assert torch.equal(got, want)
