"""Synthetic photo degradations: noise, JPEG, blur, downscaling, damage, grain and fading.

One :class:`DegradationSpec` drives the GUI sliders, training-pair synthesis and evaluation,
so :func:`degrade` is deterministic for a given ``seed`` and vectorised (numpy + OpenCV).

Conventions and units:

- Images are float32 ``(H, W, 3)`` RGB in [0, 1]; masks float32 ``(H, W)``, 1 = damaged.
- ``sigma`` is a standard deviation on the 0..255 scale (``sigma=25`` adds N(0, (25/255)^2)).
- ``poisson`` is the shot-noise gain: at intensity x in [0, 1] the shot-noise std is
  ``sqrt(poisson * x)`` (Gaussian approximation of Poisson noise with ``1/poisson`` photons
  at full white); 0.01 gives std 0.071 (18/255) at mid grey.
- ``blur`` and ``blur_ratio * blur`` are the Gaussian stds along the major and minor axis,
  in pixels; ``blur_angle`` is the major axis direction in degrees, counter-clockwise from
  the image's horizontal as displayed (rows grow downwards).
- Blur uses reflect-101 borders (``cv2.BORDER_REFLECT_101`` = torch ``padding_mode="reflect"``).
- ``scale`` is an integer factor; the image is cropped (bottom/right) to a multiple of it.
- ``scratches``, ``dust``, ``tears``, ``grain`` and ``fade`` are strengths in [0, 1];
  ``grain_size`` (px at the scan's resolution) and ``grain_color`` (0 monochrome .. 1 per
  channel) shape the grain (:mod:`app.core.film`).
- ``shot`` and ``read`` are the camera pipeline's linear-scale noise stds
  (:mod:`app.core.camera_noise`: inverse tone curve, Bayer mosaic, Poisson-Gaussian
  noise, ``demosaic`` "bilinear" or "ea", tone curve); ``camera`` names an ISO preset
  (``camera=iso3200``) that fills ``shot``/``read`` when both are 0. The
  camera's JPEG is the ``jpeg`` step, which always comes last.

Noise-like steps (grain, Poisson, Gaussian) do not clip, so their statistics are exact;
:func:`degrade` clips (and, with ``quantize``, rounds to 8-bit levels) at the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np

from app.core.arrays import as_rgb_float
from app.core.camera_noise import DEMOSAIC_METHODS, ISO_PRESETS, camera_pipeline_noise
from app.core.camera_noise import preset as camera_preset
from app.core.damage import dust, random_holes, scratches, torn_corners
from app.core.errors import InvalidInputError
from app.core.film import GRAIN_COLOR, GRAIN_SIZE, fade, film_grain
from app.core.film import gauss1d as _gauss1d

SCALE_METHODS = ("bicubic", "blur")
_FLOATS = {
    "sigma": (0.0, 255.0),
    "poisson": (0.0, 0.1),
    "blur": (0.0, 25.0),
    "blur_angle": (-360.0, 360.0),
    "scratches": (0.0, 1.0),
    "dust": (0.0, 1.0),
    "tears": (0.0, 1.0),
    "grain": (0.0, 1.0),
    "grain_size": (0.3, 8.0),
    "grain_color": (0.0, 1.0),
    "shot": (0.0, 0.3),
    "read": (0.0, 0.1),
    "fade": (0.0, 1.0),
}
_OFF_AT = {"grain_size": GRAIN_SIZE, "grain_color": GRAIN_COLOR}  # defaults that mean "off"
_MAX_SCALE = 8
# Fixed sub-stream per random step: enabling one step never changes another's randomness.
_STREAMS = {
    "scratches": 1, "dust": 2, "tears": 3, "grain": 4, "poisson": 5, "sigma": 6, "camera": 7
}  # fmt: skip


@dataclass
class DegradationSpec:
    """Parameters of :func:`degrade`; every default means "off" (see the module doc for units)."""

    sigma: float = 0.0
    poisson: float = 0.0
    jpeg: int | None = None
    blur: float = 0.0
    blur_ratio: float = 1.0
    blur_angle: float = 0.0
    scale: int = 1
    scale_method: str = "bicubic"
    scratches: float = 0.0
    dust: float = 0.0
    tears: float = 0.0
    grain: float = 0.0
    grain_size: float = GRAIN_SIZE
    grain_color: float = GRAIN_COLOR
    camera: str | None = None
    shot: float = 0.0
    read: float = 0.0
    demosaic: str = "bilinear"
    fade: float = 0.0
    seed: int = 0
    quantize: bool = True

    def __post_init__(self) -> None:
        """A ``camera`` preset fills ``shot`` and ``read`` when both are 0."""
        if self.camera and self.shot == 0 and self.read == 0:
            key = str(self.camera).strip().lower()
            self.shot, self.read = ISO_PRESETS.get(key, (0.0, 0.0))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all parameters (JSON-compatible: numpy scalars become Python ones)."""
        return {k: v.item() if isinstance(v, np.generic) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DegradationSpec:
        """Spec from a (possibly partial) dict; strings are parsed as in :meth:`parse`.

        Raises InvalidInputError on unknown names, unparsable values or values out of range.
        """
        if not isinstance(d, Mapping):
            raise InvalidInputError(f"a degradation spec must be a mapping, got {type(d).__name__}")
        unknown = sorted(str(k) for k in d if k not in cls.names())
        if unknown:
            raise InvalidInputError(
                f"unknown degradation parameter {', '.join(map(repr, unknown))}; "
                f"valid names: {', '.join(cls.names())}"
            )
        spec = cls(**{name: _coerce(name, value) for name, value in d.items()})
        spec.validate()
        return spec

    def to_json(self) -> str:
        """Compact JSON object of :meth:`to_dict`."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, s: str) -> DegradationSpec:
        """Inverse of :meth:`to_json`; bad JSON raises InvalidInputError."""
        try:
            data = json.loads(s)
        except (json.JSONDecodeError, TypeError) as err:
            raise InvalidInputError(f"degradation spec is not valid JSON: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def parse(cls, text: str) -> DegradationSpec:
        """Spec from ``"sigma=25,jpeg=30,seed=3"`` (empty text = identity; ``jpeg=none`` = off).

        Raises InvalidInputError naming the bad item and listing the valid names.
        """
        values: dict[str, str] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip().lower()
            if not sep or not name:
                raise InvalidInputError(
                    f"{item!r} is not name=value; valid names: {', '.join(cls.names())}"
                )
            if name in values:
                raise InvalidInputError(f"degradation parameter {name!r} is given twice")
            values[name] = value.strip()
        return cls.from_dict(values)

    def validate(self) -> None:
        """Raise InvalidInputError when a parameter has the wrong type or is out of range."""
        for name, (lo, hi) in _FLOATS.items():
            value = getattr(self, name)
            if not _is_number(value) or not lo <= value <= hi:
                raise InvalidInputError(
                    f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}"
                )
        if not _is_number(self.blur_ratio) or not 0.0 < self.blur_ratio <= 1.0:
            raise InvalidInputError(f"blur_ratio must be in (0, 1], got {self.blur_ratio!r}")
        if self.jpeg is not None and not _is_int_in(self.jpeg, 1, 100):
            raise InvalidInputError(f"jpeg must be a quality 1..100 or None, got {self.jpeg!r}")
        if not _is_int_in(self.scale, 1, _MAX_SCALE):
            raise InvalidInputError(f"scale must be an integer 1..{_MAX_SCALE}, got {self.scale!r}")
        if self.scale_method not in SCALE_METHODS:
            raise InvalidInputError(
                f"scale_method must be one of {', '.join(SCALE_METHODS)}, got {self.scale_method!r}"
            )
        if self.camera is not None:
            camera_preset(self.camera)  # raises on an unknown name
        if self.demosaic not in DEMOSAIC_METHODS:
            raise InvalidInputError(
                f"demosaic must be one of {', '.join(DEMOSAIC_METHODS)}, got {self.demosaic!r}"
            )
        if not _is_int_in(self.seed, 0, 2**63 - 1):
            raise InvalidInputError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.quantize, bool | np.bool_):
            raise InvalidInputError(f"quantize must be true or false, got {self.quantize!r}")

    def is_identity(self) -> bool:
        """True when no degradation step is on (``degrade`` then only clips / quantises)."""
        return (
            all(
                getattr(self, name) == _OFF_AT.get(name, 0)
                for name in _FLOATS
                if name != "blur_angle"
            )
            and self.jpeg is None
            and not self.camera
            and self.scale == 1
        )


def has_camera_noise(spec: DegradationSpec) -> bool:
    """True when ``spec`` runs the camera pipeline (a preset, or shot / read noise)."""
    return bool(spec.camera) or spec.shot > 0 or spec.read > 0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_int_in(value: object, lo: int, hi: int) -> bool:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    return ok and lo <= int(value) <= hi  # type: ignore[call-overload]


def _coerce(name: str, value: Any) -> Any:
    """Convert a parsed or JSON value to the field's type; range checks are left to validate."""
    try:
        if name == "jpeg":
            is_off = value is None or str(value).strip().lower() in ("", "none", "off")
            return None if is_off else _to_int(value)
        if name == "quantize":
            return _to_bool(value)
        if name in ("scale_method", "demosaic"):
            return str(value).strip().lower()
        if name == "camera":
            text = "" if value is None else str(value).strip().lower()
            return None if text in ("", "none", "off") else text
        if name in ("scale", "seed"):
            return _to_int(value)
        number = float(value) if not isinstance(value, bool) else math.nan
        if not math.isfinite(number):
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name}={value!r}: {_EXPECTED.get(name, 'expected a number')}"
        ) from None


