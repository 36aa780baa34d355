"""Restoration services: the protocol (:mod:`.base`) and the learned-model services.

Only the torch-free protocol is re-exported here; learned services (``vdir``, ``inpaint``,
...) import torch and are loaded on demand by :mod:`app.ml.registry`. Classical services
live in :mod:`app.ml.classical_services`.
"""

from app.ml.services.base import TASKS, ParamSpec, Service, ServiceInfo, check_image, check_mask

__all__ = ["TASKS", "ParamSpec", "Service", "ServiceInfo", "check_image", "check_mask"]
