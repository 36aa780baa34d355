"""What a person did to a VDIR latent, as data, and the numpy arithmetic that applies it.

Torch-free (the window imports it). :mod:`app.ml.steering` runs the model around it.

The latent ``c`` is ``(h, w, L)`` float32 at 1/4 of the image's resolution (``h =
ceil(H / 4)``), L = 4 channels. :func:`apply_edit` forms the code the restorer uses, in
this order:

1. ``c = mean`` (or a seeded sample ``mean + std * eps`` when ``edit.sample``);
2. transplant: ``c`` replaced by a borrowed code, everywhere or inside ``apply_to``;
3. interpolation: ``c = (1 - t) * c + t * other``;
4. strength: ``c = c + (s(x) - 1) * direction`` with ``s(x) = strength + map_gain *
   (2 * m(x) - 1)``; ``m`` is the painted strength map in [0, 1] (0.5 = neutral) pooled
   to latent cells; ``direction = c(y + noise) - c(y)`` (VDIR Fig. 5: a code taken from
   a noisier input smooths more), so s = 1 is neutral, s > 1 cleans more, s < 1 keeps
   more texture and grain. The noise's sigma is ``steer_sigma``, or when that is None
   ("auto") :func:`auto_step` of the image's estimated noise level: adding 15 to an
   image that already has sigma 30 barely changes its code;
5. per channel ``c_k = gain_k * c_k + offset_k``.

Everything random is a function of absolute image position (:func:`hashed_normal`), so a
crop whose origin is a multiple of 4 gets exactly the crop of the whole image's noise:
previews of the visible region agree with the full render.

Rectangles are ``(y0, x0, y1, x1)`` in original-image pixels, end-exclusive.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import InvalidInputError

CHANNELS = 4
FACTOR = 4  # latent cells are FACTOR x FACTOR image pixels
CROP_ALIGN = 8  # crops to encode start on JPEG's 8x8 block grid (archs.vdir.ALIGN)
STEER_SIGMA = 15.0  # extra noise (0..255) of the strength direction: the least, and the
STEER_MAX = 40.0  # most the automatic step uses (it follows the image's estimated sigma)
NEUTRAL = 0.5  # strength-map value that changes nothing
STRENGTH_RANGE = (0.0, 3.0)  # the steering range of ``LatentEdit.strength`` (1 neutral)
STRENGTH_NEUTRAL = 1.0  # the strength that leaves the image's own code unchanged
MAP_LEVELS = 65535  # strength maps are quantised to 16 bits (what a PNG sidecar stores)
NOISE_BLOCK = 64  # hashed noise is drawn in blocks of this many pixels (or cells)
SOURCES = ("region", "image")
Rect = tuple[int, int, int, int]


def _rect(value: Any, what: str) -> Rect | None:
    if value is None:
        return None
    try:
        y0, x0, y1, x1 = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be four integers (y0, x0, y1, x1)") from None
    if y1 <= y0 or x1 <= x0 or min(y0, x0) < 0:
        raise InvalidInputError(f"{what} {value} is empty or outside the image")
    return y0, x0, y1, x1


@dataclass(frozen=True)
class LatentRef:
    """A latent borrowed from a ``rect`` of this image (``source="region"``: its mean code,
    one L-vector) or from another image file (``"image"``: its spatial code, resized)."""

    source: str
    rect: Rect | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InvalidInputError(f"latent source must be one of {SOURCES}, not {self.source!r}")
        object.__setattr__(self, "rect", _rect(self.rect, "the source region"))
        if self.source == "region" and self.rect is None:
            raise InvalidInputError("a region latent source needs a rectangle")
        if self.source == "image" and not self.path:
            raise InvalidInputError("an image latent source needs a file path")

    def key(self) -> tuple[Any, ...]:
        """Hashable identity (for caches)."""
        return (self.source, self.rect, self.path)


@dataclass(frozen=True)
class Transplant:
    """Use ``ref``'s latent instead of the image's own: everywhere (``apply_to`` None,
    "global") or inside the rectangle ``apply_to``."""

    ref: LatentRef
    apply_to: Rect | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "apply_to", _rect(self.apply_to, "the transplant target"))


@dataclass(frozen=True)
class Interpolation:
    """Blend toward ``ref``'s latent: ``(1 - t) * own + t * other``, t in [0, 1]."""

    ref: LatentRef
    t: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.t) <= 1.0:
            raise InvalidInputError(f"interpolation t must be in [0, 1], got {self.t}")


