"""How much VDIR-SR's ``sharpen`` (its latent strength) moves Set5 Y-PSNR, and its EST.

    nice -n 10 .venv/bin/python tools/probes/vdir_sr_sharpen.py [WEIGHTS.safetensors]

Luma only (BT.601 studio-range Y-PSNR, border crop = scale, the degradation of
``app.training.sr_task.degraded_luma``: Gaussian blur u, bicubic downscale, 8 bits), for
sharpen 0.5 / 1 / 1.5 at a few (scale, u); prints one JSON line. WEIGHTS defaults to the
shipped models/vdir-sr.safetensors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from app.core import image_io  # noqa: E402
from app.ml.services.upscale_blind import load_model, steered_code  # noqa: E402
from app.training import sr_task  # noqa: E402

SET5 = ROOT.parent / "shared" / "data" / "test" / "Set5"
SETTINGS = ((2, 0.0), (2, 1.3), (2, 2.6), (4, 1.3))
SHARPEN = (0.5, 1.0, 1.5)


def main() -> int:
    torch.set_num_threads(1)
    weights = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "vdir-sr.safetensors"
    model = load_model(weights)
    out = {}
    for s, u in SETTINGS:
        scores: dict[float, list[float]] = {t: [] for t in SHARPEN}
        est = []
        for path in sorted(SET5.glob("*.png")):
            img = image_io.load(path).pixels
            h, w = img.shape[0] // s * s, img.shape[1] // s * s
            x = torch.from_numpy(np.ascontiguousarray(img[:h, :w].transpose(2, 0, 1)))[None]
            y, xl = sr_task.degraded_luma(x, u, s), sr_task.to_luma(x)
            with torch.inference_mode():
                est.append(float(model.estimate(model.encode(y)[0])[0]))
                for t in SHARPEN:
                    pred = model.restore(y, steered_code(model, y, t), s)
                    scores[t].append(sr_task.y_psnr(pred, xl, s))
        row = {f"sharpen{t:g}": round(float(np.mean(v)), 2) for t, v in scores.items()}
        out[f"x{s}_u{u:g}"] = {**row, "est": round(float(np.mean(est)), 2)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
