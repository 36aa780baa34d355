"""Old-photo damage synthesis: scratches, dust specks and torn corners, each with its exact mask.

Every function takes a float32 ``(H, W, 3)`` image in [0, 1] and returns the damaged image
and a binary float32 ``(H, W)`` mask of exactly the pixels it changed (by more than
``CHANGED_LEVEL``); all other pixels keep their input value bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.core.arrays import as_rgb_float
from app.core.errors import InvalidInputError

CHANGED_LEVEL = 1.0 / 255.0  # a damage step "changed" a pixel when it moved more than this


_SUB = 16.0  # OpenCV drawing with shift=4: coordinates in 1/16 px


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float (n, 2) (x, y) points -> int32 (n, 1, 2) for OpenCV drawing with ``shift=4``."""
    return np.rint(points * _SUB).astype(np.int32).reshape(-1, 1, 2)


def _composite(
    img: np.ndarray, alpha: np.ndarray, colour: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``colour`` (uint8, (H, W) or (H, W, 3)) over ``img`` with uint8 ``alpha``.

    Pixels changed by at most 1/255 keep their exact input value, so the returned binary
    mask is exactly the set of changed pixels. Only pixels with ``alpha > 0`` are computed.
    """
    out, mask = img.copy(), np.zeros(img.shape[:2], np.float32)
    idx = np.flatnonzero(alpha)
    src = out.reshape(-1, 3)[idx]
    a = alpha.reshape(-1)[idx].astype(np.float32)[:, None] / 255
    c = colour.reshape(alpha.size, -1)[idx].astype(np.float32) / 255
    blended = src + (c - src) * a
    diff = np.abs(blended - src)
    changed = np.maximum(np.maximum(diff[:, 0], diff[:, 1]), diff[:, 2]) > CHANGED_LEVEL
    out.reshape(-1, 3)[idx[changed]] = blended[changed]
    mask.reshape(-1)[idx[changed]] = 1.0
    return out, mask


def _count(lam: float, rng: np.random.Generator) -> int:
    """At least one, Poisson(lam) on average."""
    return max(1, int(rng.poisson(lam)))


def _grey_values(n: int, p_bright: float, rng: np.random.Generator) -> np.ndarray:
    bright = rng.random(n) < p_bright
    return np.where(bright, rng.uniform(200, 255, n), rng.uniform(0, 60, n)).astype(int)


def _scratch_path(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(24, 2) (x, y) points: a long vertical film scratch (60 %) or a random Bezier curve."""
    t = np.linspace(0.0, 1.0, 24)[:, None]
    if rng.random() < 0.6:
        y0, length = rng.uniform(-0.2, 0.5) * h, rng.uniform(0.4, 1.2) * h
        wobble = rng.uniform(0, 0.01 * w + 1) * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t)
        x = rng.uniform(0, w) + rng.uniform(-0.08, 0.08) * length * t + wobble
        return np.hstack([x, y0 + length * t])
    p0 = rng.uniform((0, 0), (w, h))
    length = rng.uniform(0.1, 0.6) * max(h, w)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-12
    normal = np.array([-direction[1], direction[0]])
    p3 = p0 + length * direction
    p1 = p0 + (p3 - p0) / 3 + normal * rng.uniform(-0.3, 0.3) * length
    p2 = p0 + 2 * (p3 - p0) / 3 + normal * rng.uniform(-0.3, 0.3) * length
    s = 1.0 - t
    return s**3 * p0 + 3 * s**2 * t * p1 + 3 * s * t**2 * p2 + t**3 * p3


def scratches(
    img: np.ndarray, density: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw thin (1-5 px) antialiased bright or dark curved scratches.

    About ``4 * density * (H + W) / 256`` scratches (at least one when ``density > 0``).
    Returns the damaged image and the binary mask of the pixels that changed.
    """
    img = as_rgb_float(img)
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    if density <= 0:
        return img.copy(), alpha.astype(np.float32)
    colour = np.zeros((h, w), np.uint8)
    n = _count(4.0 * density * (h + w) / 256.0, rng)
    widths = rng.choice([1, 1, 1, 2, 2, 3, 4, 5], size=n)
    for width, value in zip(widths, _grey_values(n, 0.6, rng), strict=True):
        pts = [_fixed(_scratch_path(h, w, rng))]
        cv2.polylines(alpha, pts, False, 255, int(width), cv2.LINE_AA, shift=4)
        cv2.polylines(colour, pts, False, int(value), int(width) + 3, cv2.LINE_8, shift=4)
    return _composite(img, alpha, colour)


def _hair_path(centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A short curly random walk (12 points, 1.5-3.5 px steps) starting at ``centre``."""
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.5, 12))
    steps = rng.uniform(1.5, 3.5, 12)[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1)
    return centre + np.cumsum(steps, axis=0)


