"""Before/after crop sheet of the denoisers on real photographs (no clean reference).

    .venv/bin/python tools/docs/real_noise_sheet.py --out docs/screenshots/real_noise_sheet.png \\
        ../shared/data/old_photos/1880Paris.jpg ../shared/data/old_photos/1899NycBlizzard.jpg

For each image, a ``--crop``-pixel square around ``--at`` (fractions of width and height;
the centre by default) is shown as it is and restored by each ``--methods`` entry
(``task/method`` of the registry; default: the AWGN model, the real-noise model and the
old-photo model), side by side with the column names on top. The crops are restored
with the whole image's context (a 64-pixel margin), then cut.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core import image_io  # noqa: E402
from app.core.progress import drive  # noqa: E402
from app.ml import registry  # noqa: E402

MARGIN = 64
LABEL_H = 28


def crop_box(shape: tuple[int, ...], size: int, at: tuple[float, float]) -> tuple[int, int, int]:
    """(y0, x0, side) of a square of at most ``size`` px centred at fractions ``at``."""
    h, w = shape[:2]
    side = min(size, h, w)
    y0 = int(np.clip(at[1] * h - side / 2, 0, h - side))
    x0 = int(np.clip(at[0] * w - side / 2, 0, w - side))
    return y0, x0, side


def restore_crop(
    image: np.ndarray, box: tuple[int, int, int], task: str, method: str
) -> np.ndarray:
    """The box of ``image`` restored by ``task/method`` with MARGIN px of context."""
    y0, x0, side = box
    h, w = image.shape[:2]
    ya, xa = max(0, y0 - MARGIN), max(0, x0 - MARGIN)
    yb, xb = min(h, y0 + side + MARGIN), min(w, x0 + side + MARGIN)
    service = registry.create_service(task, method, device="cpu")
    out = drive(service.run(np.ascontiguousarray(image[ya:yb, xa:xb])))
    return out[y0 - ya : y0 - ya + side, x0 - xa : x0 - xa + side]


def labelled(tile: np.ndarray, text: str, zoom: int = 1) -> np.ndarray:
    """``tile`` (float RGB) as uint8, enlarged ``zoom`` times (nearest neighbour so the
    pixels stay visible), with a dark strip holding ``text`` on top."""
    tile = np.repeat(np.repeat(tile, zoom, axis=0), zoom, axis=1)
    strip = np.full((LABEL_H, tile.shape[1], 3), 24, np.uint8)
    cv2.putText(strip, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1,
                cv2.LINE_AA)  # fmt: skip
    body = np.clip(np.rint(tile * 255), 0, 255).astype(np.uint8)
    return np.vstack([strip, body])


def sheet_row(
    path: Path, methods: list[str], size: int, at: tuple[float, float], zoom: int
) -> np.ndarray:
    image = image_io.load(path).pixels
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    box = crop_box(image.shape, size, at)
    y0, x0, side = box
    tiles = [labelled(image[y0 : y0 + side, x0 : x0 + side], f"{path.stem} (input)", zoom)]
    for spec in methods:
        task, method = spec.split("/")
        tiles.append(labelled(restore_crop(image, box, task, method), spec, zoom))
        print(f"{path.name}: {spec} done", flush=True)
    gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
    return np.hstack([t for pair in zip(tiles, [gap] * len(tiles)) for t in pair][:-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("/tmp/real_noise_sheet.png"))
    p.add_argument("--methods", default="denoise/vdir,denoise/vdir-real,old-photo/vdir")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--at", default="0.5,0.5", help="crop centre as fractions x,y")
    p.add_argument("--zoom", type=int, default=2, help="enlarge the crops this many times")
    args = p.parse_args()
    at = tuple(float(v) for v in args.at.split(","))
    rows = [sheet_row(path, args.methods.split(","), args.crop, (at[0], at[1]), args.zoom)
            for path in args.images]  # fmt: skip
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(args.out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
