"""A tiny randomly initialised VDIR wrapped as a VDIRService (no weights file, CPU)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from app.ml.archs.vdir import VDIR, VDIRConfig
from app.ml.services.vdir import VDIRService

TINY = VDIRConfig(widths=(4, 8, 8), enc_blocks=(1, 1), mid_blocks=1, dec_blocks=(1, 1),
                  latent=4, enc_width=8, est_hidden=4, sft_hidden=4)  # fmt: skip
_ids = itertools.count()


@dataclass(frozen=True)
class Entry:
    id: str
    task: str
    file: str = ""
    title: str = "Tiny VDIR"


def tiny_model(seed: int = 0, encoder_std: float = 0.2) -> VDIR:
    """Random weights large enough that the latent visibly changes the output (a larger
    ``encoder_std`` makes the code react to noise in the input, as a trained one does)."""
    torch.manual_seed(seed)
    model = VDIR(TINY).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1) if p.dim() > 1 else torch.nn.init.uniform_(p, -0.1, 0.1)
    for p in model.encoder.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=encoder_std)
    return model


class TinyVDIRService(VDIRService):
    """VDIRService over an in-memory model (the real class, minus loading weights)."""

    def __init__(self, model: VDIR, task: str = "denoise") -> None:
        super().__init__(Entry(f"tiny-{next(_ids)}", task), device="cpu")
        self._model = model

    @property
    def model(self) -> VDIR:
        return self._model


def tiny_service(task: str = "denoise", seed: int = 0) -> TinyVDIRService:
    return TinyVDIRService(tiny_model(seed), task)