_EXPECTED = {
    "jpeg": "expected a quality 1..100 or 'none'",
    "quantize": "expected true or false",
    "scale": "expected an integer 1..8",
    "seed": "expected a non-negative integer",
}


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = float(value) if isinstance(value, float) else int(str(value).strip())
    if not float(number).is_integer():
        raise ValueError
    return int(number)


def _to_bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError


@dataclass
class Degraded:
    """Result of :func:`degrade`.

    ``image``: float32 ``(H//scale, W//scale, 3)`` in [0, 1]; ``mask``: float32
    ``(H//scale, W//scale)``, 1 where scratches, dust or tears replaced pixels (all zeros
    when none); ``spec``: the spec that made them.
    """

    image: np.ndarray
    mask: np.ndarray
    spec: DegradationSpec


def degrade(image: np.ndarray, spec: DegradationSpec) -> Degraded:
    """Apply ``spec`` to a float32 ``(H, W, 3)`` image in [0, 1]; the input is not modified.

    Order: fade -> blur -> downscale -> damage (scratches, dust, tears) -> grain ->
    camera pipeline -> Poisson -> Gaussian noise -> clip (+ round to 8-bit levels) -> JPEG.
    """
    spec.validate()
    img = as_rgb_float(image)
    if spec.fade > 0:
        img = fade(img, spec.fade)
    if spec.blur > 0:
        img = gaussian_blur(img, spec.blur, spec.blur_ratio, spec.blur_angle)
    if spec.scale > 1:
        img = downscale(img, spec.scale, spec.scale_method)
    img, mask = _damage(img, spec)
    if spec.grain > 0:
        grain_rng = _substream(spec.seed, "grain")
        img = film_grain(img, spec.grain, grain_rng, spec.grain_size, spec.grain_color)
    if has_camera_noise(spec):
        img = camera_pipeline_noise(
            img, spec.shot, spec.read, _substream(spec.seed, "camera"),
            demosaic_method=spec.demosaic,
        )  # fmt: skip
    if spec.poisson > 0:
        img = add_poisson_gaussian(img, spec.poisson, 0.0, _substream(spec.seed, "poisson"))
    if spec.sigma > 0:
        img = add_gaussian_noise(img, spec.sigma, _substream(spec.seed, "sigma"))
    img = quantize8(img) if spec.quantize else np.clip(img, 0.0, 1.0)
    if spec.jpeg is not None:
        img = jpeg_compress(img, spec.jpeg)
    return Degraded(img, mask, spec)


