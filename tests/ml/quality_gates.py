"""Measurements behind the quality gates of the shipped weights (tests/ml/test_quality_gates.py).

Each gate scores one shipped model on small fixed crops of the freely licensed samples
(resources/samples), degraded with fixed seeds, so a test takes a few seconds on one
thread. ``python -m tests.ml.quality_gates`` prints every number the gates are set from
(and the same numbers for deliberately swapped weights), on one thread::

    OMP_NUM_THREADS=1 python -m tests.ml.quality_gates
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core import damage, image_io
from app.core.degradations import DegradationSpec, degrade, quantize8
from app.core.metrics import psnr
from app.core.progress import drive

MODELS = Path(__file__).resolve().parents[2] / "models"
SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
CROP = 128
# (sample, top, left): textured regions (fur, cup rim and beans, face and flag)
CROPS = (("chelsea.png", 100, 140), ("coffee.png", 150, 200), ("astronaut.jpg", 60, 180))
# the degradation each VDIR model is gated on (old-photo: its own chain, as its card's
# first row, cf. app.training.data.synth_oldphoto)
SPECS = {
    "denoise": DegradationSpec(sigma=25),
    "deblock": DegradationSpec(jpeg=20),
    "old-photo": DegradationSpec(fade=0.3, blur=0.8, grain=0.3, sigma=15, jpeg=60),
    "real": DegradationSpec(camera="iso1600", jpeg=90),  # vdir-real: camera noise + its JPEG
}
TASK_OF = {
    "vdir-denoise": "denoise", "vdir-deblock": "deblock", "vdir-old-photo": "old-photo",
    "vdir-real": "real",
}  # fmt: skip


@dataclass
class Entry:
    """A registry-like entry for a weights file (with an optional quick preview file)."""

    id: str
    task: str
    file: str
    title: str = ""
    preview: str = ""


def weights(model_id: str) -> Path:
    return MODELS / f"{model_id}.safetensors"


def crops() -> list[np.ndarray]:
    """The fixed 8-bit clean crops, float32 (CROP, CROP, 3)."""
    out = []
    for name, top, left in CROPS:
        pixels = image_io.load(SAMPLES / name).pixels
        out.append(quantize8(pixels[top : top + CROP, left : left + CROP]))
    return out


def degraded(task: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean, degraded) crop pairs for ``task``; crop ``i`` is degraded with seed ``i``."""
    spec = SPECS[task]
    return [
        (x, degrade(x, DegradationSpec(**{**spec.to_dict(), "seed": i})).image)
        for i, x in enumerate(crops())
    ]


def mean_gain(restore: Callable[[np.ndarray], np.ndarray], task: str) -> float:
    """Mean PSNR gain (dB, output over input) of ``restore`` on ``task``'s crops."""
    gains = [psnr(restore(y), x) - psnr(y, x) for x, y in degraded(task)]
    return float(np.mean(gains))


def vdir_gain(model_id: str, task: str) -> float:
    """Gain of the VDIR weights ``model_id`` put in the slot of ``task``."""
    from app.ml.services.vdir import VDIRService

    service = VDIRService(Entry(model_id, task, str(weights(model_id))), "cpu")
    return mean_gain(lambda y: drive(service.run(y)), task)


def preview_gain(model_id: str, preview_id: str, task: str) -> float:
    """Gain of the quick restorer ``preview_id`` on the latent of the full ``model_id``."""
    from app.ml.services.vdir import VDIRService

    entry = Entry(model_id, task, str(weights(model_id)), preview=str(weights(preview_id)))
    full = VDIRService(entry, "cpu")
    quick = full.quick()
    return mean_gain(lambda y: drive(quick.restore(y, full.encode(y))), task)


def scrambled(model: Any) -> Any:
    """A copy of ``model`` with the values of each weight tensor shuffled (seed 0): the
    same architecture and statistics, none of the learning (a wrong or corrupt file)."""
    import torch

    model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            flat = p.detach().reshape(-1)
            p.copy_(flat[torch.randperm(flat.numel(), generator=gen)].reshape(p.shape))
    return model


def _with_model(service: Any, model: Any) -> Any:
    """``service`` with its (cached, read-only) ``model`` property replaced by ``model``."""
    kind = type(f"Swapped{type(service).__name__}", (type(service),), {"model": model})
    swapped = copy.copy(service)
    swapped.__class__ = kind
    return swapped