def dust(
    img: np.ndarray, density: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw dust: small white or dark specks of 1-6 px, and some (15 %) curly hairs.

    About ``40 * density * H * W / 256**2`` items (at least one when ``density > 0``).
    Returns the damaged image and the binary mask of the pixels that changed.
    """
    img = as_rgb_float(img)
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    if density <= 0:
        return img.copy(), alpha.astype(np.float32)
    colour = np.zeros((h, w), np.uint8)
    n = _count(40.0 * density * h * w / 256.0**2, rng)
    centres = rng.uniform((0, 0), (w, h), size=(n, 2))
    axes = rng.uniform(0.6, 3.0, n)[:, None] * np.stack([np.ones(n), rng.uniform(0.5, 1, n)], 1)
    angles, hairs = rng.uniform(0, 180, n), rng.random(n) < 0.15
    for i, value in enumerate(_grey_values(n, 0.55, rng)):
        if hairs[i]:
            pts = [_fixed(_hair_path(centres[i], rng))]
            cv2.polylines(alpha, pts, False, 255, 1, cv2.LINE_AA, shift=4)
            cv2.polylines(colour, pts, False, int(value), 4, cv2.LINE_8, shift=4)
            continue
        c = tuple(_fixed(centres[i]).ravel().tolist())
        ax = tuple(_fixed(axes[i]).ravel().tolist())
        big = tuple(_fixed(axes[i] + 1.5).ravel().tolist())
        cv2.ellipse(alpha, c, ax, angles[i], 0, 360, 255, -1, cv2.LINE_AA, shift=4)
        cv2.ellipse(colour, c, big, angles[i], 0, 360, int(value), -1, cv2.LINE_8, shift=4)
    return _composite(img, alpha, colour)


def _jagged(p0: np.ndarray, p1: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Torn-paper line from ``p0`` to ``p1``: 5 levels of midpoint displacement (33 points)."""
    pts = np.stack([p0, p1]).astype(np.float64)
    rough = 0.18 * float(np.linalg.norm(p1 - p0))
    for _ in range(5):
        seg = pts[1:] - pts[:-1]
        normal = np.stack([-seg[:, 1], seg[:, 0]], 1) / (
            np.linalg.norm(seg, axis=1)[:, None] + 1e-9
        )
        mids = (pts[1:] + pts[:-1]) / 2 + normal * rng.normal(0, rough, (len(seg), 1))
        merged = np.empty((2 * len(pts) - 1, 2))
        merged[0::2], merged[1::2] = pts, mids
        pts, rough = merged, rough * 0.5
    return pts


def _tear_polygon(h: int, w: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) (x, y) polygon of a torn piece at a corner (70 %) or a bite out of an edge."""
    size = max(3.0, min(h, w) * (0.08 + 0.32 * amount) * rng.uniform(0.6, 1.0))
    if rng.random() < 0.7:  # top-left corner, mirrored below
        a, b = size * rng.uniform(0.6, 1.4, 2)
        poly = np.vstack([_jagged(np.array([a, -2.0]), np.array([-2.0, b]), rng), [[-2.0, -2.0]]])
        flip_x, flip_y = rng.random(2) < 0.5
    else:  # bite out of the top edge; transposed to the left edge, mirrored below
        transpose = bool(rng.random() < 0.5)
        xc, half = rng.uniform(0, h if transpose else w), size * rng.uniform(0.5, 1.2)
        tip = np.array([xc + rng.uniform(-0.3, 0.3) * half, size * rng.uniform(0.3, 0.8)])
        left = _jagged(np.array([xc - half, -2.0]), tip, rng)
        poly = np.vstack([left, _jagged(tip, np.array([xc + half, -2.0]), rng)[1:]])
        poly = poly[:, ::-1].copy() if transpose else poly
        flip = bool(rng.random() < 0.5)
        flip_x, flip_y = flip and transpose, flip and not transpose
    if flip_x:
        poly[:, 0] = w - 1 - poly[:, 0]
    if flip_y:
        poly[:, 1] = h - 1 - poly[:, 1]
    return poly


def torn_corners(
    img: np.ndarray, amount: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Replace 1-3 torn pieces at corners or edges by paper white / cream.

    Piece size grows with ``amount`` (about 8 % to 40 % of the short side); at least one
    piece when ``amount > 0``. Returns the damaged image and the binary changed-pixel mask.
    """
    img = as_rgb_float(img)
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    if amount <= 0:
        return img.copy(), alpha.astype(np.float32)
    colour = np.zeros((h, w, 3), np.uint8)
    white, cream = np.array([246, 243, 235]), np.array([236, 220, 180])
    for _ in range(1 + int(rng.binomial(2, 0.5 * amount))):
        poly = [_fixed(_tear_polygon(h, w, amount, rng))]
        paper = tuple(int(v) for v in white + (cream - white) * rng.random())
        cv2.fillPoly(alpha, poly, 255, cv2.LINE_AA, shift=4)
        cv2.fillPoly(colour, poly, paper, cv2.LINE_8, shift=4)
        cv2.polylines(colour, poly, True, paper, 3, cv2.LINE_8, shift=4)
    return _composite(img, alpha, colour)


def random_holes(
    shape: tuple[int, ...], size: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Mask float32 ``shape[:2]`` with ``count`` square ``size x size`` holes (may overlap).

    Holes lie fully inside the image (a size larger than the image is clipped to it).
    """
    h, w = int(shape[0]), int(shape[1])
    if size < 1 or count < 0 or h < 1 or w < 1:
        raise InvalidInputError(f"cannot place {count} holes of size {size} in {h}x{w}")
    sy, sx = min(size, h), min(size, w)
    mask = np.zeros((h, w), np.float32)
    ys = rng.integers(0, h - sy + 1, count)
    xs = rng.integers(0, w - sx + 1, count)
    for y, x in zip(ys, xs, strict=True):
        mask[y : y + sy, x : x + sx] = 1.0
    return mask
