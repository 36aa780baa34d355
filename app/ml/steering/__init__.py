"""Steering a VDIR model through its latent code.

- :mod:`~app.ml.steering.edit`: :class:`LatentEdit`, what a person did to the latent, as
  data, and the numpy arithmetic that applies it (torch-free; the window imports it).
- :mod:`~app.ml.steering.model`: :class:`LatentModel`, the evented (psygnal) single owner
  of the window's current edit and so of the latent strength.
- :mod:`~app.ml.steering.sources`: latents borrowed for transplants and interpolations,
  and the cache jobs share.
- :mod:`~app.ml.steering.service`: :class:`SteeredService` (encode, edit, restore) and the
  strength axis built along the direction noise moves the code.
- :mod:`~app.ml.steering.research`: uncertainty, parameter sweeps, patch embeddings.
- :mod:`~app.ml.steering.views`: model-free helpers of those views (PCA/t-SNE, sheets).

Everything is built on the public VDIR service contract (:class:`Steerable`), so it works
with any :class:`~app.ml.services.vdir.VDIRService` and with tiny test models.
"""

from app.ml.steering.edit import (
    Interpolation,
    LatentEdit,
    LatentRef,
    Transplant,
    apply_edit,
)
from app.ml.steering.research import Embedding, embedding, sweep, uncertainty
from app.ml.steering.service import (
    Steerable,
    SteeredService,
    est_key,
    estimate_map,
    estimate_step,
    is_steerable,
    latent_layers,
    strength_direction,
)
from app.ml.steering.sources import LatentCache
from app.ml.steering.views import contact_sheet, pca_2d, project_2d

__all__ = [
    "Embedding",
    "Interpolation",
    "LatentCache",
    "LatentEdit",
    "LatentRef",
    "SteeredService",
    "Steerable",
    "Transplant",
    "apply_edit",
    "contact_sheet",
    "embedding",
    "est_key",
    "estimate_map",
    "estimate_step",
    "is_steerable",
    "latent_layers",
    "pca_2d",
    "project_2d",
    "strength_direction",
    "sweep",
    "uncertainty",
]