def inpaint_psnr(
    k: int = 5, *, holes: bool = True, scramble: bool = False, method: str = "dlnet"
) -> float:
    """PSNR (dB) inside the mask, pooled over the crops (crop ``i`` with seed ``i``), of the
    shipped dlnet-inpaint with ``k`` estimates. ``holes``: two 24 px square holes a crop;
    else the pixels thin scratches (0.8) and dust (0.6) hit. ``scramble``: its weights
    shuffled; ``method="telea"``: OpenCV's Telea instead."""
    from app.evaluation.vdir import FileEntry
    from app.ml.services.inpaint import InpaintService

    path = weights("dlnet-inpaint")
    service = InpaintService(FileEntry(path.stem, "inpaint", str(path)), "cpu")
    if scramble:
        service = _with_model(service, scrambled(service.model))
    err, n = 0.0, 0.0
    for i, clean in enumerate(crops()):
        if holes:
            mask = damage.random_holes(clean.shape, 24, 2, np.random.default_rng(i))
        else:
            hit = degrade(clean, DegradationSpec(scratches=0.8, dust=0.6, seed=i)).mask
            mask = (hit > 0).astype(np.float32)
        y = clean * (1 - mask[:, :, None])
        if method == "telea":
            import cv2

            from app.evaluation.inpaint import opencv_8bit

            out = quantize8(opencv_8bit(y, mask, cv2.INPAINT_TELEA))
        else:
            out = quantize8(drive(service.run(y, mask=mask, params={"k": k})))
        err += float((((out - clean) ** 2) * mask[:, :, None]).sum())
        n += 3 * float(mask.sum())
    return float(10 * np.log10(1.0 / (err / n)))


def detector_iou(*, scramble: bool = False, tophat: bool = False) -> float:
    """IoU (pooled over the crops, threshold 0.5) of the shipped damage detector on
    scratches 0.6 + dust 0.6 under grain 0.4, fade 0.3, sigma 5 (app.evaluation.detect's
    ``damage+grain`` setting), crop ``i`` with seed ``i`` (``scramble``: its weights
    shuffled; ``tophat``: the classical top-hat detector instead)."""
    from app.ml.services.detect import (
        DEFAULT_THRESHOLD,
        LearnedDetector,
        ManifestEntry,
        TopHatDetector,
    )

    path = weights("damage-detector")
    detector: Any = LearnedDetector(ManifestEntry(path.stem, "detect", str(path)), "cpu")
    if scramble:
        detector = _with_model(detector, scrambled(detector.model))
    if tophat:
        detector = TopHatDetector()
    tp = wrong = 0
    for i, clean in enumerate(crops()):
        spec = DegradationSpec(scratches=0.6, dust=0.6, grain=0.4, fade=0.3, sigma=5.0, seed=i)
        out = degrade(clean, spec)
        pred = drive(detector.probability(out.image)) >= DEFAULT_THRESHOLD
        truth = out.mask > 0
        tp += int((pred & truth).sum())
        wrong += int((pred ^ truth).sum())
    return tp / max(tp + wrong, 1)


def _swapped_preview() -> float:
    """The denoiser's quick restorer on the old-photo model's latent (-1: refused)."""
    from app.core.errors import InvalidInputError

    try:
        return preview_gain("vdir-old-photo", "vdir-denoise-preview", "old-photo")
    except InvalidInputError:
        return -1.0


def measure() -> dict[str, float]:
    """Every gated number, and the swapped-weights numbers (see the module docstring)."""
    out: dict[str, float] = {}
    for model_id, task in TASK_OF.items():
        out[model_id] = vdir_gain(model_id, task)
        out[f"{model_id}-preview"] = preview_gain(model_id, f"{model_id}-preview", task)
    out["swap denoise->deblock"] = vdir_gain("vdir-denoise", "deblock")
    out["swap old-photo->deblock"] = vdir_gain("vdir-old-photo", "deblock")
    out["swap deblock->old-photo"] = vdir_gain("vdir-deblock", "old-photo")
    out["swap deblock->denoise"] = vdir_gain("vdir-deblock", "denoise")
    out["swap denoise->old-photo"] = vdir_gain("vdir-denoise", "old-photo")
    out["swap old-photo->denoise"] = vdir_gain("vdir-old-photo", "denoise")
    out["swap denoise-preview->old-photo"] = _swapped_preview()
    out["swap denoise->real"] = vdir_gain("vdir-denoise", "real")
    out["swap old-photo->real"] = vdir_gain("vdir-old-photo", "real")
    out["holes K=5"] = inpaint_psnr()
    out["holes K=1"] = inpaint_psnr(k=1)
    out["holes K=5 scrambled"] = inpaint_psnr(scramble=True)
    out["holes telea"] = inpaint_psnr(method="telea")
    out["scratches K=1"] = inpaint_psnr(k=1, holes=False)
    out["scratches K=1 scrambled"] = inpaint_psnr(k=1, holes=False, scramble=True)
    out["damage-detector"] = detector_iou()
    out["damage-detector scrambled"] = detector_iou(scramble=True)
    out["top-hat"] = detector_iou(tophat=True)
    return out


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    print(json.dumps({k: round(v, 3) for k, v in measure().items()}, indent=1))
