"""The "lines" head's candidate fills and mixture at the pixels where they differ from
the image only: the hole and its known ring (:func:`active_pixels`).

:func:`app.ml.archs.line_fill.line_candidates` returns (N, J, 3, H, W) candidates of
which every pixel outside the ring-grown hole is ``y`` itself, and the mixture there is
``y`` whatever the weights. Here the nearest known pixels along each line are still
found for the whole frame (the skewed running max is cheap), but the values, the
fallbacks and the mixture are computed for the P active pixels only, so the cost of a
tile follows its damage. Values equal the dense functions' (the same float operations
per pixel; tests/ml/test_line_fill_sparse.py). Batch size 1 (the service's tiles).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from app.ml.archs.line_fill import ORIENTATIONS, Fill, _last_known_row, _skew_index


def active_pixels(m: torch.Tensor, ring: int) -> torch.Tensor:
    """Flat indices (P,) into H*W of the hole of ``m`` (1, 1, H, W) grown by ``ring`` px
    (square), in raster order."""
    grown = F.max_pool2d(m, 2 * ring + 1, 1, ring) if ring > 0 else m
    return torch.nonzero(grown.reshape(-1) > 0).reshape(-1)


def _nearest_rows(known: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows (N, 1, H, W) of the nearest known pixel above (-1: none) and below (H: none)
    each pixel along its (1, k) line, k >= 0 (as in ``_line_fill_vertical``)."""
    if known.device.type == "cpu":
        return _nearest_rows_numpy(known, k)
    return _nearest_rows_skewed(known, k)