@dataclass(frozen=True)
class LatentEdit:
    """Everything done to the latent; JSON round trip via :meth:`to_dict`/:meth:`from_dict`.

    ``strength_map`` names the painted map ("layer:<name>" in a document, a PNG path in a
    recipe); the array itself travels separately. The default edit is neutral.
    """

    strength: float = 1.0
    gains: tuple[float, ...] = (1.0,) * CHANNELS
    offsets: tuple[float, ...] = (0.0,) * CHANNELS
    transplant: Transplant | None = None
    interpolation: Interpolation | None = None
    sample: bool = False
    seed: int = 0
    strength_map: str | None = None
    map_gain: float = 1.0
    steer_sigma: float | None = None
    noise_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("gains", "offsets"):
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != CHANNELS or not all(math.isfinite(v) for v in values):
                raise InvalidInputError(f"{name} must be {CHANNELS} finite numbers")
            object.__setattr__(self, name, values)
        if not math.isfinite(self.strength) or not 0.0 <= self.strength <= 10.0:
            raise InvalidInputError(f"latent strength must be in [0, 10], got {self.strength}")
        step = self.steer_sigma
        if step is not None and not (math.isfinite(step) and 0.0 < step <= 255.0):
            raise InvalidInputError(f"the strength step must be a sigma in (0, 255], got {step}")

    @property
    def channels_neutral(self) -> bool:
        return self.gains == (1.0,) * CHANNELS and self.offsets == (0.0,) * CHANNELS

    def with_channel(
        self, k: int, gain: float | None = None, offset: float | None = None
    ) -> LatentEdit:
        """A copy with channel ``k``'s gain and/or offset replaced."""
        gains, offsets = list(self.gains), list(self.offsets)
        if gain is not None:
            gains[k] = gain
        if offset is not None:
            offsets[k] = offset
        return replace(self, gains=tuple(gains), offsets=tuple(offsets))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        data = asdict(self)
        data["gains"], data["offsets"] = list(self.gains), list(self.offsets)
        for name in ("transplant", "interpolation"):
            part = getattr(self, name)
            data[name] = None if part is None else _part_dict(part)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentEdit:
        """Inverse of :meth:`to_dict`; InvalidInputError for unknown keys or bad values."""
        data = dict(data)
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(f"unknown latent edit fields: {', '.join(sorted(unknown))}")
        if data.get("transplant") is not None:
            part = dict(data["transplant"])
            data["transplant"] = Transplant(_ref(part), part.get("apply_to"))
        if data.get("interpolation") is not None:
            part = dict(data["interpolation"])
            data["interpolation"] = Interpolation(_ref(part), float(part.get("t", 0.5)))
        try:
            return cls(**data)
        except TypeError as err:
            raise InvalidInputError(f"bad latent edit: {err}") from None


def _part_dict(part: Transplant | Interpolation) -> dict[str, Any]:
    ref = part.ref
    out: dict[str, Any] = {"source": ref.source, "rect": _list(ref.rect), "path": ref.path}
    if isinstance(part, Transplant):
        out["apply_to"] = "global" if part.apply_to is None else list(part.apply_to)
    else:
        out["t"] = part.t
    return out


def _list(rect: Rect | None) -> list[int] | None:
    return None if rect is None else list(rect)


def _ref(part: dict[str, Any]) -> LatentRef:
    if part.get("apply_to") == "global":
        part["apply_to"] = None
    return LatentRef(str(part.get("source")), part.get("rect"), part.get("path"))


# ------------------------------------------------------------------ positions and maps


