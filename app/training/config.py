"""Training configuration: a JSON file in ``configs/`` parsed into :class:`TrainConfig`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

from app.core.errors import InvalidInputError

TASKS = ("denoise", "deblock", "old-photo", "denoise-real")


@dataclass(frozen=True)
class BaseTrainConfig:
    """Fields and JSON handling shared by every training config.

    ``lr`` is the peak Adam learning rate, reached after ``warmup`` steps and then
    decayed with a cosine to ``lr_min`` at ``steps``. Subclasses add their task's
    fields, may override defaults and set ``tasks`` (the accepted ``task`` values).
    """

    tasks: ClassVar[tuple[str, ...]] = ()

    task: str
    arch: dict[str, Any] = field(default_factory=dict)
    patch: int = 64
    batch: int = 16
    steps: int = 10000
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup: int = 100
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    seed: int = 0
    val_images: int = 8
    val_crop: int = 128
    log_every: int = 50
    val_every: int = 500
    ckpt_minutes: float = 5.0
    name: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Validate and build; raises InvalidInputError on unknown keys or task."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise InvalidInputError(f"unknown training config keys: {', '.join(unknown)}")
        if data.get("task") not in cls.tasks:
            raise InvalidInputError(f"config task must be one of {', '.join(cls.tasks)}")
        fixed: dict[str, Any] = {k: tuple(v) if k == "betas" else v for k, v in data.items()}
        return cls(**fixed)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a JSON config file (see :func:`read_config`)."""
        return cls.from_dict(read_config(path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (round-trips through :meth:`from_dict`)."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON object of a config file, not yet validated; InvalidInputError when the file
    cannot be read, is not JSON or is not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"cannot read training config {path}: {err}") from err
    if not isinstance(data, dict):
        raise InvalidInputError(f"training config {path} is not a JSON object")
    return data


@dataclass(frozen=True)
class TrainConfig(BaseTrainConfig):
    """Everything a VDIR run needs besides the data folder and the output folder.

    ``degradation`` holds the task's sampling ranges (see :mod:`app.training.data`);
    the schedule and shared fields are described in :class:`BaseTrainConfig`.
    """

    tasks: ClassVar[tuple[str, ...]] = TASKS

    degradation: dict[str, Any] = field(default_factory=dict)
    beta_kl: float = 0.01
    lambda_rec: float = 1.0
    lambda_est: float = 1.0
    use_vae: bool = True
    channels_last: bool = True
    only_est: bool = False  # train only the EST head on the frozen encoder's mean latent
    reinit_est: bool = False  # re-initialise the EST head after --init (a new EST target)

    def with_overrides(self, **kw: Any) -> TrainConfig:
        """Copy with some fields replaced (``None`` values ignored)."""
        data = self.to_dict()
        data.update({k: v for k, v in kw.items() if v is not None})
        return TrainConfig.from_dict(data)