def _nearest_rows_numpy(known: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_nearest_rows` by a row-by-row recurrence in NumPy (on the CPU ~4x quicker
    than skewing the frame): the line through (r, c) comes from (r - 1, c - k)."""
    kn = known[:, 0].numpy() > 0
    n, h, w = kn.shape
    above = np.empty((n, h, w), np.int64)
    below = np.empty((n, h, w), np.int64)
    prev = np.full((n, w), -1, np.int64)
    for r in range(h):
        shifted = np.full((n, w), -1, np.int64)
        if k < w:
            shifted[:, k:] = prev[:, : w - k]
        prev = above[:, r] = np.where(kn[:, r], r, shifted)
    prev = np.full((n, w), h, np.int64)
    for r in range(h - 1, -1, -1):
        shifted = np.full((n, w), h, np.int64)
        if k < w:
            shifted[:, : w - k] = prev[:, k:]
        prev = below[:, r] = np.where(kn[:, r], r, shifted)
    return torch.from_numpy(above[:, None]), torch.from_numpy(below[:, None])


def _nearest_rows_skewed(known: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_nearest_rows` in the skewed frame whose columns are the lines (any device)."""
    n, _, h, w = known.shape
    index, u_size = _skew_index(h, w, k, known.device)
    pad_k = torch.cat([known, known.new_zeros(n, 1, h, 1)], dim=-1)
    skewed = torch.gather(pad_k, -1, index.expand(n, 1, h, u_size))
    rows = torch.arange(h, device=known.device).view(h, 1)
    back = (torch.arange(w, device=known.device).view(1, w) + k * (h - 1 - rows)).expand(n, 1, h, w)
    above = torch.gather(_last_known_row(skewed), -1, back)
    below = h - 1 - torch.gather(_last_known_row(skewed.flip(-2)).flip(-2), -1, back)
    return above, below


def _line_sources(known: torch.Tensor, k: int, transposed: bool) -> torch.Tensor:
    """(5, N, 1, H, W) int64 per pixel, in the frame of ``known``: the flat indices (into
    H*W) of the nearest known pixels before and after it along the (1, k) line ((k, 1)
    when ``transposed``; 0 when not found), the step counts to them, and found flags
    (bit 0: before, bit 1: after)."""
    n, _, h, w = known.shape
    idx = torch.arange(h * w, device=known.device).view(1, 1, h, w)
    kn = known.transpose(-1, -2) if transposed else known
    idx = idx.transpose(-1, -2) if transposed else idx
    kn, idx = (kn.flip(-1), idx.flip(-1)) if k < 0 else (kn, idx)
    kk, (ht, wt) = abs(k), kn.shape[-2:]
    above, below = _nearest_rows(kn, kk)
    rows = torch.arange(ht, device=known.device).view(ht, 1)
    cols = torch.arange(wt, device=known.device).view(1, wt)
    flat = idx.reshape(1, ht * wt).expand(n, ht * wt)

    def source(src_row: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        t = torch.where(ok, src_row * wt + cols + kk * (src_row - rows), torch.zeros_like(src_row))
        return torch.gather(flat, -1, t.reshape(n, -1)).view(n, 1, ht, wt)

    fa, fb = above >= 0, below <= ht - 1
    both = [source(above, fa), source(below, fb), rows - above, below - rows, fa + 2 * fb]
    out = torch.stack([b.expand(n, 1, ht, wt) for b in both])
    out = out.flip(-1) if k < 0 else out
    return out.transpose(-1, -2) if transposed else out


def _fill_at(y: torch.Tensor, src: torch.Tensor, at: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Line-fill values (N, C, P) at flat pixels ``at`` from :func:`_line_sources` ``src``,
    and found (N, 1, P): the operations of ``_line_fill_vertical`` on those pixels."""
    n, c = y.shape[:2]
    s = src.flatten(-2)[..., at]  # (5, N, 1, P)
    found_above, found_below = (s[4] & 1) > 0, (s[4] & 2) > 0
    d1, d2 = s[2].to(y.dtype), s[3].to(y.dtype)
    both = found_above & found_below
    w1 = torch.where(both, d2 / (d1 + d2).clamp_min(1), found_above.to(y.dtype))
    w2 = torch.where(both, d1 / (d1 + d2).clamp_min(1), found_below.to(y.dtype))
    flat = y.flatten(-2)
    p = at.numel()
    va = torch.gather(flat, -1, s[0].reshape(n, 1, p).expand(n, c, p))
    vb = torch.gather(flat, -1, s[1].reshape(n, 1, p).expand(n, c, p))
    return w1 * va + w2 * vb, (found_above | found_below)


def line_candidates_at(
    y: torch.Tensor,
    m: torch.Tensor,
    ring: int,
    fallback: Fill,
    hole_fallback: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(index (P,), candidates (1, J, 3, P)): :func:`line_candidates` of a (1, 3, H, W)
    tile at its :func:`active_pixels` ``index`` (elsewhere every candidate is ``y``)."""
    at = active_pixels(m, ring)
    known = 1.0 - m
    known_ring = 1.0 - F.max_pool2d(m, 2 * ring + 1, 1, ring) if ring > 0 else known
    base_hole = fallback(y, known) if hole_fallback is None else hole_fallback
    base_ring = fallback(y, known_ring)

    def at_px(t: torch.Tensor) -> torch.Tensor:
        return t.flatten(-2)[..., at]

    hole_px, ring_px = at_px(m), at_px(known - known_ring)
    hole_b, ring_b = at_px(base_hole), at_px(base_ring)
    both_y, both_known = torch.cat([y * known, y * known_ring]), torch.cat([known, known_ring])
    outside = at_px(known_ring * y)
    fills = []
    for k, transposed in ORIENTATIONS:
        values, found = _fill_at(both_y, _line_sources(both_known, k, transposed), at)
        hole_fill = torch.where(found[:1], values[:1], hole_b)
        ring_fill = torch.where(found[1:], values[1:], ring_b)
        fills.append(outside + ring_px * ring_fill + hole_px * hole_fill)
    fills.append(outside + ring_px * ring_b + hole_px * hole_b)
    return at, torch.stack(fills, dim=1)


def mixture_at(
    logits: torch.Tensor, y: torch.Tensor, at: torch.Tensor, candidates: torch.Tensor
) -> torch.Tensor:
    """The "lines" head's output (1, 3, H, W): ``y`` with the softmax mixture of
    ``candidates`` (1, J, 3, P) by the blurred ``logits`` (1, J, H, W) at pixels ``at``."""
    weights = torch.softmax(logits.flatten(-2)[..., at], dim=1)
    mixed = (weights.unsqueeze(2) * candidates).sum(dim=1)
    return y.flatten(-2).index_copy(-1, at, mixed).view_as(y)
