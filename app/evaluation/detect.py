"""Evaluate damage detectors on synthetic damage over a clean test set (mask known).

``python -m app.evaluation.detect --model models/damage-detector.safetensors
--data ../shared/data/test/CBSD68 [--run runs/detect]``

Settings (seeded per image): ``damage`` = scratches 0.6 + dust 0.6 on the clean image;
``damage+grain`` = the same damage under film grain 0.4, fading 0.3 and Gaussian noise
sigma 5 (what a scan looks like); ``grain only`` = no damage, same nuisance (false
positives only). Each detector gives a probability map; the mask is ``prob >= t`` (no
grow). Scores pooled over all pixels of all images: precision, recall, IoU at the
default threshold t = 0.5 for both detectors, and for the top-hat baseline also at the
threshold that maximises its IoU on this very set (an oracle, so the baseline is not
handicapped by its default). ``grain only`` reports the fraction of pixels flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.core.degradations import DegradationSpec, degrade
from app.core.progress import drive
from app.evaluation.images import find_images, read_uint8
from app.evaluation.metrics_file import merge_metrics
from app.ml.services.detect import (
    DEFAULT_THRESHOLD,
    Detector,
    LearnedDetector,
    ManifestEntry,
    TopHatDetector,
)

SETTINGS: dict[str, dict[str, Any]] = {
    "damage": {"scratches": 0.6, "dust": 0.6},
    "damage+grain": {"scratches": 0.6, "dust": 0.6, "grain": 0.4, "fade": 0.3, "sigma": 5.0},
    "grain only": {"grain": 0.4, "fade": 0.3, "sigma": 5.0},
}
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.96, 0.05))


def counts(prob: np.ndarray, mask: np.ndarray, t: float) -> np.ndarray:
    """(tp, fp, fn, n) of ``prob >= t`` against the binary ``mask``."""
    pred = prob >= t
    truth = mask > 0
    return np.array([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum(),
                     mask.size], dtype=np.float64)  # fmt: skip


def scores(c: np.ndarray) -> dict[str, float]:
    """Precision, recall, IoU (and flagged fraction) from pooled counts."""
    tp, fp, fn, n = c
    return {
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "iou": round(tp / max(tp + fp + fn, 1), 4),
        "flagged": round((tp + fp) / max(n, 1), 5),
    }


def evaluate(detectors: dict[str, Detector], files: list[Path]) -> dict[str, Any]:
    """{setting: {detector: scores at 0.5, "tophat (best t=..)": ...}}."""
    totals = {s: {d: np.zeros((len(THRESHOLDS), 4)) for d in detectors} for s in SETTINGS}
    for i, path in enumerate(files):
        x = read_uint8(path).astype(np.float32) / 255.0
        for setting, spec in SETTINGS.items():
            out = degrade(x, DegradationSpec(**spec, seed=i))
            for name, det in detectors.items():
                prob = drive(det.probability(out.image))
                totals[setting][name] += [counts(prob, out.mask, t) for t in THRESHOLDS]
        print(f"{i + 1}/{len(files)} {path.name}", file=sys.stderr, flush=True)
    return {s: summarise(by_det) for s, by_det in totals.items()}


def summarise(by_det: dict[str, np.ndarray]) -> dict[str, Any]:
    """Scores at the default threshold, plus the top-hat's best-IoU threshold."""
    default = THRESHOLDS.index(DEFAULT_THRESHOLD)
    out: dict[str, Any] = {name: scores(c[default]) for name, c in by_det.items()}
    if "tophat" in by_det and by_det["tophat"][0][[0, 2]].sum() > 0:
        ious = [scores(c)["iou"] for c in by_det["tophat"]]
        best = int(np.argmax(ious))
        out[f"tophat (oracle t={THRESHOLDS[best]})"] = scores(by_det["tophat"][best])
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI (see module docstring); prints the table as JSON."""
    p = argparse.ArgumentParser(prog="python -m app.evaluation.detect")
    p.add_argument("--model", default=None, help="learned detector weights (optional)")
    p.add_argument("--data", default="../shared/data/test/CBSD68")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--run", default=None, help="merge results into RUN/metrics.json")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    detectors: dict[str, Detector] = {"tophat": TopHatDetector()}
    if args.model:
        entry = ManifestEntry("eval", "detect", str(Path(args.model).resolve()))
        detectors["learned"] = LearnedDetector(entry, "cpu")
    files = find_images(args.data)[: args.limit or None]
    result = {"detect": evaluate(detectors, files), "images": len(files)}
    print(json.dumps(result, indent=1))
    if args.run:
        merge_metrics(args.run, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