DamageFn = Callable[[np.ndarray, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _damage(img: np.ndarray, spec: DegradationSpec) -> tuple[np.ndarray, np.ndarray]:
    """Scratches, dust and tears (in that order) and the union of their masks."""
    mask = np.zeros(img.shape[:2], np.float32)
    steps: tuple[tuple[str, DamageFn], ...] = (
        ("scratches", scratches),
        ("dust", dust),
        ("tears", torn_corners),
    )
    for name, step in steps:
        amount = float(getattr(spec, name))
        if amount > 0:
            img, step_mask = step(img, amount, _substream(spec.seed, name))
            np.maximum(mask, step_mask, out=mask)
    return img, mask


def _substream(seed: int, step: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_STREAMS[step],)))


# --- 8-bit, noise and JPEG ------------------------------------------------------------


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def quantize8(img: np.ndarray) -> np.ndarray:
    """Round to the nearest of the 256 levels k/255 and clip to [0, 1] (float32)."""
    return _to_uint8(as_rgb_float(img)).astype(np.float32) / 255


def add_gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add i.i.d. N(0, (sigma/255)^2) per pixel and channel; ``sigma`` on the 0..255 scale.

    Not clipped.
    """
    img = as_rgb_float(img)
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    return img + noise * (float(sigma) / 255.0)


def add_poisson_gaussian(
    img: np.ndarray, poisson: float, sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Add signal-dependent noise of std ``sqrt(poisson * x + (sigma/255)^2)`` at intensity x.

    Gaussian approximation of Poisson-Gaussian sensor noise (x clipped at 0 for the
    variance). Not clipped.
    """
    img = as_rgb_float(img)
    var = np.maximum(img, 0.0) * float(poisson) + (float(sigma) / 255.0) ** 2
    return img + rng.standard_normal(img.shape, dtype=np.float32) * np.sqrt(var)


