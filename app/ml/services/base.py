"""The service protocol every restoration method implements (DESIGN.md, "Model contract").

A service takes a float32 ``(H, W, 3)`` RGB image in [0, 1] and returns a float32 image
of the right size (``H*scale, W*scale`` for upscalers). Its :meth:`Service.run` is a
generator: it yields a :class:`~app.core.progress.Progress` once per tile and returns the
result, so callers can show progress and cancel between tiles
(:func:`app.core.progress.drive`). Services pad and crop internally, check their inputs
(raising :class:`~app.core.errors.InvalidInputError` with a readable message), and
accept ``mask=`` (H, W) float32 in [0, 1] where 1 marks pixels to fill.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.errors import InvalidInputError
from app.core.progress import Work

TASKS = ("denoise", "deblock", "upscale", "inpaint", "old-photo")


@dataclass(frozen=True)
class ParamSpec:
    """One user-facing parameter of a service (drives CLI options and GUI controls)."""

    name: str
    default: float | int | str | bool
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def validate(self, value: Any) -> Any:
        """``value`` coerced to the default's type; InvalidInputError if it is out of range."""
        coerced = self._coerce(value)
        if self.choices and coerced not in self.choices:
            raise InvalidInputError(f"{self.name} must be one of {', '.join(self.choices)}")
        if isinstance(coerced, int | float) and not isinstance(coerced, bool):
            if coerced != coerced:  # NaN passes every comparison below
                raise InvalidInputError(f"{self.name} must be a number, got {value!r}")
            if self.minimum is not None and coerced < self.minimum:
                raise InvalidInputError(
                    f"{self.name} must be at least {self.minimum}, got {coerced}"
                )
            if self.maximum is not None and coerced > self.maximum:
                raise InvalidInputError(
                    f"{self.name} must be at most {self.maximum}, got {coerced}"
                )
        return coerced

    def _coerce(self, value: Any) -> Any:
        kind = type(self.default)
        if kind is bool:
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise InvalidInputError(f"{self.name} must be true or false, got {value!r}")
        try:
            return kind(value)
        except (TypeError, ValueError, OverflowError) as err:  # int(inf): OverflowError
            raise InvalidInputError(
                f"{self.name} must be a {kind.__name__}, got {value!r}"
            ) from err


@dataclass(frozen=True)
class ServiceInfo:
    """What a service is: ``task`` from TASKS, ``method`` unique within the task."""

    task: str
    method: str
    title: str
    description: str = ""
    scale: int = 1
    uses_mask: bool = False
    learned: bool = False
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """``task/method``, the id used by the CLI, the registry and recipes."""
        return f"{self.task}/{self.method}"


def typed_params(
    info: ServiceInfo, given: Mapping[str, Any], *, implied: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``given`` (values typed or command-line text) checked against ``info.params`` and
    typed by each ParamSpec (``"1"`` stays ``"1"`` for a text choice, becomes ``1`` for an
    int and ``True`` for a switch).

    ``implied`` values (e.g. ``scale`` for an upscaler with a fixed factor) are accepted
    (and dropped) when the service has no such parameter but already does that.
    InvalidInputError names the offending parameter and the ones the method has.
    """
    specs = {p.name: p for p in info.params}
    params: dict[str, Any] = {}
    for name, value in given.items():
        if name in specs:
            params[name] = specs[name].validate(value)
        elif not _implied(implied, name, value):
            have = f" (it has: {', '.join(sorted(specs))})" if specs else " (it has none)"
            raise InvalidInputError(f"method {info.method} has no parameter {name}{have}")
    return params


def _implied(implied: Mapping[str, Any] | None, name: str, value: Any) -> bool:
    if implied is None or name not in implied:
        return False
    return bool(implied[name] == value or str(implied[name]) == str(value))


class Service(ABC):
    """Base class of restoration services; subclasses set ``info`` and implement ``_run``."""

    info: ServiceInfo
    device: str = "cpu"

    def resolve_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``params`` (unknown names ignored), each validated."""
        given = dict(params or {})
        return {p.name: p.validate(given.get(p.name, p.default)) for p in self.info.params}

    def output_scale(self, params: Mapping[str, Any] | None = None) -> int:
        """Output size factor for ``params``: ``info.scale`` (0 there means "set by params";
        services with a ``scale`` parameter override this)."""
        return self.info.scale

    def run(
        self,
        image: np.ndarray,
        *,
        mask: np.ndarray | None = None,
        params: Mapping[str, Any] | None = None,
        tile: int = 512,
    ) -> Work[np.ndarray]:
        """Restore ``image``; yields Progress per tile, returns float32 (H*s, W*s, 3) in [0, 1]."""
        check_image(image)
        if mask is not None:
            mask = check_mask(mask, image.shape[:2])
        elif self.info.uses_mask:
            raise InvalidInputError(f"{self.info.title} needs a mask of the pixels to fill")
        resolved = self.resolve_params(params)
        result = yield from self._run(image, mask, resolved, tile)
        return np.clip(result, 0.0, 1.0).astype(np.float32, copy=False)

    @abstractmethod
    def _run(
        self, image: np.ndarray, mask: np.ndarray | None, params: dict[str, Any], tile: int
    ) -> Work[np.ndarray]:
        """Subclass hook: inputs already checked, params validated."""


def check_image(image: np.ndarray) -> None:
    """Raise InvalidInputError unless ``image`` is a float32 (H, W, 3) array."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    if image.dtype != np.float32:
        raise InvalidInputError(f"expected float32 pixels in [0, 1], got {image.dtype}")
    if min(image.shape[:2]) < 1:
        raise InvalidInputError("the image is empty")


def check_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return ``mask`` as float32 (H, W) in [0, 1]; InvalidInputError if its size differs."""
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.shape != size:
        raise InvalidInputError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
            f"{size[1]}x{size[0]}; they must be the same size"
        )
    return np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)