def latent_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) of the latent of an H x W image: ``ceil(H/4), ceil(W/4)``."""
    return -(-height // FACTOR), -(-width // FACTOR)


def hashed_normal(
    size: tuple[int, int], channels: int, origin: tuple[int, int], seed: int
) -> np.ndarray:
    """N(0, 1) float32 ``(h, w, channels)`` at absolute positions ``origin + (i, j)``.

    Drawn per NOISE_BLOCK-square block from ``default_rng([seed, block_y, block_x])``, so
    the values at a position do not depend on the crop asked for.
    """
    h, w = size
    oy, ox = origin
    out = np.empty((h, w, channels), np.float32)
    b = NOISE_BLOCK
    for by in range(oy // b, (oy + h + b - 1) // b):
        for bx in range(ox // b, (ox + w + b - 1) // b):
            block = np.random.default_rng([seed, by, bx]).standard_normal(
                (b, b, channels), dtype=np.float32
            )
            y0, x0 = max(oy, by * b), max(ox, bx * b)
            y1, x1 = min(oy + h, (by + 1) * b), min(ox + w, (bx + 1) * b)
            out[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = block[
                y0 - by * b : y1 - by * b, x0 - bx * b : x1 - bx * b
            ]
    return out


STEER_NOISES = ("gaussian", "camera")
# 3x3 bilinear-demosaic footprint: camera noise is correlated with the next pixels
_DEMOSAIC_KERNEL = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]).astype(np.float32) / 16.0


def camera_like_normal(
    size: tuple[int, int], channels: int, origin: tuple[int, int], seed: int
) -> np.ndarray:
    """Unit-variance noise correlated like demosaicked sensor noise (a 3x3 bilinear
    footprint), position-hashed like :func:`hashed_normal` (the value at absolute
    position p is built from the hashed draws at p .. p + 2), so crops agree."""
    h, w = size
    white = hashed_normal((h + 2, w + 2), channels, origin, seed)
    kernel = _DEMOSAIC_KERNEL / np.float32(np.sqrt(np.sum(_DEMOSAIC_KERNEL**2)))
    out = np.zeros((h, w, channels), np.float32)
    for dy in range(3):
        for dx in range(3):
            out += kernel[dy, dx] * white[dy : dy + h, dx : dx + w]
    return out


def noisier(
    image: np.ndarray, origin: tuple[int, int], sigma: float, seed: int, kind: str = "gaussian"
) -> np.ndarray:
    """``clip(image + sigma/255 * n)`` with position-hashed unit noise ``n``: white
    (``"gaussian"``, :func:`hashed_normal`) or demosaic-correlated (``"camera"``,
    :func:`camera_like_normal`, the real-noise model's strength direction)."""
    if kind not in STEER_NOISES:
        raise InvalidInputError(f"steering noise must be one of {', '.join(STEER_NOISES)}")
    draw = camera_like_normal if kind == "camera" else hashed_normal
    noise = draw(image.shape[:2], image.shape[2], origin, seed)
    return np.clip(image + noise * np.float32(sigma / 255.0), 0.0, 1.0).astype(np.float32)


def quantize_map(strength_map: np.ndarray) -> np.ndarray:
    """A strength map rounded to 16 bits, exactly as a 16-bit PNG sidecar reads back."""
    levels = np.round(np.clip(strength_map, 0.0, 1.0) * MAP_LEVELS).astype(np.uint16)
    return levels.astype(np.float32) / np.float32(MAP_LEVELS)


def pool_map(strength_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Average a (H, W) map over 4x4 cells -> (h, w) = ``size`` (edges padded by replication)."""
    h, w = size
    m = np.asarray(strength_map, np.float32)
    ph, pw = h * FACTOR - m.shape[0], w * FACTOR - m.shape[1]
    if ph < 0 or pw < 0:
        m = m[: h * FACTOR, : w * FACTOR]
        ph, pw = max(ph, 0), max(pw, 0)
    if ph or pw:
        m = np.pad(m, ((0, ph), (0, pw)), mode="edge")
    return m.reshape(h, FACTOR, w, FACTOR).mean(axis=(1, 3), dtype=np.float32)


def cells(rect: Rect, origin: tuple[int, int], size: tuple[int, int]) -> tuple[slice, slice]:
    """Latent cells (of a crop at ``origin``, latent ``size``) touched by image ``rect``."""
    y0, x0, y1, x1 = rect
    oy, ox = origin[0] // FACTOR, origin[1] // FACTOR
    r0, c0 = max(0, y0 // FACTOR - oy), max(0, x0 // FACTOR - ox)
    r1 = min(size[0], max(r0, -(-y1 // FACTOR) - oy))
    c1 = min(size[1], max(c0, -(-x1 // FACTOR) - ox))
    return slice(r0, r1), slice(c0, c1)


def auto_step(estimated_sigma: float | None) -> float:
    """The strength step for an image whose EST says ``estimated_sigma`` (0..255; None
    for models that estimate something else): the estimate, clipped to 15..40."""
    if estimated_sigma is None or not math.isfinite(estimated_sigma):
        return STEER_SIGMA
    return float(round(min(STEER_MAX, max(STEER_SIGMA, estimated_sigma)), 1))


def needs_direction(edit: LatentEdit, strength_map: np.ndarray | None) -> bool:
    """Whether the strength step does anything (else the direction need not be computed)."""
    painted = strength_map is not None and bool(np.any(strength_map != NEUTRAL))
    return edit.strength != 1.0 or (painted and edit.map_gain != 0.0)


# ---------------------------------------------------------------------------- apply


def apply_edit(
    latent_mean: np.ndarray,
    latent_std: np.ndarray,
    edit: LatentEdit,
    direction: np.ndarray | None,
    strength_map: np.ndarray | None = None,
    *,
    sources: dict[str, np.ndarray] | None = None,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """The latent the restorer uses (module docstring, steps 1-5): float32 (h, w, L).

    ``latent_mean``/``latent_std``: (h, w, L) of the (crop of the) image whose top-left
    pixel is at ``origin`` (multiples of 4) in the original. ``direction``: (h, w, L),
    needed when :func:`needs_direction`. ``strength_map``: (H, W) or already pooled
    (h, w), values in [0, 1]. ``sources``: the resolved borrowed latents, ``"transplant"``
    / ``"interpolation"`` -> (L,) vector or (h, w, L) array aligned with this crop.
    """
    sources = sources or {}
    c: np.ndarray = np.array(latent_mean, np.float32, copy=True)
    if edit.sample:
        cell_origin = (origin[0] // FACTOR, origin[1] // FACTOR)
        eps = hashed_normal(c.shape[:2], c.shape[2], cell_origin, edit.seed)
        c += np.asarray(latent_std, np.float32) * eps
    if edit.transplant is not None:
        c = _transplant(c, edit.transplant, _source(sources, "transplant", c), origin)
    if edit.interpolation is not None:
        t = np.float32(edit.interpolation.t)
        c = (1 - t) * c + t * _source(sources, "interpolation", c)
    c = _strength(c, edit, direction, strength_map)
    if not edit.channels_neutral:
        c = c * np.asarray(edit.gains, np.float32) + np.asarray(edit.offsets, np.float32)
    return np.ascontiguousarray(c, dtype=np.float32)


def _source(sources: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    if name not in sources:
        raise InvalidInputError(f"the {name} latent was not resolved")
    value = np.asarray(sources[name], np.float32)
    if value.shape not in ((like.shape[2],), like.shape):
        raise InvalidInputError(f"the {name} latent {value.shape} does not fit {like.shape}")
    return np.broadcast_to(value, like.shape)


def _transplant(
    c: np.ndarray, part: Transplant, borrowed: np.ndarray, origin: tuple[int, int]
) -> np.ndarray:
    if part.apply_to is None:
        return np.array(borrowed, np.float32)
    rows, cols = cells(part.apply_to, origin, c.shape[:2])
    c[rows, cols] = borrowed[rows, cols]
    return c


def local_strength(
    edit: LatentEdit, strength_map: np.ndarray | None, size: tuple[int, int]
) -> np.ndarray | float:
    """``s(x)`` per latent cell ((h, w) float32), or the scalar strength without a map."""
    if strength_map is None or edit.map_gain == 0.0:
        return edit.strength
    m = strength_map if strength_map.shape == size else pool_map(strength_map, size)
    return np.float32(edit.strength) + np.float32(edit.map_gain) * (2.0 * m - 1.0)


def _strength(
    c: np.ndarray, edit: LatentEdit, direction: np.ndarray | None, strength_map: np.ndarray | None
) -> np.ndarray:
    s = local_strength(edit, strength_map, c.shape[:2])
    if np.all(np.asarray(s) == 1.0):
        return c
    if direction is None:
        raise InvalidInputError("a strength other than 1 needs the strength direction")
    step = np.asarray(s, np.float32) - np.float32(1.0)
    return c + (step[..., None] if np.ndim(step) else step) * np.asarray(direction, np.float32)


# ---------------------------------------------------------------------------- files


def save_strength_map(
    path: Path | str, strength_map: np.ndarray, *, overwrite: bool = False
) -> Path:
    """Write a strength map as a 16-bit grey-looking PNG (read back by :func:`load_strength_map`
    to exactly :func:`quantize_map` of it)."""
    from app.core import image_io

    grey = np.repeat(np.asarray(strength_map, np.float32)[..., None], 3, axis=2)
    return image_io.save(Path(path), grey, bit_depth=16, overwrite=overwrite)


def load_strength_map(path: Path | str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A strength map (H, W) float32 in [0, 1] from an image file (brightest channel;
    0.5 = neutral, white = clean more, black = keep more); InvalidInputError on a size
    other than ``size``."""
    from app.core import image_io

    pixels = image_io.load(Path(path)).pixels.max(axis=2)
    if size is not None and pixels.shape != tuple(size):
        (h, w), (want_h, want_w) = pixels.shape, size
        raise InvalidInputError(
            f"the strength map {path} is {w}x{h} pixels but the image is {want_w}x{want_h}"
        )
    return np.ascontiguousarray(pixels, dtype=np.float32)