def jpeg_compress(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through OpenCV's libjpeg at ``quality`` 1..100 with 4:2:0 chroma subsampling.

    The input is rounded to uint8 first; the output lies on the 1/255 grid.
    """
    if not _is_int_in(quality, 1, 100):
        raise InvalidInputError(f"JPEG quality must be an integer 1..100, got {quality!r}")
    bgr = cv2.cvtColor(_to_uint8(as_rgb_float(img)), cv2.COLOR_RGB2BGR)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    ok, buf = cv2.imencode(".jpg", bgr, params)
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if not ok or decoded is None:
        raise InvalidInputError(f"JPEG round trip failed for an image of shape {img.shape}")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255


# --- blur and scale -------------------------------------------------------------------


def blur_kernel(sigma: float, ratio: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Normalised float32 Gaussian kernel, odd size ``2*ceil(3*sigma)+1`` (>= 3).

    ``sigma``: std along the major axis (px); ``ratio`` in (0, 1]: minor/major std;
    ``angle``: major axis direction in degrees, counter-clockwise from the horizontal as
    displayed. ``sigma <= 0`` gives the 1x1 identity kernel. The kernel is point-symmetric,
    so correlation (``cv2.filter2D``) and convolution agree.
    """
    if sigma <= 0:
        return np.ones((1, 1), np.float32)
    if not 0.0 < ratio <= 1.0:
        raise InvalidInputError(f"blur ratio must be in (0, 1], got {ratio!r}")
    radius = max(1, math.ceil(3.0 * sigma))
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    theta = math.radians(angle)
    along = x * math.cos(theta) - y * math.sin(theta)  # rows grow downwards
    across = x * math.sin(theta) + y * math.cos(theta)
    minor = max(sigma * ratio, 1e-3)
    k = np.exp(-0.5 * ((along / sigma) ** 2 + (across / minor) ** 2))
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(
    img: np.ndarray, sigma: float, ratio: float = 1.0, angle: float = 0.0
) -> np.ndarray:
    """Blur with :func:`blur_kernel` (separable when isotropic), reflect-101 borders."""
    img = as_rgb_float(img)
    if sigma <= 0:
        return img.copy()
    border = cv2.BORDER_REFLECT_101
    if ratio >= 1.0:
        k = _gauss1d(sigma)
        return cv2.sepFilter2D(img, -1, k, k, borderType=border)
    return cv2.filter2D(img, -1, blur_kernel(sigma, ratio, angle), borderType=border)


def downscale(img: np.ndarray, factor: int, method: str = "bicubic") -> np.ndarray:
    """Shrink by an integer ``factor`` to ``(H//factor, W//factor, 3)``, clipped to [0, 1].

    The image is first cropped to a multiple of ``factor``. ``"bicubic"``: ``cv2.resize``
    with INTER_CUBIC (no anti-aliasing prefilter). ``"blur"``: Gaussian blur of std
    ``0.5*factor`` then keep every ``factor``-th pixel starting at ``(factor-1)//2``.
    """
    img = as_rgb_float(img)
    h, w = img.shape[0] // factor, img.shape[1] // factor
    if not _is_int_in(factor, 1, 10**6) or h < 1 or w < 1:
        raise InvalidInputError(f"cannot downscale a {img.shape[:2]} image by {factor!r}")
    if method not in SCALE_METHODS:
        raise InvalidInputError(f"scale method must be one of {', '.join(SCALE_METHODS)}")
    if factor == 1:
        return img.copy()
    img = img[: h * factor, : w * factor]
    if method == "bicubic":
        small = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    else:
        start = (factor - 1) // 2
        small = gaussian_blur(img, 0.5 * factor)[start::factor, start::factor]
    return np.clip(small, 0.0, 1.0)


__all__ = [
    "DamageFn",
    "DegradationSpec",
    "Degraded",
    "SCALE_METHODS",
    "add_gaussian_noise",
    "add_poisson_gaussian",
    "blur_kernel",
    "degrade",
    "downscale",
    "dust",
    "fade",
    "film_grain",
    "has_camera_noise",
    "gaussian_blur",
    "jpeg_compress",
    "quantize8",
    "random_holes",
    "scratches",
    "torn_corners",
]
