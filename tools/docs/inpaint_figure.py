"""Side-by-side crops of 32 px holes filled by OpenCV Telea, the harmonic fill and the
shipped learned inpainting model with K = 1 and K = 5 (docs/inpainting.md).

    python tools/docs/inpaint_figure.py [--out docs/screenshots/inpaint_compare.png]

Uses the freely licensed samples in resources/samples (one seeded 32 px hole each, at
the same place for every method) and ``models/dlnet-inpaint.safetensors``; each crop is
96 px around the hole, enlarged 2x (nearest), with the method's PSNR inside the hole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core import damage, image_io  # noqa: E402
from app.core.degradations import quantize8  # noqa: E402
from app.core.metrics import masked_psnr  # noqa: E402
from app.core.progress import drive  # noqa: E402
from app.evaluation.inpaint import FileEntry, opencv_8bit  # noqa: E402
from app.ml.classical_operators import inpaint_harmonic  # noqa: E402
from app.ml.services.inpaint import InpaintService  # noqa: E402

SAMPLES = ("astronaut.jpg", "chelsea.png", "coffee.png")
HOLE, CROP, ZOOM = 32, 96, 2
COLUMNS = ("clean", "input", "Telea", "harmonic", "dlnet K=1", "dlnet K=5")


def fills(service: InpaintService, y: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Telea, harmonic, K = 1, K = 5 results for one damaged image."""
    out = [opencv_8bit(y, mask, cv2.INPAINT_TELEA), inpaint_harmonic(y, mask)]
    out += [drive(service.run(y, mask=mask, params={"k": k})) for k in (1, 5)]
    return [quantize8(o) for o in out]


def crop_around(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The CROP x CROP window centred on the hole, enlarged ZOOM x, as 8-bit BGR."""
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    top = int(np.clip(rows.mean() - CROP // 2, 0, h - CROP))
    left = int(np.clip(cols.mean() - CROP // 2, 0, w - CROP))
    tile = img[top : top + CROP, left : left + CROP]
    tile = cv2.resize(tile, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(np.round(tile * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def labelled(tile: np.ndarray, text: str) -> np.ndarray:
    """``tile`` with ``text`` in a dark band along its top."""
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 18), (30, 30, 30), -1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(tile, text, (4, 13), font, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def figure_row(service: InpaintService, name: str, seed: int) -> np.ndarray:
    """One sample: clean, input and the four fills, each with its hole PSNR."""
    clean = quantize8(image_io.load(ROOT / "resources" / "samples" / name).pixels)
    mask = damage.random_holes(clean.shape, HOLE, 1, np.random.default_rng(seed))
    y = clean * (1 - mask[:, :, None])
    images = [clean, y, *fills(service, y, mask)]
    scores = [masked_psnr(o, clean, mask) for o in images[2:]]
    texts = [name, "input", *(f"{c} {s:.2f} dB" for c, s in zip(COLUMNS[2:], scores, strict=True))]
    tiles = [labelled(crop_around(i, mask), t) for i, t in zip(images, texts, strict=True)]
    return np.hstack(tiles)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "inpaint_compare.png"))
    args = p.parse_args()
    weights = ROOT / "models" / "dlnet-inpaint.safetensors"
    service = InpaintService(FileEntry(str(weights)), "cpu")
    rows = [figure_row(service, name, seed) for seed, name in enumerate(SAMPLES)]
    cv2.imwrite(args.out, np.vstack(rows))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
